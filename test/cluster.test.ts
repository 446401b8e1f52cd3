import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import {
  FeedUpdatedDocument,
  RecommendationsDocument,
  RecordInteractionCountsDocument,
  StatusDocument,
  type FeedUpdatedSubscription,
  type InteractionInput,
  type SubscriptionResult,
} from '../src/client/index.js';
import { redisKeys } from '../src/core/keys.js';
import { createLogger } from '../src/logger.js';
import { connectRedis, execPipeline, isCluster, pipelineOf, type RedisClient } from '../src/redis/client.js';
import { keySlot, SLOTS, inSlot } from '../src/redis/slots.js';
import { startLocalRedisCluster, type LocalRedisCluster } from '../src/stack/redis-cluster.js';
import { createApplier } from '../src/streams/apply.js';
import { eventually, gql, seedCatalogue, startApp, streamCaughtUp, tempDir, testConfig } from './helpers.js';
import { signer, watch, wsClient } from './live-clients.js';

const secret = 'cluster-test-secret-0123456789abcdef012';
const sign = signer(secret);
const feedsOf = (w: { results: SubscriptionResult<FeedUpdatedSubscription>[] }) =>
  w.results.flatMap((r) => (r.data ? [r.data.feedUpdated] : []));

/** Keys held by each master of the cluster (the node serving each slot range). */
async function keysPerMaster(cluster: LocalRedisCluster): Promise<number[]> {
  return Promise.all(
    (await cluster.masters()).map(async (node) => {
      const probe = new Redis(node.url, { maxRetriesPerRequest: 0 });
      try {
        return await probe.dbsize();
      } finally {
        probe.disconnect();
      }
    }),
  );
}

