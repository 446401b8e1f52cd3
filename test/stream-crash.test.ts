import type { ChildProcess } from 'node:child_process';
import type { RedisClient } from '../src/redis/client.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { redisKeys } from '../src/core/keys.js';
import { encodeEvent, type BehaviorEvent } from '../src/core/events.js';
import { createKafka, type Producer } from '../src/streams/kafka.js';
import { topicNames } from '../src/core/topics.js';
import {
  createTestTopics,
  eventually,
  publishCatalogueRecords,
  spawnWorker,
  uniquePrefix,
  testRedis,
} from './helpers.js';
import { expectFeaturesMatchReference, randomEvents } from './stream-reference.js';

const LATENESS = 120_000;
const categories: Record<string, string> = { 'pet-1': 'pets', 'car-1': 'cars', 'food-1': 'food' };
const categoryOf = (id: string) => categories[id] ?? '_unknown';
const brokers = () => inject('kafkaBrokers').split(',');

/** One isolated pipeline: its own topics, key prefix and consumer group. */
function setup(name: string) {
  const prefix = uniquePrefix(name);
  const topics = topicNames(`${prefix}.`);
  const keys = redisKeys(prefix);
  const groupId = `${prefix}-group`;
  const workers: ChildProcess[] = [];
  const startWorker = () => {
    const child = spawnWorker(prefix, { STREAM_GROUP_ID: groupId, ALLOWED_LATENESS_MS: String(LATENESS) });
    workers.push(child);
    return child;
  };
  const exited = (child: ChildProcess) =>
    new Promise<void>((resolve) =>
      child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
    );
  return { prefix, topics, keys, groupId, workers, startWorker, exited };
}

describe('the stream worker survives crashes and rebalances without losing or double-counting', () => {
  let redis: RedisClient;
  let producer: Producer;
  const pipelines: ReturnType<typeof setup>[] = [];

  beforeAll(async () => {
    redis = testRedis();
    producer = createKafka({ brokers: brokers(), clientId: 'crash-test' }).producer({
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
  });
  afterAll(async () => {
    for (const p of pipelines) for (const w of p.workers) w.kill('SIGKILL');
    await producer?.disconnect();
    redis?.disconnect();
  });

  async function prepare(name: string) {
    const p = setup(name);
    pipelines.push(p);
    await createTestTopics(p.topics);
    await publishCatalogueRecords(producer, p.topics, categories);
    return p;
  }

  /** Categories are resolved when an event is applied: the catalogue must be in Redis first. */
  const catalogueApplied = (p: ReturnType<typeof setup>) =>
    eventually(async () => (await redis.hget(p.keys.item('food-1'), 'category')) === 'food', { timeoutMs: 60_000 });

  const applied = async (p: ReturnType<typeof setup>) => {
    const progress = await redis.hgetall(p.keys.streamOffsets(p.groupId, p.topics.behavior));
    return Object.values(progress).reduce((sum, o) => sum + Number(o) + 1, 0);
  };

  async function produce(p: ReturnType<typeof setup>, events: BehaviorEvent[], chunk = 250) {
    for (let i = 0; i < events.length; i += chunk) {
      await producer.send({
        topic: p.topics.behavior,
        acks: -1,
        messages: events.slice(i, i + chunk).map((e) => ({ key: e.userId, value: encodeEvent(e) })),
      });
    }
  }

  async function expectExact(p: ReturnType<typeof setup>, events: BehaviorEvent[]) {
    await eventually(async () => (await applied(p)) === events.length, { timeoutMs: 90_000, intervalMs: 200 });
    await expectFeaturesMatchReference(redis, p.keys, events, categoryOf, LATENESS);
  }

  it('kill -9 of the worker in the middle of 12,000 events: after a restart, 0 lost and 0 double-counted', async () => {
    const p = await prepare('crash');
    const users = Array.from({ length: 40 }, (_, i) => `c-u${i}`);
    const events = randomEvents({
      seed: 42,
      users,
      perUser: 300,
      start: Date.now() - 7200_000,
      latenessMs: LATENESS,
      items: [...Object.keys(categories), 'x-1'],
    });
    const worker = p.startWorker();
    await catalogueApplied(p);
    const half = Math.floor(events.length / 2);
    await produce(p, events.slice(0, half));
    await eventually(async () => (await applied(p)) > 1000, { timeoutMs: 60_000 });
    const producing = produce(p, events.slice(half));
    worker.kill('SIGKILL');
    await p.exited(worker);
    const atKill = await applied(p);
    expect(atKill).toBeLessThan(events.length);
    await producing;
    p.startWorker();
    await expectExact(p, events);
  });

  it('a worker leaving the group mid-stream: the other takes its partitions over with the same exactness', async () => {
    const p = await prepare('rebalance');
    const users = Array.from({ length: 30 }, (_, i) => `r-u${i}`);
    const events = randomEvents({
      seed: 7,
      users,
      perUser: 200,
      start: Date.now() - 7200_000,
      latenessMs: LATENESS,
      items: [...Object.keys(categories), 'x-1'],
    });
    const a = p.startWorker();
    p.startWorker();
    await catalogueApplied(p);
    const third = Math.floor(events.length / 3);
    await produce(p, events.slice(0, third));
    await eventually(async () => (await applied(p)) > 500, { timeoutMs: 60_000 });
    const producing = produce(p, events.slice(third));
    a.kill('SIGTERM');
    await p.exited(a);
    await producing;
    await expectExact(p, events);
  });
});
