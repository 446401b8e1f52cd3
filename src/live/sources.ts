/**
 * Where the hub gets what it pushes: a feed ranked with a fresh loader set per re-rank (never one
 * shared between users or re-ranks) and a trending list with its items' features.
 */
import { createLoaders } from '../loaders/index.js';
import type { Services } from '../services.js';
import type { Feed } from '../ranking/ranker.js';
import type { TrendingEntry } from './hub.js';

export function createLiveSources(services: Pick<Services, 'redis' | 'keys' | 'ranking' | 'metrics'>) {
  return {
    async rankFeed(userId: string, first: number): Promise<Feed> {
      const feed = await services.ranking.ranker.rank(createLoaders(services), { userId, first });
      services.metrics.recommendationDuration.observe({ source: 'live' }, feed.computeMs);
      return feed;
    },
    async readTrending(category: string | null, first: number): Promise<TrendingEntry[]> {
      const list = (await services.ranking.trending.get(category, Math.max(first, 20))).slice(0, first);
      const loaders = createLoaders(services);
      const items = await Promise.all(list.map((t) => loaders.item.load(t.itemId)));
      return list.map((t, i) => ({ item: items[i]!, score: t.score }));
    },
  };
}
