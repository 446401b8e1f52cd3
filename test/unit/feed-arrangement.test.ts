import { describe, expect, it } from 'vitest';
import {
  arrangeFeed,
  blendScore,
  categoryCaps,
  compareScored,
  type BlendSettings,
  type Scored,
} from '../../src/ranking/blend.js';

const settings: BlendSettings = {
  realtime: 0.6,
  longHorizon: 0.4,
  neighbour: 3,
  maxPerCategory: 3,
  explorationShare: 0.1,
};
const entry = (index: number, category: string | null, fresh = false): Scored => ({
  index,
  category,
  score: 100 - index,
  fresh,
  neighbour: 0,
  engaged: 0,
  itemId: `i${index}`,
});

describe('feed arrangement', () => {
  it('blends the real-time score with the long-horizon preference as configured (0.6 / 0.4)', () => {
    expect(blendScore({ model: 0.5, longHorizon: 1, neighbour: null }, settings)).toBeCloseTo(0.7, 12);
    expect(blendScore({ model: 0.5, longHorizon: 0, neighbour: null }, settings)).toBeCloseTo(0.3, 12);
  });

  it('adds the neighbour evidence with its weight when the user has engaged with something', () => {
    // (0.6 × 0.5 + 0.4 × 1 + 3 × 0.2) / 4
    expect(blendScore({ model: 0.5, longHorizon: 1, neighbour: 0.2 }, settings)).toBeCloseTo(1.3 / 4, 12);
  });

  it('does not scale the other parts down when a part is missing (no long-horizon data, nothing engaged yet)', () => {
    expect(blendScore({ model: 0.5, longHorizon: null, neighbour: null }, settings)).toBe(0.5);
    expect(blendScore({ model: 0.5, longHorizon: null, neighbour: 1 }, settings)).toBeCloseTo((0.3 + 3) / 3.6, 12);
    expect(
      blendScore({ model: 0.5, longHorizon: 1, neighbour: null }, { ...settings, realtime: 1, longHorizon: 0 }),
    ).toBe(0.5);
  });

  it('lets neighbour evidence, then engagement, decide between candidates the model scores equally', () => {
    const tied = [
      { ...entry(0, null), score: 1, neighbour: 0, engaged: 50 },
      { ...entry(1, null), score: 1, neighbour: 0.2, engaged: 1 },
      { ...entry(2, null), score: 1, neighbour: 0, engaged: 80 },
      { ...entry(3, null), score: 0.9, neighbour: 5, engaged: 900 },
    ];
    expect(tied.sort(compareScored).map((e) => e.index)).toEqual([1, 2, 0, 3]);
  });

  it("raises a category's cap to its share of the user's interest, so a drama lover still gets dramas", () => {
    const caps = categoryCaps(
      new Map([
        ['drama', 0.45],
        ['comedy', 0.1],
      ]),
      10,
      settings,
    );
    expect([...caps]).toEqual([['drama', 5]]);
    const scored = [...Array.from({ length: 8 }, (_, i) => entry(i, 'drama')), entry(8, 'cars'), entry(9, 'food')];
    const { picks } = arrangeFeed(scored, 7, { ...settings, explorationShare: 0 }, caps);
    expect(picks.map((p) => p.category)).toEqual([...Array<string>(5).fill('drama'), 'cars', 'food']);
    // Even a user who likes nothing else gets at most half the feed of one category while others remain.
    expect(categoryCaps(new Map([['drama', 1]]), 10, settings).get('drama')).toBe(5);
  });

  it('keeps at most K items of one category while other categories remain', () => {
    const scored = [...Array.from({ length: 8 }, (_, i) => entry(i, 'pets')), entry(8, 'cars'), entry(9, 'food')];
    const { picks } = arrangeFeed(scored, 5, { ...settings, explorationShare: 0 });
    expect(picks.map((p) => p.category)).toEqual(['pets', 'pets', 'pets', 'cars', 'food']);
  });

  it('fills the feed from the capped category when nothing else is left', () => {
    const scored = Array.from({ length: 6 }, (_, i) => entry(i, 'pets'));
    const { picks } = arrangeFeed(scored, 5, { ...settings, explorationShare: 0 });
    expect(picks.map((p) => p.index)).toEqual([0, 1, 2, 3, 4]);
  });

  it('gives fresh items an exploration slot when the ranking left them out', () => {
    const scored = [...Array.from({ length: 30 }, (_, i) => entry(i, `c${i}`)), entry(30, 'new', true)];
    const { picks, exploration } = arrangeFeed(scored, 10, settings);
    expect(picks).toHaveLength(10);
    expect(picks.map((p) => p.index)).toContain(30);
    expect([...exploration]).toEqual([30]);
    // It replaced the lowest-ranked entry, and sits inside the feed, not at its end.
    expect(picks.map((p) => p.index)).not.toContain(9);
    expect(picks.findIndex((p) => p.index === 30)).toBeLessThan(9);
  });

  it('needs no exploration slot when a fresh item ranked in on its own, and none when the share is 0', () => {
    const scored = [
      entry(0, 'a', true),
      ...Array.from({ length: 20 }, (_, i) => entry(i + 1, `c${i}`)),
      entry(21, 'b', true),
    ];
    expect([...arrangeFeed(scored, 10, settings).exploration]).toEqual([]);
    const none = arrangeFeed([...scored.slice(1)], 10, { ...settings, explorationShare: 0 });
    expect(none.picks.map((p) => p.index)).not.toContain(21);
  });
});
