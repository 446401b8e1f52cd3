import type { Redis } from 'ioredis';
import { ACTIONS } from '../../src/core/events.js';
import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/core/keys.js';
import { createItemCache, MAX_CATEGORY_CODES } from '../../src/features/item-features.js';
import { ITEM_ROW, ITEM_ROW_WIDTH, UNCODED_CATEGORY } from '../../src/features/ranking-features.js';
import { createFeedCache, FEED_CACHE_LIMITS } from '../../src/ranking/cache.js';
import type { Feed } from '../../src/ranking/ranker.js';
import { createTrendingCache, TRENDING_CACHE_SCOPES } from '../../src/ranking/recall.js';

const feed = (userId: string): Feed => ({
  userId,
  items: [],
  modelVersion: 'm',
  computedAt: Date.now(),
  computeMs: 1,
  degraded: false,
});

describe('the feed cache', () => {
  it('keeps a few keys per user however many distinct requests one user sends', () => {
    const cache = createFeedCache(60_000);
    for (let i = 0; i < 100_000; i++) cache.set('u1', `key-${i}`, feed('u1'));
    expect(cache.size()).toEqual({ users: 1, entries: FEED_CACHE_LIMITS.keysPerUser });
    expect(cache.get('u1', 'key-99999')).toBeDefined();
    expect(cache.get('u1', 'key-0')).toBeUndefined();
  });

  it('holds a bounded number of entries across users, dropping the least recently used', () => {
    const cache = createFeedCache(60_000);
    cache.set('kept', 'k', feed('kept'));
    for (let i = 0; i < 100_000; i++) {
      cache.set(`u${i}`, 'k', feed(`u${i}`));
      if (i % 1000 === 0) cache.get('kept', 'k');
    }
    expect(cache.size().entries).toBeLessThanOrEqual(FEED_CACHE_LIMITS.entries);
    expect(cache.get('kept', 'k')).toBeDefined();
    expect(cache.get('u0', 'k')).toBeUndefined();
    cache.invalidate(['kept']);
    expect(cache.get('kept', 'k')).toBeUndefined();
  });
});

describe('the trending cache', () => {
  it('holds a bounded number of scopes and shares one read between nearby limits', async () => {
    const reads: string[] = [];
    const cache = createTrendingCache(async (scope, limit) => {
      reads.push(`${scope}:${limit}`);
      return Array.from({ length: limit }, (_, i) => ({ itemId: `${scope}-${i}`, score: limit - i }));
    });
    expect(await cache.get('pets', 21)).toHaveLength(21);
    expect(await cache.get('pets', 30)).toHaveLength(30);
    expect(reads).toHaveLength(1);
    for (let i = 0; i < 100_000; i++) await cache.get(`c${i}`, 20);
    expect(cache.size().scopes).toBeLessThanOrEqual(TRENDING_CACHE_SCOPES);
    expect(cache.size().lastKnown).toBeLessThanOrEqual(TRENDING_CACHE_SCOPES);
    expect(cache.lastKnown('c99999', 20)).toHaveLength(20);
  });
});

describe('the item cache', () => {
  /**
   * A Redis whose pipelines record which items they read (one read-item.lua call per item) and
   * answer after `delayMs`.
   */
  function fakeRedis(delayMs: number, categoryOf: (metaKey: string) => string = () => 'news') {
    const reads: string[][] = [];
    const redis = {
      defineCommand() {},
      pipeline() {
        const replies: unknown[] = [];
        const ids: string[] = [];
        const p = {
          get length() {
            return replies.length;
          },
          readItem(_keyCount: number, meta: string) {
            ids.push(meta);
            // category, tags, authorId, createdAt; pop, _b, one total per action; score
            replies.push([categoryOf(meta), '', '', '', null, null, ...ACTIONS.map(() => null), null]);
            return p;
          },
          exec: async () => {
            reads.push(ids);
            await new Promise((r) => setTimeout(r, delayMs));
            return replies.map((v) => [null, v]);
          },
        };
        return p;
      },
    };
    return { redis: redis as unknown as Redis, reads };
  }

  it('shares a read in flight between concurrent requests instead of reading the same items again', async () => {
    const { redis, reads } = fakeRedis(20);
    const cache = createItemCache(redis, redisKeys('t'), { ttlMs: 1000 });
    const ids = Array.from({ length: 500 }, (_, i) => `i${i}`);
    const answers = await Promise.all([
      cache.read(ids),
      cache.read(ids.slice(100)),
      cache.read([...ids.slice(0, 50), 'other']),
    ]);
    expect(reads.map((r) => r.length)).toEqual([500, 1]);
    expect(answers[0]?.map((f) => f.itemId)).toEqual(ids);
    expect(answers[1]?.map((f) => f.itemId)).toEqual(ids.slice(100));
    expect(answers[2]?.map((f) => f.itemId)).toEqual([...ids.slice(0, 50), 'other']);
    expect(answers[1]?.[0]).toBe(answers[0]?.[100]);
    // Cached now: no further read within the TTL.
    await cache.read(ids);
    expect(reads).toHaveLength(2);
  });

  it("gives each item's row a code for its category, up to a bound, past which ranking reads the item's", async () => {
    // One category per item: more categories than get a code.
    const { redis } = fakeRedis(0, (meta) => `c-${/i(\d+)/.exec(meta)![1]}`);
    const cache = createItemCache(redis, redisKeys('t'), { ttlMs: 60_000 });
    const ids = Array.from({ length: MAX_CATEGORY_CODES + 20 }, (_, i) => `i${i}`);
    await cache.read(ids);
    const wanted = ['i3', `i${MAX_CATEGORY_CODES + 5}`, 'i3', 'i0'];
    const { items, rows, categories } = await cache.readRows(wanted);
    const codes = wanted.map((_, k) => rows[k * ITEM_ROW_WIDTH + ITEM_ROW.category]);
    expect(codes).toEqual([3, UNCODED_CATEGORY, 3, 0]);
    expect(categories).toHaveLength(MAX_CATEGORY_CODES);
    expect(codes.map((c, k) => (c! >= 0 ? categories[c!] : items[k]!.category))).toEqual([
      'c-3',
      `c-${MAX_CATEGORY_CODES + 5}`,
      'c-3',
      'c-0',
    ]);
    expect(rows.filter((_, k) => k % ITEM_ROW_WIDTH === ITEM_ROW.known)).toEqual(new Float64Array([1, 1, 1, 1]));
  });
});
