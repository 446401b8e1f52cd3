import { zeroTotals } from '../src/features/item-features.js';
import type { Feed } from '../src/ranking/ranker.js';

/** A feed of these item ids, shaped as the ranker returns it. */
export function feedOf(userId: string, ids: string[]): Feed {
  return {
    userId,
    items: ids.map((itemId, i) => ({
      item: {
        itemId,
        known: true,
        category: itemId.split('-')[0] ?? null,
        tags: [],
        authorId: null,
        createdAt: null,
        popularity: 0,
        totals: zeroTotals(),
        longHorizonScore: 0,
      },
      score: 1 - i / 100,
      rank: i + 1,
      reasons: [],
    })),
    modelVersion: 'test',
    computedAt: Date.now(),
    computeMs: 0,
    degraded: false,
  };
}

/** Collects what a subscriber receives, as a client would, until the stream ends. */
export function drain<T>(updates: AsyncIterableIterator<T>) {
  const received: T[] = [];
  const done = (async () => {
    for await (const u of updates) received.push(u);
  })();
  return { received, done };
}
