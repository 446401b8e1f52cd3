import type { RedisClient } from '../src/redis/client.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readUserRealtime } from '../src/features/user-features.js';
import { createLogger } from '../src/logger.js';
import { redisKeys } from '../src/core/keys.js';
import { encodeEvent, type Action, type BehaviorEvent } from '../src/core/events.js';
import { createFeatureWorker, type FeatureWorker } from '../src/streams/feature-worker.js';
import { createKafka, type Producer } from '../src/streams/kafka.js';
import { topicNames } from '../src/core/topics.js';
import {
  createTestTopics,
  eventually,
  publishCatalogueRecords,
  streamProgressAtLogEnd,
  uniquePrefix,
  scanKeys,
  testRedis,
} from './helpers.js';
import { expectFeaturesMatchReference, randomEvents } from './stream-reference.js';
import { readTopic } from './kafka-helpers.js';

const LATENESS = 120_000;
const prefix = uniquePrefix('windows');
const topics = topicNames(`${prefix}.`);
const keys = redisKeys(prefix);
const brokers = () => inject('kafkaBrokers').split(',');
const categories: Record<string, string> = { 'pet-1': 'pets', 'pet-2': 'pets', 'car-1': 'cars', 'food-1': 'food' };
const items = [...Object.keys(categories), 'unknown-item'];
const categoryOf = (id: string) => categories[id] ?? '_unknown';
/** One behaviour event, accepted when it happened. */
const behaviour = (eventId: string, userId: string, itemId: string, action: Action, at: number): BehaviorEvent => ({
  v: 1,
  eventId,
  userId,
  itemId,
  action,
  occurredAt: at,
  receivedAt: at,
});

