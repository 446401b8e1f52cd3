import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../src/app.js';
import { createLocalStack } from '../src/stack/local-stack.js';
import { isAlive } from '../src/stack/processes.js';
import { createKafka } from '../src/streams/kafka.js';
import { expectEachEventCountedOnce, itemTotals, sendUniqueEvents } from './failover-helpers.js';
import { eventually, seedCatalogue, startApp, streamCaughtUp, tempDir, testConfig } from './helpers.js';

/**
 * The loss of a broker while behaviour flows, on three brokers with replication factor 3 and
 * min.insync.replicas 2: acks=all still means two copies, the API keeps accepting, and every event
 * it acknowledged counts once.
 */
describe('a Kafka broker killed mid-stream', () => {
  const started = () => {
    if (!app) throw new Error('the service did not start');
    return app;
  };
  // The clustered local stack's brokers (as `LOCAL_STACK=cluster` starts them), without its Redis.
  const stack = createLocalStack({
    topology: 'cluster',
    redis: false,
    kafkaHeapMb: 384,
    root: tempDir('failover-kafka'),
  });
  let app: App | undefined;

  beforeAll(async () => {
    await stack.start();
    app = await startApp(
      testConfig('failover-kafka', {
        KAFKA_BROKERS: stack.brokers.join(','),
        KAFKA_REPLICATION_FACTOR: '3',
        REDIS_URL: inject('redisUrl'),
        RATE_LIMIT_MUTATIONS_PER_SEC: '1000000',
        RATE_LIMIT_EVENTS_PER_SEC: '1000000',
      }),
    );
  }, 180_000);
  afterAll(async () => {
    await app?.stop();
    await stack.stop();
  });

  it('loses and doubles no acknowledged event; a batch refused meanwhile is UNAVAILABLE and counts once when resent', async () => {
    const app = started();
    // The service's topics have three replicas and need two in sync.
    const admin = createKafka({ brokers: stack.brokers, clientId: 'failover-kafka-test' }).admin();
    await admin.connect();
    const topic = app.services.topics.behavior;
    // Every broker learns of a new topic a moment after the controller created it: ask again.
    const partitions = await eventually(async () => {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
      return meta?.topics[0]?.partitions.length ? meta.topics[0].partitions : undefined;
    });
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

    await seedCatalogue(app);
    await streamCaughtUp(app);
    const base = await itemTotals(app);
    const sending = sendUniqueEvents(app, 'fk', 9000);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    // Broker 1 leads some partitions (of the behaviour topic and of the consumer offsets).
    const victim = stack.kafkaCluster!.nodes[0]!;
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    const { sent, retries } = await sending;
    await expectEachEventCountedOnce(app, base, sent);
    process.stderr.write(
      `[failover] broker ${victim.nodeId} killed: ${sent.length} events acknowledged (${retries} batches resent after UNAVAILABLE), each counted once\n`,
    );
    expect(sent.length).toBeGreaterThan(0);
  }, 180_000);

  it('stops every broker and removes its directory', async () => {
    await app?.stop();
    app = undefined;
    const pids = stack.pids;
    expect(pids).toHaveLength(3);
    const dir = stack.dir;
    await stack.stop();
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    const leftovers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(dir));
    expect(leftovers).toEqual([]);
  });
});
