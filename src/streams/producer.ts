import type { Logger } from '../logger.js';
import { unavailable } from '../core/errors.js';
import { isRetriableKafkaError, partitionForKey, type Kafka, type Producer } from './kafka.js';

export interface OutgoingRecord {
  topic: string;
  key: string;
  value: Buffer;
  headers?: Record<string, string>;
}

/** Where the broker stored a record: proof that it is durable (acks=all). */
export interface Produced {
  topic: string;
  partition: number;
  offset: string;
}

interface Pending {
  record: OutgoingRecord;
  partition: number;
  resolve(value: Produced): void;
  reject(error: Error): void;
  settled: boolean;
  timer: NodeJS.Timeout;
}

/**
 * Every way a write can fail to become durable (timeout, kafkajs giving up, a refusal, a broken
 * acknowledgement) looks the same to a client: retry later. The cause, which names brokers and
 * addresses, goes to the log only.
 */
const notAcknowledged = () => unavailable('Kafka did not acknowledge the write; retry');

export interface IngestProducer {
  start(): Promise<void>;
  stop(): Promise<void>;
  ready(): boolean;
  /**
   * Sends records and resolves, in input order, once each is acknowledged by all in-sync
   * replicas. Rejects with a retryable UNAVAILABLE, and nothing else, whenever a record is not
   * acknowledged: within the produce timeout (a record still queued at that moment is withdrawn and
   * never written), or because kafkajs or the broker gave up first.
   */
  send(records: OutgoingRecord[]): Promise<Produced[]>;
}

/**
 * An idempotent, acks=all producer that coalesces concurrent sends into one `sendBatch` per round
 * trip: the idempotent producer allows one request in flight, so whatever arrives while a batch is
 * in flight goes out together in the next one. Partitions are chosen here (Java-compatible murmur2
 * on the key) so that each caller learns its own record's partition and offset.
 */
export function createIngestProducer(options: {
  kafka: Kafka;
  log: Logger;
  timeoutMs: number;
  /** Records per request, at most. */
  maxBatch?: number;
  onBatch?: (records: number, durationMs: number) => void;
}): IngestProducer {
  const { kafka, log, timeoutMs } = options;
  const maxBatch = options.maxBatch ?? 2000;
  const admin = kafka.admin();
  /** Partition count per topic; the promise is cached so concurrent first sends fetch it once. */
  const partitionCounts = new Map<string, Promise<number>>();
  let producer: Producer | undefined;
  let connected = false;
  let stopped = false;
  let inFlight: Promise<void> | undefined;
  let scheduled = false;
  const queue: Pending[] = [];

  const newProducer = () => {
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    p.on(p.events.DISCONNECT, () => (connected = false));
    p.on(p.events.CONNECT, () => (connected = true));
    return p;
  };

  function partitionsOf(topic: string): Promise<number> {
    let count = partitionCounts.get(topic);
    if (count === undefined) {
      count = admin.fetchTopicMetadata({ topics: [topic] }).then((meta) => {
        const n = meta.topics[0]?.partitions.length ?? 0;
        if (n < 1) throw new Error(`topic ${topic} has no partitions`);
        return n;
      });
      // A failed look-up is not remembered: the next send asks again.
      count.catch(() => partitionCounts.delete(topic));
      partitionCounts.set(topic, count);
    }
    return count;
  }

  function schedule() {
    if (scheduled || inFlight || queue.length === 0) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      inFlight = flush().finally(() => {
        inFlight = undefined;
        schedule();
      });
    });
  }

  async function flush(): Promise<void> {
    const batch = queue.splice(0, maxBatch).filter((p) => !p.settled);
    if (batch.length === 0) return;
    const started = performance.now();
    const byTopic = new Map<string, Pending[]>();
    for (const p of batch) {
      const list = byTopic.get(p.record.topic);
      if (list) list.push(p);
      else byTopic.set(p.record.topic, [p]);
    }
    try {
      if (!producer || !connected) {
        producer ??= newProducer();
        await producer.connect();
      }
      const results = await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, list]) => ({
          topic,
          messages: list.map((p) => ({
            key: p.record.key,
            value: p.record.value,
            partition: p.partition,
            headers: p.record.headers,
          })),
        })),
      });
      const base = new Map(results.map((r) => [`${r.topicName}/${r.partition}`, BigInt(r.baseOffset ?? '0')]));
      const seen = new Map<string, bigint>();
      for (const p of batch) {
        const slot = `${p.record.topic}/${p.partition}`;
        const index = seen.get(slot) ?? 0n;
        seen.set(slot, index + 1n);
        const offset = base.get(slot);
        if (offset === undefined) {
          log.warn(
            { topic: p.record.topic, partition: p.partition },
            'kafka acknowledged the batch but not this partition',
          );
          settle(p, notAcknowledged());
        } else settle(p, { topic: p.record.topic, partition: p.partition, offset: (offset + index).toString() });
      }
      options.onBatch?.(batch.length, performance.now() - started);
    } catch (error) {
      log.warn({ err: error, records: batch.length, retriable: isRetriableKafkaError(error) }, 'kafka produce failed');
      for (const p of batch) settle(p, notAcknowledged());
      if (!connected) producer = undefined;
    }
  }

  function settle(p: Pending, outcome: Produced | Error) {
    if (p.settled) return;
    p.settled = true;
    clearTimeout(p.timer);
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  return {
    async start() {
      await admin.connect();
      producer = newProducer();
      await producer.connect();
    },
    ready: () => connected && !stopped,
    async send(records) {
      if (stopped) throw unavailable('the service is shutting down');
      if (records.length === 0) return [];
      let counts: number[];
      try {
        counts = await Promise.all(records.map((r) => partitionsOf(r.topic)));
      } catch (error) {
        log.warn({ err: error }, 'kafka topic metadata could not be read');
        throw notAcknowledged();
      }
      const promises = records.map(
        (record, i) =>
          new Promise<Produced>((resolve, reject) => {
            const pending: Pending = {
              record,
              partition: partitionForKey(record.topic, record.key, counts[i] ?? 1),
              resolve,
              reject,
              settled: false,
              timer: setTimeout(() => {
                const queued = queue.indexOf(pending);
                if (queued >= 0) queue.splice(queued, 1);
                settle(pending, unavailable(`Kafka did not acknowledge within ${timeoutMs} ms; retry`, { timeoutMs }));
              }, timeoutMs),
            };
            queue.push(pending);
          }),
      );
      schedule();
      return Promise.all(promises);
    },
    async stop() {
      stopped = true;
      while (inFlight || queue.length) {
        schedule();
        await (inFlight ?? new Promise((r) => setImmediate(r)));
      }
      await producer?.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
    },
  };
}
