import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { redisKeys } from '../src/core/keys.js';
import { createFeatureWorker, type FeatureWorker } from '../src/streams/feature-worker.js';
import { createKafka } from '../src/streams/kafka.js';
import { topicNames } from '../src/core/topics.js';
import { createTestTopics, eventually, streamProgressAtLogEnd, uniquePrefix } from './helpers.js';
import { produceEvents } from './kafka-helpers.js';
import { expectFeaturesMatchReference, randomEvents } from './stream-reference.js';

const LATENESS = 120_000;
const prefix = uniquePrefix('itemconn');
const topics = topicNames(`${prefix}.`);
const keys = redisKeys(prefix);
const categories: Record<string, string> = { 'pet-1': 'pets', 'pet-2': 'pets', 'car-1': 'cars', 'food-1': 'food' };
const categoryOf = (id: string) => categories[id] ?? '_unknown';
const brokers = () => inject('kafkaBrokers').split(',');
/** Six users' random streams (late, out-of-order and repeated events among them) over the catalogue and one uncatalogued item. */
const sixUsers = (seed: number, userPrefix: string, perUser: number, sinceMs: number) =>
  randomEvents({
    seed,
    users: Array.from({ length: 6 }, (_, i) => `${userPrefix}${i}`),
    perUser,
    start: Date.now() - sinceMs,
    latenessMs: LATENESS,
    items: [...Object.keys(categories), 'x-1'],
  });

/** This connection's address as Redis sees it (what MONITOR names a command's sender by). */
async function addressOf(redis: Redis): Promise<string> {
  const info = String(await redis.client('INFO'));
  return /\baddr=(\S+)/.exec(info)![1]!;
}

// On one Redis, whose MONITOR names each command's connection (the integration project's).
describe('the item window', () => {
  const url = inject('redisUrl');
  let redis: Redis;
  let monitor: Redis;
  let itemRedis: Redis | undefined;
  let worker: FeatureWorker | undefined;
  beforeAll(async () => {
    redis = new Redis(url);
    await createTestTopics(topics);
    for (const [itemId, category] of Object.entries(categories)) await redis.hset(keys.item(itemId), { category });
  });
  afterAll(async () => {
    await worker?.stop();
    monitor?.disconnect();
    redis?.disconnect();
  });

  it("goes out on a connection of its own; the item and trending steps there and the users' steps on the worker's own, with the same features", async () => {
    /** The stream's fenced script calls (KEYS[1] is the epoch), by the hash tag of their next key and who sent them. */
    const seen: { tag: string; from: string }[] = [];
    const fence = keys.streamEpoch(`${prefix}-group`);
    monitor = await new Redis(url).monitor();
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const command = String(args[0]).toLowerCase();
      if ((command === 'eval' || command === 'evalsha') && String(args[3]) === fence) {
        const tag = /\{(\w):/.exec(String(args[4]))?.[1];
        if (tag) seen.push({ tag, from: source });
      }
    });

    const events = sixUsers(31, 'ic-u', 60, 3600_000);
    await produceEvents(brokers(), topics.behavior, events);
    const kafka = createKafka({ brokers: brokers(), clientId: 'itemconn-test' });

    let applied = 0;
    worker = createFeatureWorker({
      kafka,
      redis,
      connectItemRedis: async () => (itemRedis = new Redis(url)),
      keys,
      topics,
      log: createLogger('silent'),
      groupId: `${prefix}-group`,
      allowedLatenessMs: LATENESS,
      onApplied: (s) => (applied += s.events.length),
    });
    await worker.start();
    await eventually(async () => applied >= events.length, { timeoutMs: 30_000 });
    const compared = await expectFeaturesMatchReference(redis, keys, events, categoryOf, LATENESS);
    expect(compared.coVisits).toBeGreaterThan(10);

    const main = await addressOf(redis);
    const items = await addressOf(itemRedis!);
    const from = (tag: string) => [...new Set(seen.filter((s) => s.tag === tag).map((s) => s.from))];
    expect(from('u')).toEqual([main]);
    expect(from('i')).toEqual([items]);
    expect(from('t')).toEqual([items]);

    // Stopped, the worker closes the connection it opened.
    await worker.stop();
    worker = undefined;
    await eventually(async () => itemRedis!.status === 'end', { timeoutMs: 5000 });
  });

  it("records how far each partition's users are visible, ahead of the window's progress", async () => {
    const held = `${prefix}-held`;
    const heldTopics = topicNames(`${held}.`);
    const heldKeys = redisKeys(held);
    await createTestTopics(heldTopics);
    for (const [itemId, category] of Object.entries(categories)) await redis.hset(heldKeys.item(itemId), { category });
    const events = sixUsers(32, 'iv-u', 20, 600_000);
    await produceEvents(brokers(), heldTopics.behavior, events);
    const kafka = createKafka({ brokers: brokers(), clientId: 'itemconn-visible-test' });

    // An item window that never comes due: only the users' side is applied.
    const progressKey = heldKeys.streamOffsets(`${held}-group`, heldTopics.behavior);
    const heldWorker = createFeatureWorker({
      kafka,
      redis,
      keys: heldKeys,
      topics: heldTopics,
      log: createLogger('silent'),
      groupId: `${held}-group`,
      allowedLatenessMs: LATENESS,
      itemWindow: { maxAgeMs: 600_000, maxContributions: 1_000_000 },
    });
    await heldWorker.start();
    try {
      const total = await streamProgressAtLogEnd(
        redis,
        heldKeys,
        heldTopics,
        `${held}-group`,
        30_000,
        brokers(),
        'visible',
      );
      expect(total).toBe(events.length);
      expect(await redis.hgetall(progressKey)).toEqual({});
      // What "visible" promises: the users' own features are all there; the items' not yet.
      await expectFeaturesMatchReference(redis, heldKeys, events, categoryOf, LATENESS, 'users');
      expect(await redis.exists(heldKeys.itemStats('pet-1'))).toBe(0);
    } finally {
      // Stopping applies the window: its progress catches up.
      await heldWorker.stop();
    }
    await streamProgressAtLogEnd(redis, heldKeys, heldTopics, `${held}-group`, 5000, brokers());
    const compared = await expectFeaturesMatchReference(redis, heldKeys, events, categoryOf, LATENESS);
    expect(compared.coVisits).toBeGreaterThan(0);
  });
});
