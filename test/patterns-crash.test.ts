import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readPatternMatchesBatch, type PatternMatch } from '../src/patterns/matches.js';
import { redisKeys } from '../src/core/keys.js';
import { encodeEvent, type BehaviorEvent } from '../src/core/events.js';
import { createKafka, type Producer } from '../src/streams/kafka.js';
import { topicNames } from '../src/core/topics.js';
import {
  createTestTopics,
  eventually,
  publishCatalogueRecords,
  spawnWorker,
  tempDir,
  uniquePrefix,
} from './helpers.js';
import {
  countedByUser,
  expectMatchesEqualReference,
  ITEMS,
  randomPatternEvents,
  TEST_RULES,
  TEST_RULES_JSON,
} from './pattern-reference.js';

const LATENESS = 120_000;
const prefix = uniquePrefix('pattern-crash');
const topics = topicNames(`${prefix}.`);
const keys = redisKeys(prefix);
const groupId = `${prefix}-group`;
const brokers = () => inject('kafkaBrokers').split(',');

describe('behaviour patterns survive a worker crash', () => {
  let redis: Redis;
  let producer: Producer;
  const workers: ChildProcess[] = [];
  const rulesFile = path.join(tempDir('patterns'), 'rules.json');

  const startWorker = () => {
    const child = spawnWorker(prefix, {
      STREAM_GROUP_ID: groupId,
      ALLOWED_LATENESS_MS: String(LATENESS),
      PATTERNS_FILE: rulesFile,
    });
    workers.push(child);
    return child;
  };

  beforeAll(async () => {
    writeFileSync(rulesFile, TEST_RULES_JSON);
    redis = new Redis(inject('redisUrl'));
    const kafka = createKafka({ brokers: brokers(), clientId: 'pattern-crash-test' });
    await createTestTopics(topics);
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await publishCatalogueRecords(producer, topics, ITEMS);
  });
  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await producer?.disconnect();
    redis?.disconnect();
  });

  const applied = async () => {
    const progress = await redis.hgetall(keys.streamOffsets(groupId, topics.behavior));
    return Object.values(progress).reduce((sum, o) => sum + Number(o) + 1, 0);
  };
  async function produce(events: BehaviorEvent[]) {
    for (let i = 0; i < events.length; i += 250)
      await producer.send({
        topic: topics.behavior,
        acks: -1,
        messages: events.slice(i, i + 250).map((e) => ({ key: e.userId, value: encodeEvent(e) })),
      });
  }

  it('kill -9 in the middle of 12,000 events, users mid-sequence: after a restart, no match lost or fired twice', async () => {
    const users = Array.from({ length: 40 }, (_, i) => `pc-u${i}`);
    const { events } = randomPatternEvents({
      seed: 42,
      users,
      perUser: 300,
      start: Date.now() - 7200_000,
      latenessMs: LATENESS,
    });
    const worker = startWorker();
    await eventually(async () => (await redis.hget(keys.item('food-1'), 'category')) === 'food', {
      timeoutMs: 60_000,
    });
    const half = Math.floor(events.length / 2);
    await produce(events.slice(0, half));
    await eventually(async () => (await applied()) > 1000, { timeoutMs: 60_000 });
    const producing = produce(events.slice(half));
    // Users hold events in their pattern state right now: sequences are in the middle.
    expect((await redis.keys(`${prefix}:{u:*}:pat:ev`)).length).toBeGreaterThan(30);
    worker.kill('SIGKILL');
    await new Promise<void>((resolve) =>
      worker.exitCode !== null || worker.signalCode !== null ? resolve() : worker.once('exit', () => resolve()),
    );
    expect(await applied()).toBeLessThan(events.length);
    await producing;

    // Every user then moves on past the lateness bound, so every strict run is decided.
    const counted = countedByUser(events, LATENESS);
    const flush: BehaviorEvent[] = users.map((userId) => {
      const at = (counted.get(userId)?.wm ?? Date.now()) + LATENESS + 1000;
      return {
        v: 1,
        eventId: `flush-${userId}`,
        userId,
        itemId: 'x-1',
        action: 'VIEW',
        occurredAt: at,
        receivedAt: at,
      };
    });
    await produce(flush);
    const all = [...events, ...flush];
    startWorker();
    await eventually(async () => (await applied()) === all.length, { timeoutMs: 120_000, intervalMs: 200 });

    const logs = await readPatternMatchesBatch(redis, keys, users);
    const fired = new Map<string, PatternMatch[]>(users.map((u, i) => [u, logs[i] ?? []]));
    const compared = expectMatchesEqualReference(fired, all, TEST_RULES, LATENESS);
    expect(compared.matches).toBeGreaterThan(500);
  });
});
