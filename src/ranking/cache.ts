/**
 * A short per-user cache of computed feeds, dropped as soon as the stream reports a change for
 * that user (on any instance, through Redis pub/sub), so a user's next request always sees
 * their last action while repeated reads in between cost nothing.
 *
 * Its keys come from requests, so it is bounded twice: a user keeps only their most recently used
 * keys (a client varying `exclude` on every call evicts its own entries, nobody else's), and the
 * whole cache keeps at most `entries` feeds, dropping the least recently used user first.
 */
import type { Feed } from './ranker.js';

/** Bounds of one instance's feed cache (a feed holds at most MAX_FIRST items). */
export const FEED_CACHE_LIMITS = { keysPerUser: 4, entries: 20_000 } as const;

interface Entry {
  key: string;
  at: number;
  feed: Feed;
}

export function createFeedCache(ttlMs: number, limits: { keysPerUser: number; entries: number } = FEED_CACHE_LIMITS) {
  /** Least recently used user first (Map order); each user's entries most recently used first. */
  const byUser = new Map<string, Entry[]>();
  let entries = 0;
  /** Feeds whose computation started before the last clear() (e.g. with a replaced model) are not kept. */
  let clearedAt = -Infinity;

  const drop = (userId: string) => {
    const list = byUser.get(userId);
    if (!list) return;
    entries -= list.length;
    byUser.delete(userId);
  };

  return {
    /** False when the TTL is 0: nothing is ever kept, so callers need not build keys. */
    enabled: ttlMs > 0,
    get(userId: string, key: string): Feed | undefined {
      const list = byUser.get(userId);
      const index = list?.findIndex((e) => e.key === key) ?? -1;
      if (!list || index < 0) return undefined;
      const hit = list[index]!;
      if (Date.now() - hit.at > ttlMs) {
        list.splice(index, 1);
        entries--;
        if (list.length === 0) byUser.delete(userId);
        return undefined;
      }
      list.splice(index, 1);
      list.unshift(hit);
      byUser.delete(userId);
      byUser.set(userId, list);
      return hit.feed;
    },
    set(userId: string, key: string, feed: Feed) {
      if (ttlMs <= 0 || feed.computedAt <= clearedAt) return;
      const list = byUser.get(userId) ?? [];
      byUser.delete(userId);
      const index = list.findIndex((e) => e.key === key);
      if (index >= 0) {
        list.splice(index, 1);
        entries--;
      }
      list.unshift({ key, at: Date.now(), feed });
      entries++;
      if (list.length > limits.keysPerUser) entries -= list.splice(limits.keysPerUser).length;
      byUser.set(userId, list);
      for (const oldest of byUser.keys()) {
        if (entries <= limits.entries || oldest === userId) break;
        drop(oldest);
      }
    },
    invalidate(userIds: Iterable<string>) {
      for (const u of userIds) drop(u);
    },
    clear() {
      byUser.clear();
      entries = 0;
      clearedAt = Date.now();
    },
    /** What the cache holds now (for tests and diagnostics). */
    size: () => ({ users: byUser.size, entries }),
  };
}
export type FeedCache = ReturnType<typeof createFeedCache>;
