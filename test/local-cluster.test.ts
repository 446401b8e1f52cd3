import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalStack } from '../src/stack/local-stack.js';
import { isAlive } from '../src/stack/processes.js';
import { createKafka } from '../src/streams/kafka.js';
import { eventually, uniquePrefix } from './helpers.js';

/** CRC16 (XModem) of a key's hash tag, as Redis Cluster maps keys to its 16,384 slots. */
function slotOf(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const tag = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(tag)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

describe('the clustered local stack', () => {
  const stack = createLocalStack({ topology: 'cluster', kafkaHeapMb: 384 });
  let redis: Cluster | undefined;
  afterAll(async () => {
    redis?.disconnect();
    await stack.stop();
  });

  it('starts three brokers and a Redis Cluster of three masters with a replica each, and survives losing one of each', async () => {
    await stack.start();
    const cluster = stack.redisCluster;
    const brokers = stack.brokers;
    expect(stack.redisEnv).toEqual({ REDIS_CLUSTER_NODES: cluster?.seeds });
    expect(cluster?.nodes).toHaveLength(6);
    expect(brokers).toHaveLength(3);

    // Redis: keys land on every master; killing a master promotes its replica, and nothing is lost.
    redis = new Cluster(cluster!.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    const keys = Array.from({ length: 60 }, (_, i) => `t:{u:${i}}:state`);
    for (const key of keys) await redis.set(key, key);
    const masters = new Set(await Promise.all(keys.map(async (k) => (await cluster!.masterOf(slotOf(k))).port)));
    expect(masters.size).toBe(3);
    // Replicas copy asynchronously: WAIT makes sure they hold what the test reads back after the kill.
    await Promise.all(redis.nodes('master').map((n) => n.call('WAIT', '1', '2000')));
    const victim = await cluster!.masterOf(slotOf(keys[0]!));
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    const promoted = await eventually(
      async () => {
        const now = await cluster!.masterOf(slotOf(keys[0]!)).catch(() => undefined);
        return now && now.port !== victim.port ? now : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(promoted.port).not.toBe(victim.port);
    await cluster!.healthy(30_000);
    const values = await eventually(
      async () => {
        const read = await Promise.all(keys.map((k) => redis!.get(k).catch(() => null)));
        return read.every((v, i) => v === keys[i]) ? read : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(values).toEqual(keys);

    // Kafka: a topic with three replicas and min.insync.replicas 2 keeps taking acks=all writes with
    // one broker dead, and a consumer reads every record.
    const kafka = createKafka({ brokers, clientId: 'cluster-stack-test' });
    const topic = `${uniquePrefix('cluster')}.events`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: false });
    // Every broker learns of a new topic a moment after the controller created it.
    const partitions = await eventually(
      async () => {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
        const ps = meta?.topics[0]?.partitions ?? [];
        return ps.length === 3 && ps.every((p) => p.leader >= 1) ? ps : undefined;
      },
      { timeoutMs: 30_000 },
    );
    for (const p of partitions) expect(p.replicas).toHaveLength(3);
    const minIsr = await eventually(async () => {
      const configs = await admin
        .describeConfigs({
          resources: [{ type: 2, name: topic, configNames: ['min.insync.replicas'] }],
          includeSynonyms: false,
        })
        .catch(() => undefined);
      return configs?.resources[0]?.configEntries[0]?.configValue;
    });
    expect(minIsr).toBe('2');
    await admin.disconnect();

    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const before = Array.from({ length: 20 }, (_, i) => ({ key: `u${i % 5}`, value: `before-${i}` }));
    await producer.send({ topic, acks: -1, messages: before });
    const dead = stack.kafkaCluster!.nodes[1]!;
    dead.process.child.kill('SIGKILL');
    await dead.process.exited;
    const after = Array.from({ length: 20 }, (_, i) => ({ key: `u${i % 5}`, value: `after-${i}` }));
    await eventually(
      async () => {
        try {
          await producer.send({ topic, acks: -1, messages: after });
          return true;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 60_000 },
    );
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `${topic}.group` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = new Set<string>();
    await consumer.run({ eachMessage: async ({ message }) => void received.add(String(message.value)) });
    await eventually(async () => received.size >= before.length + after.length, { timeoutMs: 60_000 });
    await consumer.disconnect();
    expect(received).toEqual(new Set([...before, ...after].map((m) => m.value)));
  });

  it('stops every node and removes its directory', async () => {
    const pids = stack.pids;
    expect(pids.length).toBe(9);
    const dir = stack.dir;
    redis?.disconnect();
    redis = undefined;
    await stack.stop();
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    const leftovers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(dir));
    expect(leftovers).toEqual([]);
  });
});
