/**
 * A short per-user cache of computed feeds, dropped as soon as the stream reports a change for
 * that user (on any instance, through Redis pub/sub), so a user's next request always sees
 * their last action while repeated reads in between cost nothing.
 */
import type { Feed } from './ranker.js';

export function createFeedCache(ttlMs: number, maxUsers = 50_000) {
  const byUser = new Map<string, Map<string, { at: number; feed: Feed }>>();
  /** Feeds whose computation started before the last clear() (e.g. with a replaced model) are not kept. */
  let clearedAt = -Infinity;
  return {
    get(userId: string, key: string): Feed | undefined {
      const hit = byUser.get(userId)?.get(key);
      if (!hit) return undefined;
      if (Date.now() - hit.at > ttlMs) {
        byUser.get(userId)?.delete(key);
        return undefined;
      }
      return hit.feed;
    },
    set(userId: string, key: string, feed: Feed) {
      if (ttlMs <= 0 || feed.computedAt <= clearedAt) return;
      let entries = byUser.get(userId);
      if (!entries) {
        if (byUser.size >= maxUsers) {
          // Oldest user first (Map keeps insertion order): a bound, not an LRU.
          const oldest = byUser.keys().next().value;
          if (oldest !== undefined) byUser.delete(oldest);
        }
        byUser.set(userId, (entries = new Map<string, { at: number; feed: Feed }>()));
      }
      entries.set(key, { at: Date.now(), feed });
    },
    invalidate(userIds: Iterable<string>) {
      for (const u of userIds) byUser.delete(u);
    },
    clear() {
      byUser.clear();
      clearedAt = Date.now();
    },
  };
}
export type FeedCache = ReturnType<typeof createFeedCache>;
