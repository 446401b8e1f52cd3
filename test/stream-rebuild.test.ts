import { isDeepStrictEqual } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { RecordInteractionCountsDocument, type InteractionInput } from '../src/client/index.js';
import { ACTIONS } from '../src/core/events.js';
import { readItemFeaturesBatch } from '../src/features/item-features.js';
import { readUserRealtimeBatch } from '../src/features/user-features.js';
import { startLocalRedis, type LocalRedis } from '../src/stack/redis.js';
import { CATALOGUE, eventually, gql, seedCatalogue, startApp, streamCaughtUp, tempDir, testConfig } from './helpers.js';

describe('Redis losing its data while the stream worker keeps its partitions', () => {
  let server: LocalRedis;
  let app: App;
  let admin: Redis;

  beforeAll(async () => {
    // Its own Redis: FLUSHALL on the shared one would wipe every other test file's keys.
    server = await startLocalRedis({ dir: tempDir('rebuild-redis') });
    admin = new Redis(server.url);
    app = await startApp(
      testConfig('rebuild', {
        REDIS_URL: server.url,
        RATE_LIMIT_MUTATIONS_PER_SEC: '1000000',
        RATE_LIMIT_EVENTS_PER_SEC: '1000000',
      }),
    );
  });
  afterAll(async () => {
    await app?.stop();
    admin?.disconnect();
    await server?.stop();
  });

  /** Everything the stream derived that a rebuild must bring back exactly. */
  async function snapshot(users: string[], at: number) {
    const { redis, keys } = app.services;
    const itemIds = CATALOGUE.map((c) => c.id);
    const items = await readItemFeaturesBatch(redis, keys, itemIds, at);
    const people = await readUserRealtimeBatch(redis, keys, users, at);
    return {
      items: items.map((it) => ({ id: it.itemId, category: it.category, totals: it.totals })),
      popularity: items.map((it) => it.popularity),
      users: people.map((u) => ({
        latest: u.latestEventAt,
        windows: u.windows,
        recent: u.recentItems.map((r) => r.itemId),
        affinity: u.affinity.map((a) => a.category),
      })),
    };
  }

  it('is noticed, and every feature and the catalogue are rebuilt from the log, each event once', async () => {
    await seedCatalogue(app);
    const users = Array.from({ length: 20 }, (_, i) => `rb-u${i}`);
    const inputs: InteractionInput[] = Array.from({ length: 600 }, (_, i) => ({
      userId: users[i % users.length]!,
      itemId: CATALOGUE[(i * 7) % CATALOGUE.length]!.id,
      action: ACTIONS[i % ACTIONS.length]!,
    }));
    for (let i = 0; i < inputs.length; i += 200) {
      const res = await gql(app.url, RecordInteractionCountsDocument, { inputs: inputs.slice(i, i + 200) });
      expect(res.data?.recordInteractions.rejectedCount).toBe(0);
    }
    await streamCaughtUp(app);
    const at = Date.now();
    const before = await snapshot(users, at);
    expect(before.items.every((it) => it.category !== null)).toBe(true);
    expect(before.items.reduce((n, it) => n + Object.values(it.totals).reduce((a, b) => a + b, 0), 0)).toBeGreaterThan(
      600,
    );

    await admin.flushall();
    const lostAt = performance.now();
    const after = await eventually(
      async () => {
        const now = await snapshot(users, at);
        return isDeepStrictEqual(now.items, before.items) && isDeepStrictEqual(now.users, before.users)
          ? now
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const rebuiltMs = Math.round(performance.now() - lostAt);
    process.stderr.write(`[rebuild] FLUSHALL → features and catalogue rebuilt from the log in ${rebuiltMs} ms\n`);
    after.popularity.forEach((p, i) => expect(p).toBeCloseTo(before.popularity[i]!, 9));
    const rebuilds = await app.services.metrics.streamRebuilds.get();
    expect(rebuilds.values[0]?.value).toBeGreaterThanOrEqual(1);
    // Nothing is counted twice once the worker is past the rebuild.
    await streamCaughtUp(app);
    expect(await snapshot(users, at)).toEqual(after);
  }, 120_000);

  /** Each item's action totals, summed over actions, keyed by item id. */
  async function itemTotals(at: number) {
    const { redis, keys } = app.services;
    const items = await readItemFeaturesBatch(
      redis,
      keys,
      CATALOGUE.map((c) => c.id),
      at,
    );
    return new Map(items.map((it) => [it.itemId, { ...it.totals }]));
  }

  it('loses and doubles nothing when the data goes while batches are in flight', async () => {
    await streamCaughtUp(app);
    const base = await itemTotals(Date.now());
    // One event per user, so no per-user cap or dedupe applies: every acknowledged event must count.
    const sent: InteractionInput[] = [];
    let next = 0;
    const started = performance.now();
    const sender = (async () => {
      while (performance.now() - started < 6000) {
        const batch: InteractionInput[] = Array.from({ length: 40 }, () => {
          const i = next++;
          return {
            userId: `fl-u${i}`,
            itemId: CATALOGUE[(i * 5) % CATALOGUE.length]!.id,
            action: ACTIONS[i % ACTIONS.length]!,
          };
        });
        const res = await gql(app.url, RecordInteractionCountsDocument, { inputs: batch });
        expect(res.data?.recordInteractions.rejectedCount).toBe(0);
        sent.push(...batch);
      }
    })();
    for (const at of [1500, 3500]) {
      await new Promise((resolve) => setTimeout(resolve, at - (performance.now() - started)));
      await admin.flushall();
    }
    await sender;

    const expected = new Map([...base].map(([id, totals]) => [id, { ...totals }]));
    for (const e of sent) {
      const totals = expected.get(e.itemId)!;
      totals[e.action] = (totals[e.action] ?? 0) + 1;
    }
    const tally = (m: Map<string, Record<string, number>>) =>
      [...m.values()].reduce((n, t) => n + Object.values(t).reduce((a, b) => a + b, 0), 0);
    const settled = await eventually(
      async () => {
        await streamCaughtUp(app);
        const now = await itemTotals(Date.now());
        return isDeepStrictEqual(now, expected) ? now : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    ).catch(async (error: unknown) => {
      const now = await itemTotals(Date.now());
      throw new Error(`item totals ${tally(now)}, expected ${tally(expected)} (${sent.length} sent)`, { cause: error });
    });
    expect(tally(settled)).toBe(tally(base) + sent.length);
  }, 120_000);
});
