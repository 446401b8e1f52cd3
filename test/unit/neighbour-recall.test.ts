import { describe, expect, it } from 'vitest';
import { NEIGHBOUR_ITEM_EXPONENT } from '../../src/features/definitions.js';
import { zeroTotals, type ItemFeatures } from '../../src/features/item-features.js';
import { interestShares, neighbourScore, userContext } from '../../src/features/ranking-features.js';
import { DEFAULT_ACTION_WEIGHTS } from '../../src/features/definitions.js';
import type { UserRealtime } from '../../src/features/user-features.js';
import { foldNeighbours, RECALL, recallSeeds } from '../../src/ranking/recall.js';

const user = (over: Partial<UserRealtime>): UserRealtime => ({
  userId: 'u1',
  latestEventAt: 1,
  windows: [],
  affinity: [],
  recentItems: [],
  positiveItems: [],
  hiddenItems: [],
  interests: [],
  tags: [],
  readAt: 1,
  ...over,
});

const item = (itemId: string, likes: number): ItemFeatures => ({
  itemId,
  known: true,
  category: 'drama',
  tags: [],
  authorId: null,
  createdAt: null,
  popularity: 0,
  totals: { ...zeroTotals(), LIKE: likes, VIEW: 10 * likes },
  longHorizonScore: 0,
});

describe('neighbour recall', () => {
  it("seeds are the user's engaged items, newest first, each step weighing a little less", () => {
    const seeds = recallSeeds(
      user({
        positiveItems: [
          { itemId: 'b', at: 2 },
          { itemId: 'a', at: 1 },
        ],
        recentItems: [{ itemId: 'viewed', at: 3 }],
      }),
    );
    expect(seeds.map((s) => s.itemId)).toEqual(['b', 'a']);
    expect(seeds[0]!.weight).toBe(1);
    expect(seeds[1]!.weight).toBeCloseTo(RECALL.seedDecay, 12);
  });

  it('a user who only viewed things gets neighbours of what they viewed, at a lower weight, never of what they hid', () => {
    const seeds = recallSeeds(
      user({
        recentItems: [
          { itemId: 'hidden', at: 3 },
          { itemId: 'v2', at: 2 },
          { itemId: 'v1', at: 1 },
        ],
        hiddenItems: ['hidden'],
      }),
    );
    expect(seeds.map((s) => s.itemId)).toEqual(['v2', 'v1']);
    expect(seeds[0]!.weight).toBe(RECALL.fallbackSeedWeight);
  });

  it('sums co-engagements over seeds, discounting seeds that everyone engages with, and names the strongest seed', () => {
    const seeds = [
      { itemId: 'niche', weight: 1 },
      { itemId: 'blockbuster', weight: 1 },
    ];
    const lists = [
      [{ itemId: 'x', score: 2 }],
      [
        { itemId: 'x', score: 8 },
        { itemId: 'y', score: 8 },
      ],
    ];
    const folded = foldNeighbours(seeds, lists, [1, 256]);
    const blockbusterWeight = 1 / 256 ** (1 - NEIGHBOUR_ITEM_EXPONENT);
    expect(folded.get('x')!.score).toBeCloseTo(2 + 8 * blockbusterWeight, 12);
    expect(folded.get('x')!.seed).toBe('niche');
    expect(folded.get('y')!.score).toBeCloseTo(8 * blockbusterWeight, 12);
  });

  it("divides a candidate's evidence by its own engagement, so being liked by everyone is not enough", () => {
    const evidence = { neighbour: 10, trending: 0 };
    expect(neighbourScore(evidence, item('rare', 1))).toBe(10);
    expect(neighbourScore(evidence, item('hit', 1000))).toBeCloseTo(10 / 1000 ** NEIGHBOUR_ITEM_EXPONENT, 9);
  });

  it("a category's interest share is the larger of its short-term affinity share and its 30-day share", () => {
    const context = userContext(
      user({
        affinity: [
          { category: 'drama', score: 3 },
          { category: 'comedy', score: 1 },
          { category: 'horror', score: -2 },
        ],
      }),
      DEFAULT_ACTION_WEIGHTS,
    );
    const shares = interestShares(context, new Map([['comedy', 0.5]]));
    expect(shares.get('drama')).toBeCloseTo(0.75, 12);
    expect(shares.get('comedy')).toBe(0.5);
    expect(shares.has('horror')).toBe(false);
  });
});
