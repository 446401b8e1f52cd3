/**
 * Serving a feed: the instance's short per-user cache first, then a fresh ranking; when features
 * cannot be read, the user's last feed (marked degraded) rather than an error where one exists.
 */
import { createHash } from 'node:crypto';
import { AppError, unavailable } from '../core/errors.js';
import type { Loaders } from '../loaders/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { FeedCache } from './cache.js';
import type { Feed, Ranker } from './ranker.js';

export interface FeedRequest {
  userId: string;
  first: number;
  candidates?: readonly string[] | null;
  exclude?: readonly string[] | null;
}

export interface Feeds {
  serve(loaders: Loaders, request: FeedRequest, log: Logger): Promise<Feed>;
}

export function createFeeds({ ranker, cache, metrics }: { ranker: Ranker; cache: FeedCache; metrics: Metrics }): Feeds {
  return {
    async serve(loaders, request, log) {
      const { userId, first, candidates, exclude } = request;
      // Hashing a 500-id list costs more than nothing when the cache keeps nothing.
      const key = cache.enabled ? cacheKey(first, candidates, exclude) : '';
      const cached = cache.enabled ? cache.get(userId, key) : undefined;
      if (cached) {
        metrics.feedsServed.inc({ outcome: 'cached' });
        return cached;
      }
      try {
        const feed = await ranker.rank(loaders, { userId, first, candidates, exclude });
        if (cache.enabled) cache.set(userId, key, feed);
        metrics.feedsServed.inc({ outcome: 'computed' });
        metrics.recommendationDuration.observe({ source: candidates ? 'supplied' : 'recall' }, feed.computeMs);
        return feed;
      } catch (error) {
        if (error instanceof AppError) throw error;
        log.warn({ err: error, userId }, 'computing a feed failed; answering degraded if possible');
        const fallback = ranker.degradedFeed(userId, first);
        if (fallback) {
          metrics.feedsServed.inc({ outcome: 'degraded' });
          return fallback;
        }
        throw unavailable('recommendations are unavailable right now (features cannot be read); retry');
      }
    },
  };
}

/**
 * The cache key of a request: `first` alone, or with a digest of the supplied lists, so a key is a
 * few dozen bytes however long the lists a client sends.
 */
function cacheKey(first: number, candidates?: readonly string[] | null, exclude?: readonly string[] | null): string {
  if (!candidates && !exclude) return String(first);
  const digest = createHash('sha1')
    .update(JSON.stringify([candidates ?? null, exclude ?? null]))
    .digest('base64url');
  return `${first}:${digest}`;
}
