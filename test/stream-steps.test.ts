import type { RedisClient } from '../src/redis/client.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { redisKeys } from '../src/core/keys.js';
import { createApplier } from '../src/streams/apply.js';
import { decodeBehavior } from '../src/core/events.js';
import { createFeatureWorker, type FeatureWorker } from '../src/streams/feature-worker.js';
import { createKafka } from '../src/streams/kafka.js';
import { topicNames } from '../src/core/topics.js';
import { createTestTopics, eventually, uniquePrefix, testRedis } from './helpers.js';
import { produceEvents, readTopic } from './kafka-helpers.js';
import { expectFeaturesMatchReference, randomEvents } from './stream-reference.js';

const LATENESS = 120_000;
const prefix = uniquePrefix('steps');
const topics = topicNames(`${prefix}.`);
const keys = redisKeys(prefix);
const brokers = () => inject('kafkaBrokers').split(',');
const categories: Record<string, string> = { 'pet-1': 'pets', 'pet-2': 'pets', 'car-1': 'cars', 'food-1': 'food' };
const categoryOf = (id: string) => categories[id] ?? '_unknown';

describe('a batch cut between the user step and the item step', () => {
  let redis: RedisClient;
  let worker: FeatureWorker | undefined;
  beforeAll(async () => {
    redis = testRedis();
    await createTestTopics(topics);
    for (const [itemId, category] of Object.entries(categories)) await redis.hset(keys.item(itemId), { category });
  });
  afterAll(async () => {
    await worker?.stop();
    redis?.disconnect();
  });

  it('is finished on redelivery: item, co-visitation and trending sums counted once', async () => {
    const users = Array.from({ length: 8 }, (_, i) => `k-u${i}`);
    const events = randomEvents({
      seed: 11,
      users,
      perUser: 80,
      start: Date.now() - 3600_000,
      latenessMs: LATENESS,
      items: [...Object.keys(categories), 'x-1'],
    });
    const kafka = createKafka({ brokers: brokers(), clientId: 'steps-test' });
    await produceEvents(brokers(), topics.behavior, events);

    // A worker that applied the user step of each partition's first batch, then died.
    const records = await readTopic(brokers(), topics.behavior, events.length);
    const applier = createApplier({
      redis,
      keys,
      epochKey: keys.streamEpoch(`${prefix}-group`),
      allowedLatenessMs: LATENESS,
    });
    await applier.adoptEpoch();
    let cut = 0;
    for (const partition of [0, 1, 2]) {
      const mine = records
        .filter((r) => r.partition === partition)
        .sort((a, b) => Number(a.offset) - Number(b.offset))
        .slice(0, 150)
        .map((r) => ({ offset: r.offset, event: decodeBehavior(JSON.stringify(r.value)) }));
      const step = await applier.userStep(mine, await applier.readItems(mine), partition);
      cut += step.contributions.length;
    }
    expect(cut).toBeGreaterThan(100);
    // Nothing of it reached the items yet.
    expect(await redis.exists(keys.itemStats('pet-1'))).toBe(0);

    const applied: number[] = [];
    worker = createFeatureWorker({
      kafka,
      redis,
      keys,
      topics,
      log: createLogger('silent'),
      groupId: `${prefix}-group`,
      allowedLatenessMs: LATENESS,
      onApplied: (s) => applied.push(s.events.length),
    });
    await worker.start();
    await eventually(async () => applied.reduce((a, b) => a + b, 0) >= events.length, { timeoutMs: 30_000 });
    const compared = await expectFeaturesMatchReference(redis, keys, events, categoryOf, LATENESS);
    expect(compared.coVisits).toBeGreaterThan(10);
  });
  it('is finished on redelivery after two cuts, the second redelivery both replaying and counting new events', async () => {
    const twice = `${prefix}-twice`;
    const twiceTopics = topicNames(`${twice}.`);
    const twiceKeys = redisKeys(twice);
    await createTestTopics(twiceTopics);
    for (const [itemId, category] of Object.entries(categories)) await redis.hset(twiceKeys.item(itemId), { category });
    const users = Array.from({ length: 8 }, (_, i) => `t-u${i}`);
    const events = randomEvents({
      seed: 12,
      users,
      perUser: 80,
      start: Date.now() - 3600_000,
      latenessMs: LATENESS,
      items: [...Object.keys(categories), 'x-1'],
    });
    const kafka = createKafka({ brokers: brokers(), clientId: 'steps-twice-test' });
    await produceEvents(brokers(), twiceTopics.behavior, events);

    // A worker applied the user step of each partition's first 100 records and died; the next one
    // got the first 200 (100 replayed, 100 new), applied their user step, and died too.
    const records = await readTopic(brokers(), twiceTopics.behavior, events.length);
    const applier = createApplier({
      redis,
      keys: twiceKeys,
      epochKey: twiceKeys.streamEpoch(`${twice}-group`),
      allowedLatenessMs: LATENESS,
    });
    await applier.adoptEpoch();
    for (const size of [100, 200])
      for (const partition of [0, 1, 2]) {
        const mine = records
          .filter((r) => r.partition === partition)
          .sort((a, b) => Number(a.offset) - Number(b.offset))
          .slice(0, size)
          .map((r) => ({ offset: r.offset, event: decodeBehavior(JSON.stringify(r.value)) }));
        await applier.userStep(mine, await applier.readItems(mine), partition);
      }
    expect(await redis.exists(twiceKeys.itemStats('pet-1'))).toBe(0);

    const applied: number[] = [];
    const second = createFeatureWorker({
      kafka,
      redis,
      keys: twiceKeys,
      topics: twiceTopics,
      log: createLogger('silent'),
      groupId: `${twice}-group`,
      allowedLatenessMs: LATENESS,
      onApplied: (s) => applied.push(s.events.length),
    });
    await second.start();
    try {
      await eventually(async () => applied.reduce((a, b) => a + b, 0) >= events.length, { timeoutMs: 30_000 });
      const compared = await expectFeaturesMatchReference(redis, twiceKeys, events, categoryOf, LATENESS);
      expect(compared.coVisits).toBeGreaterThan(10);
    } finally {
      await second.stop();
    }
  });
});
