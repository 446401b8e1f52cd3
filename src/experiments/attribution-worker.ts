/**
 * The consumer that turns the impressions and behaviour topics into per-arm counts: its own
 * consumer group, one script call per batch (`attribute`, see redis/scripts.ts), the Kafka offset
 * committed only after Redis acknowledged, and the counts added to `experiment_events_total`.
 * Run it in the API process (EXPERIMENT_WORKER_ENABLED) or anywhere that reaches Kafka and Redis;
 * more processes in the same group share the partitions.
 */
import { replicated, type RedisClient } from '../redis/client.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RedisKeys } from '../core/keys.js';
import { registerScripts, scripts } from '../redis/scripts.js';
import type { EachBatchPayload, Kafka } from '../streams/kafka.js';
import type { Topics } from '../core/topics.js';
import {
  decodeAttributedEvent,
  decodeAttributedImpression,
  parseCounted,
  planEvents,
  planImpressions,
  type AttributedEvent,
  type AttributedImpression,
  type CountedDelta,
} from './attribution.js';
import { supervisedConsumer } from '../streams/supervised-consumer.js';

export interface AttributionWorkerOptions {
  kafka: Kafka;
  /** Its own connection (opened on start, closed on stop), so its scripts never queue behind requests' reads. */
  connectRedis: () => Promise<RedisClient>;
  keys: RedisKeys;
  topics: Topics;
  log: Logger;
  groupId: string;
  windowMs: number;
  metrics?: Metrics;
  /**
   * On a Redis Cluster: replicas of every master that must confirm a batch's counts (WAIT) before
   * its offsets are committed to Kafka; not confirmed in time, the batch is delivered again (the
   * progress guards make that exact), as in the stream worker. Default none.
   */
  replicas?: { count: number; timeoutMs: number };
  /** Called after each batch Redis and Kafka both acknowledged. */
  onApplied?: (stats: { topic: string; partition: number; lastOffset: string; counted: CountedDelta[] }) => void;
}

export interface AttributionWorker {
  start(): Promise<void>;
  stop(): Promise<void>;
  ready(): boolean;
}

/** The Redis field holding a topic-partition's progress. */
export const progressField = (topic: string, partition: number) => `${topic}:${partition}`;

export function createAttributionWorker(options: AttributionWorkerOptions): AttributionWorker {
  const { kafka, keys, topics, log } = options;
  let redis: RedisClient | undefined;
  const settings = { keys, windowMs: options.windowMs };

  async function handle({ batch, heartbeat, resolveOffset }: EachBatchPayload) {
    const lastOffset = batch.messages.at(-1)?.offset;
    if (lastOffset === undefined) return;
    const field = progressField(batch.topic, batch.partition);
    let calls;
    if (batch.topic === topics.impressions) {
      const records: AttributedImpression[] = [];
      for (const m of batch.messages) {
        const impression = decodeAttributedImpression(m.value, m.offset);
        if (impression) records.push(impression);
      }
      calls = planImpressions(records, field, lastOffset, settings);
    } else {
      const records: AttributedEvent[] = [];
      for (const m of batch.messages) {
        const event = decodeAttributedEvent(m.value, m.offset);
        if (event) records.push(event);
      }
      calls = planEvents(records, field, lastOffset, settings);
    }
    if (!redis) throw new Error('the attribution worker is not started');
    const client = redis;
    const replies = await Promise.all(calls.map((call) => scripts.attribute.run(client, call.keys, call.args)));
    const counted = parseCounted(replies.flat());
    await redis.hset(keys.abProgress(), field, lastOffset);
    // A master lost after the commit must not take the batch's counts with it.
    if (options.replicas) await replicated(redis, options.replicas.count, options.replicas.timeoutMs);
    // Redis holds the batch: only now may Kafka move past it.
    await consumer
      .current()
      ?.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: (BigInt(lastOffset) + 1n).toString() },
      ]);
    resolveOffset(lastOffset);
    for (const d of counted)
      options.metrics?.experimentEvents.inc(
        { experiment: d.experimentId, arm: d.arm, version: d.version, kind: d.kind },
        d.count,
      );
    options.onApplied?.({ topic: batch.topic, partition: batch.partition, lastOffset, counted });
    await heartbeat();
  }

  const consumer = supervisedConsumer(
    {
      name: 'attribution',
      create: () =>
        kafka.consumer({
          groupId: options.groupId,
          maxWaitTimeInMs: 50,
          sessionTimeout: 10_000,
          heartbeatInterval: 1000,
          allowAutoTopicCreation: false,
        }),
      topics: [topics.impressions, topics.behavior],
      run: {
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 2,
        eachBatch: async (payload) => {
          try {
            await handle(payload);
          } catch (error) {
            log.error(
              { err: error, topic: payload.batch.topic, partition: payload.batch.partition },
              'attributing a batch failed; it will be retried',
            );
            throw error;
          }
        },
      },
    },
    { log, metrics: options.metrics },
  );

  return {
    ready: () => consumer.ready(),
    async start() {
      redis = await options.connectRedis();
      registerScripts(redis);
      await consumer.start();
    },
    async stop() {
      await consumer.stop();
      redis?.disconnect();
    },
  };
}