describe('the stream worker keeps exact event-time windows and features', () => {
  let redis: RedisClient;
  let producer: Producer;
  let worker: FeatureWorker;
  /** Records handed to the apply step: each record once, or the worker is re-reading. */
  let deliveries = 0;

  beforeAll(async () => {
    redis = testRedis();
    const kafka = createKafka({ brokers: brokers(), clientId: 'windows-test' });
    await createTestTopics(topics);
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await publishCatalogueRecords(producer, topics, categories);
    worker = createFeatureWorker({
      kafka,
      redis,
      keys,
      topics,
      log: createLogger('silent'),
      groupId,
      allowedLatenessMs: LATENESS,
      onApplied: (stats) => (deliveries += stats.events.length),
    });
    await worker.start();
    await eventually(async () => (await redis.hget(keys.item('food-1'), 'category')) === 'food');
  });
  afterAll(async () => {
    await worker?.stop();
    await producer?.disconnect();
    redis?.disconnect();
  });

  /** The consumer group of the running worker. */
  let groupId = `${prefix}-group`;
  async function appliedThrough(count: number) {
    // Every record of the behaviour topic is applied once Redis' progress reaches the log end.
    expect(await streamProgressAtLogEnd(redis, keys, topics, groupId)).toBeGreaterThanOrEqual(count);
  }

  const expectMatchesReference = (events: BehaviorEvent[]) =>
    expectFeaturesMatchReference(redis, keys, events, categoryOf, LATENESS);

  const all: BehaviorEvent[] = [];

  it('equals a brute-force reference over random streams with late, out-of-order and repeated events', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const users = Array.from({ length: 6 }, (_, i) => `s${seed}-u${i}`);
      const events = randomEvents({
        seed,
        users,
        perUser: 60,
        start: Date.now() - 3600_000,
        latenessMs: LATENESS,
        items,
      });
      await producer.send({
        topic: topics.behavior,
        acks: -1,
        messages: events.map((e) => ({ key: e.userId, value: encodeEvent(e) })),
      });
      all.push(...events);
    }
    await appliedThrough(all.length);
    const compared = await expectMatchesReference(all);
    expect(compared.coVisits).toBeGreaterThan(10);
    expect(compared.hidden).toBeGreaterThan(5);
    expect(compared.trendingScopes).toBeGreaterThanOrEqual(4);
    // A batch is reported after its Kafka commit, which can lag Redis' progress: wait for it.
    await eventually(async () => deliveries >= all.length, { timeoutMs: 30_000 });
    expect(deliveries).toBe(all.length);
  });

  it('gives every feature key a TTL (catalogue entries, profiles and progress excepted)', async () => {
    const without: string[] = [];
    const found = await scanKeys(redis, `${prefix}:*`);
    const ttls = await Promise.all(found.map((k) => redis.pttl(k)));
    found.forEach((k, i) => {
      if (/:meta$|:profile$|:stream:|:fresh$/.test(k)) return;
      if ((ttls[i] ?? -1) < 0) without.push(k);
    });
    expect(without).toEqual([]);
  });

  it('counts nothing twice when the whole log is delivered again (a new consumer group, the same Redis)', async () => {
    await worker.stop();
    const group = `${prefix}-group-2`;
    groupId = group;
    const replayed: number[] = [];
    worker = createFeatureWorker({
      kafka: createKafka({ brokers: brokers(), clientId: 'windows-test-2' }),
      redis,
      keys,
      topics,
      log: createLogger('silent'),
      groupId: group,
      allowedLatenessMs: LATENESS,
      onApplied: (stats) => replayed.push(stats.replayed),
    });
    await worker.start();
    await eventually(async () => replayed.reduce((a, b) => a + b, 0) >= all.length, { timeoutMs: 30_000 });
    expect(replayed.reduce((a, b) => a + b, 0)).toBe(all.length);
    await expectMatchesReference(all);
  });

  it("an event a few minutes ahead of the clock does not make the user's next events late", async () => {
    const now = Date.now();
    const event = (eventId: string, itemId: string, occurredAt: number): BehaviorEvent => ({
      v: 1,
      eventId,
      userId: 'skewed-user',
      itemId,
      action: 'CLICK',
      occurredAt,
      receivedAt: now,
    });
    // 4.5 minutes ahead: within what the API accepts from a client's clock.
    const events = [
      event('ahead', 'pet-1', now + 270_000),
      event('next-1', 'car-1', now + 1000),
      event('next-2', 'food-1', now + 2000),
    ];
    await producer.send({
      topic: topics.behavior,
      acks: -1,
      messages: events.map((e) => ({ key: e.userId, value: encodeEvent(e) })),
    });
    const user = await eventually(async () => {
      const f = await readUserRealtime(redis, keys, 'skewed-user');
      return f.recentItems.length === 3 ? f : undefined;
    });
    expect(user.recentItems.map((r) => r.itemId).sort()).toEqual(['car-1', 'food-1', 'pet-1']);
    // The watermark runs at most a little ahead of when the API accepted the events.
    expect(user.latestEventAt).toBeLessThanOrEqual(now + 60_000);
    all.push(...events);
    // The items' side follows the users' within the item window.
    await appliedThrough(all.length);
    await expectMatchesReference(all);
  });

  it('dead-letters an undecodable record with its reason and applies the events after it', async () => {
    const now = Date.now();
    const after: BehaviorEvent = {
      v: 1,
      eventId: 'after-poison',
      userId: 'poison-user',
      itemId: 'pet-1',
      action: 'LIKE',
      occurredAt: now,
      receivedAt: now,
    };
    await producer.send({
      topic: topics.behavior,
      acks: -1,
      messages: [
        { key: 'poison-user', value: Buffer.from('{"v":1,"eventId":"x","userId":"poison-user","action":"POKE"}') },
        { key: 'poison-user', value: Buffer.from('not json at all') },
        { key: 'poison-user', value: encodeEvent(after) },
      ],
    });
    const [first, second] = await readTopic(brokers(), topics.behaviorDeadLetter, 2);
    expect([first?.key, second?.key]).toEqual(['poison-user', 'poison-user']);
    expect([first?.headers.reason, second?.headers.reason].sort()).toEqual(['unknown action', 'value is not JSON']);
    expect(first?.headers['source-topic']).toBe(topics.behavior);
    const features = await eventually(async () => {
      const f = await readUserRealtime(redis, keys, 'poison-user');
      return f.windows[0]?.counts.length ? f : undefined;
    });
    expect(features.windows[0]?.counts).toEqual([{ category: 'pets', action: 'LIKE', count: 1 }]);
  });
  it('dead-letters a record Redis refuses to apply, after a few attempts, and applies the records after it', async () => {
    // The user's state is not a hash: every script call for them fails with WRONGTYPE.
    await redis.set(keys.userState('broken-user'), 'not a hash');
    const now = Date.now();
    const event = (eventId: string, userId: string) => behaviour(eventId, userId, 'food-1', 'LIKE', now);
    await producer.send({
      topic: topics.behavior,
      acks: -1,
      messages: [
        { partition: 0, key: 'broken-user', value: encodeEvent(event('broken-1', 'broken-user')) },
        { partition: 0, key: 'fine-user', value: encodeEvent(event('fine-1', 'fine-user')) },
      ],
    });
    const dead = await readTopic(brokers(), topics.behaviorDeadLetter, 3);
    const refused = dead.find((r) => r.key === 'broken-user');
    expect(refused?.headers.reason).toMatch(/WRONGTYPE/);
    expect(refused?.headers['source-partition']).toBe('0');
    const features = await eventually(async () => {
      const f = await readUserRealtime(redis, keys, 'fine-user');
      return f.windows[0]?.counts.length ? f : undefined;
    });
    expect(features.windows[0]?.counts).toEqual([{ category: 'food', action: 'LIKE', count: 1 }]);
  });
  it("dead-letters a record whose item side Redis refuses, keeps its user's count, and applies the rest", async () => {
    // The item's stats are not a hash: every item step that touches it fails with WRONGTYPE.
    await redis.set(keys.itemStats('broken-item'), 'not a hash');
    const viewsBefore = Number((await redis.hget(keys.itemStats('car-1'), 'n:VIEW')) ?? 0);
    const now = Date.now();
    const event = (eventId: string, userId: string, itemId: string) => behaviour(eventId, userId, itemId, 'VIEW', now);
    await producer.send({
      topic: topics.behavior,
      acks: -1,
      messages: [
        { partition: 1, key: 'item-user', value: encodeEvent(event('item-1', 'item-user', 'broken-item')) },
        { partition: 1, key: 'item-user', value: encodeEvent(event('item-2', 'item-user', 'car-1')) },
      ],
    });
    const dead = await readTopic(brokers(), topics.behaviorDeadLetter, 4);
    const refused = dead.find((r) => r.headers['source-offset'] !== undefined && r.key === 'item-user');
    expect(refused?.headers.reason).toMatch(/WRONGTYPE/);
    expect(refused?.headers['source-partition']).toBe('1');
    expect((refused?.value as BehaviorEvent | undefined)?.eventId).toBe('item-1');
    // The partition moves on: its progress reaches the log end, the other event's item is counted.
    await appliedThrough(0);
    expect(Number(await redis.hget(keys.itemStats('car-1'), 'n:VIEW'))).toBe(viewsBefore + 1);
    const user = await readUserRealtime(redis, keys, 'item-user');
    expect(user.recentItems.map((r) => r.itemId).sort()).toEqual(['broken-item', 'car-1']);
  });
});
