import type { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { redisKeys } from '../../src/core/keys.js';
import { createFeatureCache, type FeatureCacheSettings } from '../../src/features/feature-cache.js';
import { createCovisitCache } from '../../src/features/item-features.js';
import type { Logger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';

/**
 * A cache over a fake store: each read records its ids and answers `<id>@<version>`, where the
 * version is bumped by the test; `down` makes reads fail, `hold` keeps them pending until released.
 */
function harness(settings: Partial<FeatureCacheSettings<string>> = {}, random?: () => number) {
  const clock = { t: 0 };
  const state = { version: 1, down: false, hold: null as Promise<void> | null };
  const reads: string[][] = [];
  const warnings: unknown[] = [];
  const log = { warn: (...args: unknown[]) => warnings.push(args), info: () => {} } as unknown as Logger;
  const metrics = createMetrics();
  const cache = createFeatureCache<string>(
    'item',
    async (ids) => {
      reads.push(ids);
      const version = state.version;
      if (state.hold) await state.hold;
      if (state.down) throw new Error('connection is closed');
      return ids.map((id) => `${id}@${version}`);
    },
    { ttlMs: 1000, maxEntries: 10_000, retryMs: 20, ...settings },
    { metrics, log, now: () => clock.t, random },
  );
  const count = async (metric: 'featureCacheLookups' | 'featureCacheRefreshes', outcome: string) =>
    (await metrics[metric].get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  return { clock, state, reads, warnings, cache, count };
}

const ids = (n: number, prefix = 'i') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('the feature cache', () => {
  it('serves a stale entry as it is and refreshes it in the background, in one batch', async () => {
    const h = harness({ jitter: 0 });
    expect(await h.cache.get(['a', 'b', 'c'])).toEqual(['a@1', 'b@1', 'c@1']);
    expect(h.reads).toEqual([['a', 'b', 'c']]);

    h.state.version = 2;
    h.clock.t = 500;
    expect(await h.cache.get(['a', 'b'])).toEqual(['a@1', 'b@1']);
    expect(h.reads).toHaveLength(1);

    // Past the TTL, within the hard bound (2 × TTL): answered at once from the cache, nothing read
    // on the request path.
    h.clock.t = 1500;
    expect(await h.cache.get(['a', 'b'])).toEqual(['a@1', 'b@1']);
    expect(h.reads).toHaveLength(1);
    expect(h.cache.size().queued).toBe(2);
    await vi.waitFor(() => expect(h.reads).toHaveLength(2));
    expect(h.reads[1]).toEqual(['a', 'b']);
    await vi.waitFor(() => expect(h.cache.size().queued).toBe(0));
    await vi.waitFor(async () => expect(await h.count('featureCacheRefreshes', 'ok')).toBe(2));

    // Refreshed entries are fresh again; the one nobody asked for was left alone.
    h.clock.t = 1600;
    expect(await h.cache.get(['a', 'b', 'c'])).toEqual(['a@2', 'b@2', 'c@1']);
    expect(await h.count('featureCacheLookups', 'fresh')).toBe(2 + 2);
    expect(await h.count('featureCacheLookups', 'stale')).toBe(2 + 1);
    expect(await h.count('featureCacheLookups', 'read')).toBe(3);
  });

  it('keeps a value with a short life only that long, and never serves it stale', async () => {
    // `gone…` stands for an item not in the catalogue yet: believed for 100 ms, not 1 s.
    const h = harness({ jitter: 0, shortTtlMs: (v) => (v.startsWith('gone') ? 100 : undefined) });
    expect(await h.cache.get(['gone', 'here'])).toEqual(['gone@1', 'here@1']);
    h.state.version = 2;
    h.clock.t = 99;
    expect(await h.cache.get(['gone', 'here'])).toEqual(['gone@1', 'here@1']);
    expect(h.reads).toEqual([['gone', 'here']]);
    // Past its 100 ms the short-lived value is read again before the answer; the other is fresh.
    h.clock.t = 100;
    expect(await h.cache.get(['gone', 'here'])).toEqual(['gone@2', 'here@1']);
    expect(h.reads).toEqual([['gone', 'here'], ['gone']]);
    expect(h.cache.size().queued).toBe(0);
  });

  it('reads an entry past the hard bound on the request path', async () => {
    const h = harness({ jitter: 0, staleMs: 3000 });
    await h.cache.get(['a', 'b']);
    h.state.version = 2;
    h.clock.t = 2999;
    expect(await h.cache.get(['a'])).toEqual(['a@1']);
    await vi.waitFor(() => expect(h.reads).toEqual([['a', 'b'], ['a']]));

    // b was never refreshed: past 3 s it is not served stale but read before the answer.
    h.clock.t = 3000;
    expect(await h.cache.get(['a', 'b'])).toEqual(['a@2', 'b@2']);
    expect(h.reads).toEqual([['a', 'b'], ['a'], ['b']]);
    expect(await h.count('featureCacheLookups', 'read')).toBe(2 + 1);
  });

  it('keeps serving while refreshes fail, counts and logs the failure, then reads on the request path past the bound', async () => {
    const h = harness({ jitter: 0 });
    await h.cache.get(['a', 'b']);
    h.state.down = true;
    h.clock.t = 1200;
    expect(await h.cache.get(['a', 'b'])).toEqual(['a@1', 'b@1']);
    await vi.waitFor(async () => expect(await h.count('featureCacheRefreshes', 'failed')).toBe(2));

    // Still served; the failed entries are queued again and retried after retryMs, failing again.
    h.clock.t = 1900;
    expect(await h.cache.get(['a', 'b'])).toEqual(['a@1', 'b@1']);
    await vi.waitFor(async () => expect(await h.count('featureCacheRefreshes', 'failed')).toBe(4));
    expect(h.warnings).toHaveLength(1);
    expect(await h.count('featureCacheRefreshes', 'ok')).toBe(0);

    // At the hard bound the request reads, and fails as any read does while Redis is down.
    h.clock.t = 2000;
    await expect(h.cache.get(['a'])).rejects.toThrow('connection is closed');

    // Back up: read on the request path, fresh again.
    h.state.down = false;
    h.state.version = 2;
    expect(await h.cache.get(['a', 'b'])).toEqual(['a@2', 'b@2']);
  });

  it('bounds the refresh queue and the refresh batches, with one batch in flight at a time', async () => {
    const h = harness({ jitter: 0, maxQueued: 10, refreshBatch: 4 });
    const all = ids(50);
    await h.cache.get(all);
    let release!: () => void;
    h.state.hold = new Promise<void>((r) => (release = r));
    h.clock.t = 1500;
    expect(await h.cache.get(all)).toEqual(all.map((id) => `${id}@1`));
    expect(h.cache.size().queued).toBe(10);
    expect(await h.count('featureCacheRefreshes', 'not_queued')).toBe(40);

    await vi.waitFor(() => expect(h.reads).toHaveLength(2));
    expect(h.reads[1]).toEqual(all.slice(0, 4));
    // While that batch is held, no other is sent.
    await new Promise((r) => setTimeout(r, 50));
    expect(h.reads).toHaveLength(2);
    h.state.hold = null;
    release();
    await vi.waitFor(() => expect(h.reads).toHaveLength(4));
    expect(h.reads.slice(2)).toEqual([all.slice(4, 8), all.slice(8, 10)]);
    expect(h.cache.size().queued).toBe(0);
    // Entries that found the queue full are queued by a later lookup.
    await h.cache.get(all);
    expect(h.cache.size().queued).toBe(10);
  });

  it('spreads expiry: entries read together turn stale over the last `jitter` of the TTL, never after it', async () => {
    let k = 0;
    // Evenly spread "random" shares: entry i gets i / 1000.
    const h = harness({ jitter: 0.2, maxQueued: 10_000 }, () => k++ / 1000);
    const all = ids(1000);
    await h.cache.get(all);

    h.clock.t = 799;
    await h.cache.get(all);
    expect(h.cache.size().queued).toBe(0);
    // Fresh until 1000 × (1 − 0.2 × i / 1000): at 900, those with i ≥ 500 are stale.
    h.clock.t = 900;
    await h.cache.get(all);
    expect(h.cache.size().queued).toBe(500);
    expect(await h.count('featureCacheLookups', 'stale')).toBe(500);
  });

  it('does not keep entries beyond maxEntries', async () => {
    const h = harness({ maxEntries: 100 });
    for (let i = 0; i < 10; i++) await h.cache.get(ids(50, `b${i}-`));
    expect(h.cache.size().entries).toBe(100);
  });
});

describe("the feature cache's columns", () => {
  /** Columns of `<id>@<version>`: the id's number and the version. */
  const columns = {
    width: 2,
    write: (value: string, out: Float64Array, offset: number) => {
      const [id, version] = value.split('@') as [string, string];
      out[offset] = Number(id.replace(/\D/g, ''));
      out[offset + 1] = Number(version);
    },
  };
  const rowsOf = async (h: ReturnType<typeof harness>, wanted: string[]) => {
    const rows = new Float64Array(wanted.length * 2).fill(-1);
    const values = await h.cache.get(wanted, undefined, rows);
    return { values, rows: [...rows] };
  };

  it("copies each value's numbers into the caller's rows: read, fresh, stale and refreshed", async () => {
    const h = harness({ jitter: 0, columns });
    // Read on the request path, and a duplicate id in one lookup.
    expect(await rowsOf(h, ['i7', 'i3', 'i7'])).toEqual({ values: ['i7@1', 'i3@1', 'i7@1'], rows: [7, 1, 3, 1, 7, 1] });
    h.state.version = 2;
    // Fresh, from the table.
    expect((await rowsOf(h, ['i3', 'i7'])).rows).toEqual([3, 1, 7, 1]);
    // Stale: served as it is, then refreshed in the background; the table follows the value.
    h.clock.t = 1500;
    expect((await rowsOf(h, ['i3', 'i9'])).rows).toEqual([3, 1, 9, 2]);
    await vi.waitFor(async () => expect((await rowsOf(h, ['i3'])).values).toEqual(['i3@2']));
    expect((await rowsOf(h, ['i9', 'i3', 'i7'])).rows).toEqual([9, 2, 3, 2, 7, 1]);
  });

  it('reuses the slots of entries it drops, so the table stays as large as the cache', async () => {
    const h = harness({ maxEntries: 100, columns });
    for (let i = 0; i < 20; i++) {
      const wanted = ids(50, `b${i}-`);
      const { rows } = await rowsOf(h, wanted);
      // Every row is its own value's, whichever slot it was given.
      expect(rows.filter((_, k) => k % 2 === 0)).toEqual(wanted.map((id) => Number(id.replace(/\D/g, ''))));
    }
    expect(h.cache.size()).toMatchObject({ entries: 100, slots: 100 });
    h.cache.forget(ids(50, 'b19-'));
    expect(h.cache.size()).toMatchObject({ entries: 50, slots: 50 });
    // An id read again after it was forgotten gets a slot and its own numbers.
    expect((await rowsOf(h, ['b19-3', 'b18-4'])).rows).toEqual([193, 1, 184, 1]);
    h.cache.forget();
    expect(h.cache.size()).toMatchObject({ entries: 0, slots: 0 });
  });
});

describe('the co-visitation cache', () => {
  /** A Redis whose pipelines answer ZRANGE with `limit` neighbours per item and record each batch. */
  function fakeRedis() {
    const batches: { key: string; limit: number }[][] = [];
    const redis = {
      pipeline() {
        const asked: { key: string; limit: number }[] = [];
        const p = {
          get length() {
            return asked.length;
          },
          zrange(key: string, _start: number, stop: number) {
            asked.push({ key, limit: stop + 1 });
            return p;
          },
          exec: async () => {
            batches.push(asked);
            return asked.map(({ limit }) => [
              null,
              Array.from({ length: limit }, (_, i) => [`n${i}`, String(limit - i)]).flat(),
            ]);
          },
        };
        return p;
      },
    };
    return { redis: redis as unknown as Redis, batches };
  }

  it('answers a smaller limit from a longer list and refreshes a stale list with its own limit', async () => {
    const { redis, batches } = fakeRedis();
    let t = 0;
    const cache = createCovisitCache(redis, redisKeys('t'), { ttlMs: 1000, jitter: 0 }, { now: () => t });
    const [a, b] = await cache.read(['a', 'b'], [100, 20]);
    expect([a?.length, b?.length]).toEqual([100, 20]);
    expect((await cache.read(['a'], 20))[0]).toHaveLength(20);
    expect(batches).toHaveLength(1);
    // b's list was read with 20: asking 100 of it reads again.
    expect((await cache.read(['b'], 100))[0]).toHaveLength(100);
    expect(batches).toHaveLength(2);

    t = 1500;
    expect((await cache.read(['a', 'b'], 30)).map((l) => l.length)).toEqual([30, 30]);
    await vi.waitFor(() => expect(batches).toHaveLength(3));
    expect(batches[2]?.map((q) => q.limit)).toEqual([100, 100]);
  });
});
