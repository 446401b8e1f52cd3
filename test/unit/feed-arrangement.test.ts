import { describe, expect, it } from 'vitest';
import {
  arrangeFeed,
  arrangeRanked,
  blendOf,
  blendScore,
  categoryCaps,
  compareScored,
  rankedSource,
  type BlendSettings,
  type Scored,
} from '../../src/ranking/blend.js';
import { createRng } from '../../src/core/random.js';

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

  it('blends the same with flags as with nullable parts', () => {
    for (const longHorizon of [null, 0, 0.3])
      for (const neighbour of [null, 0, 0.7])
        for (const s of [settings, { ...settings, longHorizon: 0, neighbour: 0 }, { ...settings, realtime: 0 }])
          expect(blendOf(0.4, longHorizon !== null, longHorizon ?? 0, neighbour !== null, neighbour ?? 0, s)).toBe(
            blendScore({ model: 0.4, longHorizon, neighbour }, s),
          );
  });

  it('picks from a lazy ranking exactly what sorting every candidate and arranging the list picks', () => {
    // The arrangement as it was before it read candidates lazily: everything sorted, then arranged.
    const arrangeSorted = (scored: Scored[], first: number, s: BlendSettings, caps: Map<string, number>) => {
      const perCategory = new Map<string, number>();
      const picks: Scored[] = [];
      const deferred: Scored[] = [];
      for (const c of scored) {
        if (picks.length >= first) break;
        const key = c.category ?? `#${c.index}`;
        const n = perCategory.get(key) ?? 0;
        if (n >= (caps.get(key) ?? s.maxPerCategory)) {
          deferred.push(c);
          continue;
        }
        perCategory.set(key, n + 1);
        picks.push(c);
      }
      for (const c of deferred) if (picks.length < first) picks.push(c);
      const exploration = new Set<number>();
      const slots = s.explorationShare > 0 ? Math.max(1, Math.floor(first * s.explorationShare)) : 0;
      const chosen = new Set(picks.map((p) => p.index));
      const freshIn = picks.filter((p) => p.fresh).length;
      const freshOut = scored.filter((c) => c.fresh && !chosen.has(c.index));
      const add = Math.min(slots - freshIn, freshOut.length, picks.length);
      if (add > 0 && picks.length > 0) {
        const newcomers = freshOut.slice(0, add);
        let removed = 0;
        for (let i = picks.length - 1; i >= 0 && removed < add; i--)
          if (!picks[i]!.fresh) {
            picks.splice(i, 1);
            removed++;
          }
        const step = Math.max(1, Math.floor((picks.length + newcomers.length) / (newcomers.length + 1)));
        newcomers.slice(0, removed).forEach((n, k) => {
          picks.splice(Math.min(picks.length, step * (k + 1) - 1), 0, n);
          exploration.add(n.index);
        });
      }
      return { picks: picks.map((p) => p.index), exploration: [...exploration] };
    };
    const rng = createRng('arrangement');
    for (let round = 0; round < 300; round++) {
      const count = rng.pick([0, 1, 3, 20, 60, 500]);
      const categories = ['a', 'b', 'c', 'd', 'e', 'f'].slice(0, 1 + Math.floor(rng.uniform(0, 6)));
      const candidates: Scored[] = Array.from({ length: count }, (_, index) => ({
        index,
        category: rng.bernoulli(0.1) ? null : rng.pick(categories),
        // Coarse values, so that ties reach every tie-break.
        score: Math.round(rng.uniform(0, 8)) / 8,
        fresh: rng.bernoulli(0.15),
        neighbour: Math.round(rng.uniform(0, 3)),
        engaged: Math.round(rng.uniform(0, 3)),
        itemId: `i${Math.floor(rng.uniform(0, 1e6))}-${index}`,
      }));
      const first = rng.pick([1, 5, 20, 50]);
      const s = { ...settings, maxPerCategory: rng.pick([1, 2, 6]), explorationShare: rng.pick([0, 0.05, 0.3]) };
      const caps = categoryCaps(new Map([[categories[0]!, rng.uniform(0, 1)]]), first, s);
      const expected = arrangeSorted([...candidates].sort(compareScored), first, s, caps);
      const at = (i: number) => candidates[i]!;
      const source = rankedSource(
        count,
        (a, b) => compareScored(at(a), at(b)),
        (i) => at(i).fresh,
      );
      const facts = { category: (i: number) => at(i).category, fresh: (i: number) => at(i).fresh };
      const { picks, exploration } = arrangeRanked(source, facts, first, s, caps);
      expect({ picks, exploration: [...exploration] }).toEqual(expected);
    }
  });
});
