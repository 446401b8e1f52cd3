import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createLocalStack } from '../src/stack/local-stack.js';
import { isAlive } from '../src/stack/processes.js';
import { createKafka } from '../src/streams/kafka.js';
import { eventually, uniquePrefix } from './helpers.js';

describe('the local stack', () => {
  it('round-trips records through the real broker with a consumer group that commits offsets', async () => {
    const kafka = createKafka({ brokers: inject('kafkaBrokers').split(','), clientId: 'stack-test' });
    const topic = `${uniquePrefix('roundtrip')}.events`;
    const groupId = `${topic}.group`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const sent = Array.from({ length: 30 }, (_, i) => ({ key: `user-${i % 4}`, value: `event-${i}` }));
    await producer.send({ topic, acks: -1, messages: sent });

    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: string[] = [];
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message, partition }) => {
        received.push(String(message.value));
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      },
    });
    await eventually(async () => received.length === sent.length);
    expect(new Set(received)).toEqual(new Set(sent.map((m) => m.value)));

    const committed = await eventually(async () => {
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
      const total = offsets[0]?.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
      return total === sent.length ? offsets : undefined;
    });
    expect(committed[0]?.partitions).toHaveLength(3);

    await consumer.disconnect();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  });

  describe('a second stack on the same machine', () => {
    const stack = createLocalStack({ kafkaHeapMb: 384 });
    afterAll(() => stack.stop());

    it('uses its own ports and data directory, and stops without leaving processes', async () => {
      await stack.start();
      const shared = [inject('kafkaBrokers'), inject('redisUrl')].join(' ');
      const kafkaPid = stack.kafka?.process.pid ?? 0;
      const redisPid = stack.redis?.process.pid ?? 0;
      expect(shared).not.toContain(`:${stack.kafka?.port}`);
      expect(shared).not.toContain(`:${stack.redis?.port}`);
      expect(isAlive(kafkaPid) && isAlive(redisPid)).toBe(true);
      const dir = stack.dir;
      expect(existsSync(dir)).toBe(true);

      await stack.stop();
      expect(isAlive(kafkaPid)).toBe(false);
      expect(isAlive(redisPid)).toBe(false);
      expect(existsSync(dir)).toBe(false);
      const leftovers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes(dir));
      expect(leftovers).toEqual([]);
    });
  });
});
