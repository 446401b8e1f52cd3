import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../src/app.js';
import {
  RecommendationsDocument,
  RecordInteractionCountsDocument,
  TrendingDocument,
  UpdateUserProfileDocument,
  UpsertItemsDocument,
  type InteractionInput,
  type RecommendationsQuery,
  type RecommendationsQueryVariables,
} from '../src/client/index.js';
import { RANKING_FEATURES } from '../src/features/ranking-features.js';
import { buildModel } from '../src/model/graphs.js';
import { FEED_CACHE_LIMITS } from '../src/ranking/cache.js';
import { startLocalRedis, type LocalRedis } from '../src/stack/redis.js';
import { isCluster } from '../src/redis/client.js';
import { eventually, gql, seedCatalogue, startApp, streamCaughtUp, tempDir, testConfig } from './helpers.js';
import { readTopic, topicSize } from './kafka-helpers.js';

const exec = promisify(execFile);

describe('recommendations', () => {
  let app: App;
  const feed = (userId: string, extra: RecommendationsQueryVariables = {}) =>
    gql(app.url, RecommendationsDocument, { userId, first: 10, ...extra });
  const record = (inputs: InteractionInput[]) => gql(app.url, RecordInteractionCountsDocument, { inputs });
  const applied = () => streamCaughtUp(app);

  beforeAll(async () => {
    app = await startApp(testConfig('recs', { FEED_CACHE_TTL_MS: '60000', FEED_MAX_PER_CATEGORY: '3' }));
    await seedCatalogue(app);
    await applied();
  });
  afterAll(() => app?.stop());

  it('ranks a category higher right after the user likes several of its items', async () => {
    const before = await feed('u-pets');
    expect(before.errors).toBeUndefined();
    const share = (r: RecommendationsQuery) => r.recommendations.items.filter((e) => e.item.category === 'pets').length;
    const petsBefore = share(before.data!);
    const res = await record(
      ['pets-1', 'pets-2', 'pets-3', 'pets-4'].map((itemId) => ({ userId: 'u-pets', itemId, action: 'LIKE' })),
    );
    expect(res.errors).toBeUndefined();
    await applied();
    const after = await feed('u-pets');
    expect(after.errors).toBeUndefined();
    const entries = after.data!.recommendations.items;
    expect(share(after.data!)).toBeGreaterThan(petsBefore);
    expect(entries[0]?.item.category).toBe('pets');
    expect(entries[0]?.reasons).toContain('4 pets items liked in the last 5 minutes');
    // Items the user already acted on are not recommended again.
    expect(entries.map((e) => e.item.id)).not.toContain('pets-1');
    // Diversity that keeps what the user evidently likes: more than the base cap of 3 pets items,
    // but never more than half the feed while other categories remain.
    expect(share(after.data!)).toBeLessThanOrEqual(5);
    expect(entries.map((e) => e.rank)).toEqual(entries.map((_, i) => i + 1));
  });

  it('recommends what other people engaged with after the same item, even days later (item neighbours)', async () => {
    const now = Date.now();
    const ago = (hours: number) => new Date(now - hours * 3600_000).toISOString();
    // Two people liked cars-7 and, two days later (another session), music-9.
    const history = ['n-1', 'n-2'].flatMap((userId): InteractionInput[] => [
      { userId, itemId: 'cars-7', action: 'LIKE', occurredAt: ago(72) },
      { userId, itemId: 'music-9', action: 'LIKE', occurredAt: ago(24) },
    ]);
    expect((await record(history)).errors).toBeUndefined();
    expect((await record([{ userId: 'n-3', itemId: 'cars-7', action: 'LIKE' }])).errors).toBeUndefined();
    await applied();
    const res = await feed('n-3');
    expect(res.errors).toBeUndefined();
    const entry = res.data!.recommendations.items.find((e) => e.item.id === 'music-9');
    expect(entry?.reasons).toContain('often enjoyed together with cars-7, which you liked');
  });

  it('takes an item for new only by its createdAt: one upserted without it gets no discovery slot', async () => {
    const upsert = await gql(app.url, UpsertItemsDocument, {
      inputs: [
        { id: 'undated-1', category: 'food' },
        { id: 'dated-1', category: 'food', createdAt: new Date().toISOString() },
      ],
    });
    expect(upsert.errors).toBeUndefined();
    expect(upsert.data!.upsertItems.items.find((i) => i.id === 'undated-1')?.createdAt).toBeNull();
    // Both items' metadata: they may land on different partitions and be applied in either order.
    await eventually(
      async () =>
        (await app.services.redis.exists(app.services.keys.item('undated-1'), app.services.keys.item('dated-1'))) === 2,
    );
    const res = await feed('u-undated', { candidates: ['undated-1', 'dated-1'] });
    expect(res.errors).toBeUndefined();
    const reasons = new Map(res.data!.recommendations.items.map((e) => [e.item.id, e.reasons.join(' | ')]));
    expect(reasons.get('dated-1')).toContain('new, published');
    expect(reasons.get('undated-1')).not.toContain('new, published');
  });

  it('never recommends a hidden item again, even when supplied as a candidate', async () => {
    expect((await record([{ userId: 'u-hide', itemId: 'cars-2', action: 'HIDE' }])).errors).toBeUndefined();
    await applied();
    const res = await feed('u-hide', { candidates: ['cars-1', 'cars-2', 'cars-3'] });
    expect(res.errors).toBeUndefined();
    expect(res.data!.recommendations.items.map((e) => e.item.id).sort()).toEqual(['cars-1', 'cars-3']);
  });

  it('keeps a bounded cache however many distinct requests a client sends', async () => {
    const { cache, trending } = app.services.ranking;
    for (let i = 0; i < 30; i++) {
      const res = await feed('u-many-keys', { exclude: [`x-${i}`, 'x'.repeat(120)], first: 1 + (i % 10) });
      expect(res.errors).toBeUndefined();
    }
    for (let i = 0; i < 30; i++) {
      const res = await gql(app.url, TrendingDocument, { first: 1 + i });
      expect(res.errors).toBeUndefined();
    }
    expect(cache.size().entries).toBeLessThanOrEqual(cache.size().users * FEED_CACHE_LIMITS.keysPerUser);
    cache.invalidate(['u-many-keys']);
    const before = cache.size().entries;
    for (let i = 0; i < 10; i++) await feed('u-many-keys', { exclude: [`y-${i}`] });
    expect(cache.size().entries - before).toBe(FEED_CACHE_LIMITS.keysPerUser);
    expect(trending.size().scopes).toBeLessThanOrEqual(10);
  });

  it('gives a brand-new user trending items and their declared interests', async () => {
    const profile = await gql(app.url, UpdateUserProfileDocument, { input: { userId: 'u-new', interests: ['music'] } });
    expect(profile.errors).toBeUndefined();
    await eventually(
      async () => (await app.services.redis.hget(app.services.keys.userProfile('u-new'), 'interests')) === 'music',
    );
    const res = await feed('u-new');
    expect(res.errors).toBeUndefined();
    const entries = res.data!.recommendations.items;
    expect(entries).toHaveLength(10);
    expect(entries.some((e) => e.item.category === 'music')).toBe(true);
    expect(entries.flatMap((e) => e.reasons)).toContain('you said you are interested in music');
  });

  it('logs each computed feed as an impression with the feature rows the model saw', async () => {
    const res = await feed('u-impressions');
    expect(res.errors).toBeUndefined();
    // The impression is logged after the answer: read the whole topic until it is there.
    const brokers = app.services.config.kafka.brokers!;
    const topic = app.services.topics.impressions;
    const mine = (await eventually(async () =>
      (await readTopic(brokers, topic, await topicSize(brokers, topic)))
        .map((r) => r.value)
        .find((v) => v.userId === 'u-impressions'),
    )) as { featureNames: string[]; modelVersion: string; items: { itemId: string; features: number[] }[] };
    expect(mine.featureNames).toEqual([...RANKING_FEATURES]);
    expect(mine.modelVersion).toBe(res.data!.recommendations.modelVersion);
    expect(mine.items.map((i) => i.itemId)).toEqual(res.data!.recommendations.items.map((e) => e.item.id));
    for (const i of mine.items) expect(i.features).toHaveLength(RANKING_FEATURES.length);
  });

  it('reads features in a fixed number of Redis round trips, whatever the candidate count', async () => {
    // A round trip is one pipeline sent, or one command sent on its own (a script call included).
    const redis = app.services.redis;
    if (isCluster(redis)) throw new Error('this test counts round trips on one Redis');
    const originalPipeline = redis.pipeline.bind(redis);
    const originalSend = redis.sendCommand.bind(redis);
    let trips = 0;
    redis.pipeline = (...args: Parameters<typeof originalPipeline>) => {
      const pipeline = originalPipeline(...args);
      const exec = pipeline.exec.bind(pipeline);
      pipeline.exec = (...a: Parameters<typeof exec>) => {
        trips++;
        return exec(...a);
      };
      return pipeline;
    };
    // A pipeline hands its queued commands to sendCommand with the stream to write them to; a
    // command sent on its own comes without one.
    redis.sendCommand = (...args: Parameters<typeof originalSend>) => {
      if (args[1] === undefined) trips++;
      return originalSend(...args);
    };
    const ids = Array.from({ length: 500 }, (_, i) => `cand-${i}`);
    const roundTrips = async (n: number, userId: string) => {
      trips = 0;
      const res = await feed(userId, { candidates: ids.slice(0, n), first: 20 });
      expect(res.errors).toBeUndefined();
      return trips;
    };
    // Other work on the connection (the in-process worker, a cache refresh falling due) can only add
    // trips to a request's count: the fewest of three tries is the request's own.
    const fewest = async (n: number, userId: string) => {
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) counts.push(await roundTrips(n, `${userId}-${i}`));
      return Math.min(...counts);
    };
    try {
      await roundTrips(5, 'u-rt-warm');
      const small = await fewest(10, 'u-rt-a');
      const large = await fewest(500, 'u-rt-b');
      expect(small).toBeGreaterThan(0);
      expect(large).toBe(small);
      expect(large).toBeLessThanOrEqual(5);
    } finally {
      redis.pipeline = originalPipeline;
      redis.sendCommand = originalSend;
    }
  });

  it('lists trending items, fastest-gaining first, to anyone', async () => {
    const res = await gql(app.url, TrendingDocument, { first: 5 });
    expect(res.errors).toBeUndefined();
    const list = res.data!.trending;
    expect(list).toHaveLength(5);
    const scores = list.map((i) => i.trendingScore);
    expect(scores).not.toContain(null);
    expect(scores).toEqual([...scores].sort((a, b) => (b ?? 0) - (a ?? 0)));
    expect(scores[0]).toBeGreaterThan(0);
    const pets = await gql(app.url, TrendingDocument, { category: 'pets', first: 3 });
    expect(pets.data!.trending.map((i) => i.category)).toEqual(['pets', 'pets', 'pets']);
  });

  it('answers bad input with a code a client can branch on', async () => {
    const tooMany = await feed('u-x', { first: 1000 });
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const badId = await feed('u-x', { candidates: ['ok', 'not ok'] });
    expect(badId.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const many = await feed('u-x', { candidates: Array.from({ length: 501 }, (_, i) => `c${i}`) });
    expect(many.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    // Variables that do not fit their declared types, as the compiled query coerces them.
    const wrongType = await gql(app.url, RecommendationsDocument, { userId: 'u-x', first: 'ten' } as never);
    expect(wrongType.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(wrongType.errors?.[0]?.message).toMatch(/^Variable "\$first" got invalid value/);
    const nullInList = await feed('u-x', { candidates: ['ok', null] as never });
    expect(nullInList.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(wrongType.data ?? null).toBeNull();
  });
});

describe('when Redis is unreachable', () => {
  let redis: LocalRedis;
  let app: App;
  beforeAll(async () => {
    redis = await startLocalRedis({ dir: tempDir('recs-redis') });
    app = await startApp(testConfig('recs-down', { REDIS_URL: redis.url, FEED_CACHE_TTL_MS: '0' }));
  });
  afterAll(async () => {
    await app?.stop();
    await redis?.stop();
  });

  it('answers a clearly flagged fallback feed (last known trending), or UNAVAILABLE when there is none', async () => {
    process.kill(redis.process.pid, 'SIGKILL');
    await redis.process.exited;
    const none = await gql(app.url, RecommendationsDocument, { userId: 'u-down', first: 5 });
    expect(none.errors?.[0]?.extensions?.code).toBe('UNAVAILABLE');
    await redis.restart();
    await eventually(async () => (await app.services.redis.ping()) === 'PONG');
    const keys = app.services.keys;
    // Trending lists only catalogued items.
    for (const itemId of ['hot-1', 'hot-2'])
      await app.services.redis.hset(keys.item(itemId), { category: 'news', updatedAt: '1' });
    await app.services.redis.zadd(
      keys.trendingBucket('_all', Math.floor(Date.now() / 300_000) * 300_000),
      5,
      'hot-1',
      3,
      'hot-2',
    );
    const ok = await gql(app.url, RecommendationsDocument, { userId: 'u-down', first: 5 });
    expect(ok.data?.recommendations.degraded).toBe(false);
    process.kill(redis.process.pid, 'SIGKILL');
    await redis.process.exited;
    const degraded = await gql(app.url, RecommendationsDocument, { userId: 'u-down', first: 5 });
    expect(degraded.errors).toBeUndefined();
    expect(degraded.data?.recommendations.degraded).toBe(true);
    expect(degraded.data?.recommendations.items.map((e) => e.item.id)).toEqual(['hot-1', 'hot-2']);
    expect(degraded.data?.recommendations.modelVersion).toBe('fallback:trending');
  });
});

describe('a model whose features do not match the definitions', () => {
  it('is refused at start-up with a message naming what differs', async () => {
    const dir = tempDir('bad-model');
    const names = [...RANKING_FEATURES.slice(1), 'user_zodiac_sign'];
    const file = path.join(dir, 'bad.onnx');
    writeFileSync(
      file,
      buildModel(
        {
          kind: 'lr',
          weights: new Float32Array(names.length),
          bias: 0,
          mean: new Float32Array(names.length),
          std: new Float32Array(names.length).fill(1),
        },
        { featureNames: names, version: 'bad-1', kind: 'lr', trainedAt: new Date().toISOString() },
      ),
    );
    const run = exec(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env,
        KAFKA_BROKERS: inject('kafkaBrokers'),
        REDIS_URL: inject('redisUrl'),
        AUTH_MODE: 'dev',
        PORT: '0',
        MODEL_PATH: file,
        LOG_LEVEL: 'silent',
      },
    });
    const failure = await run.then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain('does not match the feature definitions');
    expect(failure?.stderr).toContain('missing [user_category_affinity]');
    expect(failure?.stderr).toContain('unexpected [user_zodiac_sign]');
  });
});
