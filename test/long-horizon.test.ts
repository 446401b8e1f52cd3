import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RedisClient } from '../src/redis/client.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DAY, DEFAULT_ACTION_WEIGHTS } from '../src/features/definitions.js';
import { readUserLongHorizonBatch } from '../src/features/user-features.js';
import { redisKeys } from '../src/core/keys.js';
import { ACTIONS, encodeEvent, type BehaviorEvent } from '../src/core/events.js';
import { createKafka } from '../src/streams/kafka.js';
import { topicNames } from '../src/core/topics.js';
import { createTestTopics, uniquePrefix, testRedis } from './helpers.js';
import { randomSource } from '../src/core/random.js';

const exec = promisify(execFile);
const prefix = uniquePrefix('lt');
const topics = topicNames(`${prefix}.`);
const keys = redisKeys(prefix);
const categories: Record<string, string> = { 'pet-1': 'pets', 'pet-2': 'pets', 'car-1': 'cars', 'food-1': 'food' };

describe('the daily long-horizon batch', () => {
  let redis: RedisClient;
  beforeAll(async () => {
    redis = testRedis();
    await createTestTopics(topics);
    for (const [itemId, category] of Object.entries(categories)) await redis.hset(keys.item(itemId), { category });
  });
  afterAll(() => redis?.disconnect());

  it('materialises 30-day category shares and totals per user and item, each eventId once, with a version', async () => {
    const now = Date.now();
    const rand = randomSource(5);
    const items = Object.keys(categories);
    const events: BehaviorEvent[] = [];
    for (let i = 0; i < 600; i++) {
      const userId = `lt-u${i % 7}`;
      // Most within the horizon; some older (not counted); some retried with the same eventId.
      const occurredAt = rand() < 0.15 ? now - 31 * DAY - Math.floor(rand() * DAY) : now - Math.floor(rand() * 6 * DAY);
      const e: BehaviorEvent = {
        v: 1,
        eventId: `lt-${i}`,
        userId,
        itemId: items[Math.floor(rand() * items.length)]!,
        action: ACTIONS[Math.floor(rand() * ACTIONS.length)]!,
        occurredAt,
        receivedAt: now,
      };
      events.push(e);
      if (rand() < 0.1) events.push({ ...e });
    }
    const producer = createKafka({ brokers: inject('kafkaBrokers').split(','), clientId: 'lt-test' }).producer();
    await producer.connect();
    await producer.send({
      topic: topics.behavior,
      acks: -1,
      messages: events.map((e) => ({ key: e.userId, value: encodeEvent(e) })),
    });
    await producer.disconnect();

    const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'tools/long-horizon.ts'], {
      env: {
        ...process.env,
        KAFKA_BROKERS: inject('kafkaBrokers'),
        REDIS_URL: inject('redisUrl'),
        KAFKA_TOPIC_PREFIX: `${prefix}.`,
        REDIS_KEY_PREFIX: prefix,
        LOG_LEVEL: 'warn',
      },
    });
    // Log lines share stdout; the run summary is the line without a log level.
    const summary = stdout.split('\n').find((line) => line.startsWith('{"version"'));
    const run = JSON.parse(summary ?? 'null') as { version: string; users: number; events: number };

    // Brute force, written independently of the job's aggregator.
    const from = now - 30 * DAY;
    const unique = new Map<string, BehaviorEvent>();
    for (const e of events)
      if (e.occurredAt >= from && !unique.has(`${e.userId}/${e.eventId}`)) unique.set(`${e.userId}/${e.eventId}`, e);
    expect(run.events).toBe(unique.size);
    expect(run.users).toBe(7);
    const users = [...new Set(events.map((e) => e.userId))].sort();
    const got = await readUserLongHorizonBatch(redis, keys, users);
    for (const [u, userId] of users.entries()) {
      const mine = [...unique.values()].filter((e) => e.userId === userId);
      const weights: Record<string, number> = {};
      const totals: Record<string, number> = {};
      for (const e of mine) {
        const c = categories[e.itemId]!;
        weights[c] = (weights[c] ?? 0) + DEFAULT_ACTION_WEIGHTS[e.action];
        totals[e.action] = (totals[e.action] ?? 0) + 1;
      }
      const positive = Object.entries(weights).filter(([, w]) => w > 0);
      const sum = positive.reduce((s, [, w]) => s + w, 0);
      const lt = got[u]!;
      expect(lt.version).toBe(run.version);
      expect(lt.computedAt).toBeGreaterThanOrEqual(now);
      expect(Object.fromEntries(lt.totals.map((t) => [t.action, t.count]))).toEqual(totals);
      expect(lt.preferences.map((p) => p.category).sort()).toEqual(positive.map(([c]) => c).sort());
      for (const p of lt.preferences) expect(p.share).toBeCloseTo((weights[p.category] ?? 0) / sum, 10);
    }
    const itemScore = [...unique.values()]
      .filter((e) => e.itemId === 'pet-1')
      .reduce((s, e) => s + DEFAULT_ACTION_WEIGHTS[e.action], 0);
    expect(Number(await redis.hget(keys.itemLongHorizon('pet-1'), 'score'))).toBeCloseTo(itemScore, 9);
    expect(await redis.ttl(keys.userLongHorizon('lt-u0'))).toBeGreaterThan(2 * 24 * 3600);
    expect(await redis.hget(keys.longHorizonMeta(), 'version')).toBe(run.version);
  });
});
