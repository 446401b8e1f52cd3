/**
 * Where the hub gets what it pushes: a feed ranked with a fresh loader set per re-rank (never one
 * shared between users or re-ranks), its impression logged only for the slices delivered, and a
 * trending list with its items' features.
 */
import type { Loaders } from '../loaders/index.js';
import type { Metrics } from '../metrics.js';
import type { ImpressionEvent } from '../core/events.js';
import { sliceImpression, type RankedFeed, type Ranker } from '../ranking/ranker.js';
import type { TrendingCache } from '../ranking/recall.js';
import type { TrendingEntry } from './hub.js';

export function createLiveSources(deps: {
  ranker: Ranker;
  trending: TrendingCache;
  metrics: Metrics;
  loaders: () => Loaders;
}) {
  return {
    async rankFeed(userId: string, first: number): Promise<RankedFeed> {
      const ranked = await deps.ranker.ranked(deps.loaders(), { userId, first }, { logImpression: false });
      deps.metrics.recommendationDuration.observe({ source: 'live' }, ranked.feed.computeMs);
      return ranked;
    },
    logImpression(impression: ImpressionEvent, count: number): void {
      deps.ranker.logImpression(sliceImpression(impression, count));
    },
    async readTrending(category: string | null, first: number): Promise<TrendingEntry[]> {
      const list = (await deps.trending.get(category, Math.max(first, 20))).slice(0, first);
      const loaders = deps.loaders();
      const items = await Promise.all(list.map((t) => loaders.item.load(t.itemId)));
      return list.map((t, i) => ({ item: items[i]!, score: t.score }));
    },
  };
}
