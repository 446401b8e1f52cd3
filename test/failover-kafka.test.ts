import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../src/app.js';
import { startLocalKafkaCluster, type LocalKafkaCluster } from '../src/stack/kafka.js';
import { expectEachEventCountedOnce, itemTotals, sendUniqueEvents } from './failover-helpers.js';
import { seedCatalogue, startApp, streamCaughtUp, tempDir, testConfig } from './helpers.js';

/**
 * The loss of a broker while behaviour flows, on three brokers with replication factor 3 and
 * min.insync.replicas 2: acks=all still means two copies, the API keeps accepting, and every event
 * it acknowledged counts once.
 */
describe('a Kafka broker killed mid-stream', () => {
  let kafka: LocalKafkaCluster;
  let app: App;

  beforeAll(async () => {
    kafka = await startLocalKafkaCluster({ dir: tempDir('failover-kafka'), heapMb: 384 });
    app = await startApp(
      testConfig('failover-kafka', {
        KAFKA_BROKERS: kafka.brokers.join(','),
        KAFKA_REPLICATION_FACTOR: '3',
        REDIS_URL: inject('redisUrl'),
        RATE_LIMIT_MUTATIONS_PER_SEC: '1000000',
        RATE_LIMIT_EVENTS_PER_SEC: '1000000',
      }),
    );
  }, 180_000);
  afterAll(async () => {
    await app?.stop();
    await kafka?.stop();
  });

  it('loses and doubles no acknowledged event; a batch refused meanwhile is UNAVAILABLE and counts once when resent', async () => {
    await seedCatalogue(app);
    await streamCaughtUp(app);
    const base = await itemTotals(app);
    const sending = sendUniqueEvents(app, 'fk', 9000);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    // Broker 1 leads some partitions (of the behaviour topic and of the consumer offsets).
    const victim = kafka.nodes[0]!;
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    const { sent, retries } = await sending;
    await expectEachEventCountedOnce(app, base, sent);
    process.stderr.write(
      `[failover] broker ${victim.nodeId} killed: ${sent.length} events acknowledged (${retries} batches resent after UNAVAILABLE), each counted once\n`,
    );
    expect(sent.length).toBeGreaterThan(0);
  }, 180_000);
});
