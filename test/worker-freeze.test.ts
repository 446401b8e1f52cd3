import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { encodeEvent, type BehaviorEvent } from '../src/core/events.js';
import { redisKeys } from '../src/core/keys.js';
import { topicNames } from '../src/core/topics.js';
import { createKafka } from '../src/streams/kafka.js';
import { createTestTopics, eventually, publishCatalogueRecords, spawnWorker, uniquePrefix } from './helpers.js';

/**
 * A worker frozen past its session timeout (SIGSTOP: a long GC pause, a stalled VM) is dropped
 * from the group; when it wakes, its next commit is refused as coming from an unknown member,
 * which kafkajs treats as fatal and does not restart. The worker must replace its consumer and
 * go on, not sit there looking healthy while nothing is applied.
 */
describe('a stream worker frozen past its session timeout', () => {
  const prefix = uniquePrefix('freeze');
  const topics = topicNames(`${prefix}.`);
  const keys = redisKeys(prefix);
  const redis = new Redis(inject('redisUrl'));
  const kafka = createKafka({ brokers: inject('kafkaBrokers').split(','), clientId: 'freeze-test' });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  // Two members, so that the frozen one's partitions move to the other while it sleeps.
  const worker = spawnWorker(prefix, { LOG_LEVEL: 'info' }, 'pipe');
  const other = spawnWorker(prefix, { LOG_LEVEL: 'info' }, 'pipe');
  const log: string[] = [];
  createInterface({ input: worker.stdout! }).on('line', (line) => log.push(line));
  createInterface({ input: other.stdout! }).on('line', (line) => log.push(line));
  afterAll(async () => {
    worker.kill('SIGCONT');
    worker.kill('SIGKILL');
    other.kill('SIGKILL');
    await producer.disconnect();
    redis.disconnect();
  });

  const send = async (n: number) => {
    const now = Date.now();
    const events: BehaviorEvent[] = Array.from({ length: n }, (_, i) => ({
      v: 1,
      eventId: randomUUID(),
      userId: `u${i % 12}`,
      itemId: 'pet-1',
      action: 'CLICK',
      occurredAt: now,
      receivedAt: now,
    }));
    await producer.send({
      topic: topics.behavior,
      messages: events.map((e) => ({ key: e.userId, value: encodeEvent(e) })),
    });
  };
  const clicks = async () => Number((await redis.hget(keys.itemStats('pet-1'), 'n:CLICK')) ?? 0);

  it('replaces its consumer when it wakes and applies everything sent meanwhile, once', async () => {
    await createTestTopics(topics);
    await producer.connect();
    await publishCatalogueRecords(producer, topics, { 'pet-1': 'pets' });
    await eventually(async () => log.filter((l) => l.includes('worker started')).length === 2, { timeoutMs: 60_000 });

    // A steady flow, so the frozen worker is in the middle of a batch (and its commit) when it stops.
    let sent = 0;
    let flowing = true;
    const flow = (async () => {
      while (flowing) {
        await send(5);
        sent += 5;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 3000));
    worker.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 16_000)); // the session timeout is 10 s
    worker.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 5000));
    // The other member leaves: everything now depends on the one that was frozen.
    other.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 5000));
    flowing = false;
    await flow;

    await eventually(async () => (await clicks()) === sent, { timeoutMs: 90_000, intervalMs: 250 });
    await new Promise((r) => setTimeout(r, 2000));
    expect(await clicks()).toBe(sent);
  }, 240_000);
});