describe('on a Redis Cluster (three masters, a replica each)', () => {
  let cluster: LocalRedisCluster;
  let app: App;
  let redis: RedisClient;

  beforeAll(async () => {
    cluster = await startLocalRedisCluster({ dir: tempDir('cluster') });
    app = await startApp(
      testConfig('cluster', {
        REDIS_URL: `redis-cluster://${cluster.seeds}`,
        AUTH_MODE: 'jwt',
        JWT_SECRET: secret,
        FEED_CACHE_TTL_MS: '0',
      }),
    );
    redis = await connectRedis(`redis-cluster://${cluster.seeds}`, createLogger('silent'), 'test');
  });
  afterAll(async () => {
    await app?.stop();
    redis?.disconnect();
    await cluster?.stop();
  });

  it('runs the service, names the topology in status; likes change the next feed and push to a feedUpdated subscriber, keys on every master', async () => {
    expect(isCluster(app.services.redis)).toBe(true);
    const service = await sign({ role: 'service' });
    const status = await gql(app.url, StatusDocument, {}, { authorization: `Bearer ${service}` });
    expect(status.data?.status.ready).toBe(true);
    expect(status.data?.status.dependencies.find((d) => d.name === 'redis')?.detail).toBe(
      'Redis Cluster: 3 masters, 3 replicas',
    );
    await seedCatalogue(app, { authorization: `Bearer ${service}` });
    const token = await sign({ sub: 'u-cluster' });
    const client = wsClient(app, token);
    try {
      const live = watch(client, FeedUpdatedDocument, { first: 10 });
      await eventually(async () => feedsOf(live).length === 1);
      expect(feedsOf(live)[0]?.trigger).toBe('subscribed');
      const likes: InteractionInput[] = ['pets-1', 'pets-2', 'pets-3', 'pets-4'].map((itemId) => ({
        itemId,
        action: 'LIKE',
      }));
      const recorded = await gql(
        app.url,
        RecordInteractionCountsDocument,
        { inputs: likes },
        { authorization: `Bearer ${token}` },
      );
      expect(recorded.errors).toBeUndefined();
      const pushed = await eventually(
        async () => feedsOf(live).find((u) => u.trigger === 'behaviour' && u.feed.items[0]?.item.category === 'pets'),
        { timeoutMs: 10_000, intervalMs: 10 },
      );
      expect(pushed.feed.items.map((e) => e.item.id)).not.toContain('pets-1');
      live.unsubscribe();
    } finally {
      await client.dispose();
    }
    await streamCaughtUp(app);
    const feed = await gql(app.url, RecommendationsDocument, { first: 10 }, { authorization: `Bearer ${token}` });
    expect(feed.errors).toBeUndefined();
    const items = feed.data!.recommendations.items;
    expect(items[0]?.item.category).toBe('pets');
    expect(items.map((e) => e.item.id)).not.toContain('pets-2');
    const perMaster = await keysPerMaster(cluster);
    expect(perMaster).toHaveLength(3);
    for (const n of perMaster) expect(n).toBeGreaterThan(0);
  });

  it('pipelines one batch per master, answers in the order queued, keeps an error with its command and follows a stale slot map', async () => {
    if (!isCluster(redis)) throw new Error('expected a cluster client');
    const cluster = redis;
    const keys = Array.from({ length: 60 }, (_, i) => `pl:{k${i}}`);
    let pipelines = 0;
    const pipeline = cluster.pipeline.bind(cluster);
    cluster.pipeline = (...args: Parameters<typeof pipeline>) => {
      pipelines++;
      return pipeline(...args);
    };
    try {
      const write = pipelineOf(cluster);
      for (const [i, key] of keys.entries()) write.set(key, String(i));
      write.hset(keys[0]!, 'f', 'v'); // WRONGTYPE: its own reply only
      const written = (await write.exec()) ?? [];
      expect(written.slice(0, keys.length).every(([error, value]) => error === null && value === 'OK')).toBe(true);
      expect(written[keys.length]?.[0]?.message).toMatch(/^WRONGTYPE/);
      expect(pipelines).toBe(3); // one per master

      // A slot map gone stale (as right after a failover): the commands sent to the wrong node come
      // back MOVED and are sent again, each reaching its key.
      const slot = keySlot(keys[1]!);
      const owner = cluster.slots[slot]!;
      const other = cluster.slots.find((nodes) => nodes[0] !== owner[0])!;
      cluster.slots[slot] = other;
      const read = pipelineOf(cluster);
      for (const key of keys) read.get(key);
      read.set('pl:{moved-write}', 'x');
      expect(await execPipeline(read)).toEqual([...keys.map((_, i) => String(i)), 'OK']);
      cluster.slots[slot] = owner;
    } finally {
      cluster.pipeline = pipeline;
    }
  });

  it('fences the stream per slot: a master that loses its data refuses stale writes, and a new epoch settles everywhere', async () => {
    const keys = redisKeys('fence-test');
    const epochKey = keys.streamEpoch('g');
    const applier = createApplier({ redis, keys, epochKey, allowedLatenessMs: 120_000 });
    const first = await applier.adoptEpoch();
    expect(first).toMatch(/^1:/);
    // Every slot holds the same copy.
    const copies = await Promise.all([0, 5000, 10_000, SLOTS - 1].map((s) => redis.get(inSlot(epochKey, s))));
    expect(new Set(copies)).toEqual(new Set([first]));
    const now = Date.now();
    const event = (userId: string, offset: string) => ({
      offset,
      event: {
        v: 1 as const,
        eventId: `e-${userId}-${offset}`,
        userId,
        itemId: 'pets-1',
        action: 'LIKE' as const,
        occurredAt: now,
        receivedAt: now,
      },
    });
    await applier.applyBatch([event('fence-a', '1')], 0);
    expect(await applier.epochLost()).toBe(false);

    // The master serving user fence-a's keys comes back empty (its replica follows).
    const master = await cluster.masterOf(keySlot(keys.userState('fence-a')));
    const probe = new Redis(master.url);
    await probe.flushall();
    probe.disconnect();
    expect(await applier.epochLost()).toBe(true);
    await expect(applier.applyBatch([event('fence-a', '2')], 0)).rejects.toThrow(/^EPOCH /);
    // Nothing was written for the refused batch.
    expect(await redis.exists(keys.userState('fence-a'))).toBe(0);

    const second = await applier.adoptEpoch();
    expect(second).toMatch(/^2:/);
    const after = await Promise.all([0, 5000, 10_000, SLOTS - 1].map((s) => redis.get(inSlot(epochKey, s))));
    expect(new Set(after)).toEqual(new Set([second]));
    await applier.applyBatch([event('fence-a', '2')], 0);
    expect(await applier.epochLost()).toBe(false);
  });
});
