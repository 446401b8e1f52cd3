/**
 * Reads a topic's records from a point in log time (or from given offsets) up to the log end as it
 * was when the read started, with a throwaway consumer group that commits nothing: for batch jobs (long-horizon
 * preferences, model training) that must see a fixed slice of the log.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from './kafka.js';

export async function replayTopic(
  kafka: Kafka,
  topic: string,
  since: number,
  onRecord: (value: Buffer | null, partition: number, offset: string) => void,
): Promise<{ records: number }> {
  const { records } = await replayRange(kafka, topic, { since }, onRecord);
  return { records };
}

/** Where a read covered, per partition: from `start` (inclusive) to `end` (exclusive). */
export interface ReplayedRange {
  records: number;
  starts: Map<number, string>;
  ends: Map<number, string>;
}

/**
 * Like replayTopic, from per-partition offsets where given (a consumer that keeps its own
 * progress, e.g. in Redis) and from log time `since` elsewhere. Returns the range it covered, so
 * the caller can store where to go on next time.
 */
export async function replayRange(
  kafka: Kafka,
  topic: string,
  from: { since: number; offsets?: ReadonlyMap<number, string> },
  onRecord: (value: Buffer | null, partition: number, offset: string) => void,
): Promise<ReplayedRange> {
  const admin = kafka.admin();
  await admin.connect();
  const [byTime, ends] = await Promise.all([
    admin.fetchTopicOffsetsByTimestamp(topic, from.since),
    admin.fetchTopicOffsets(topic),
  ]).finally(() => admin.disconnect());
  const starts = new Map<number, string>();
  const endOffsets = new Map<number, string>();
  const remaining = new Map<number, bigint>();
  for (const end of ends) {
    const low = BigInt(end.low);
    const given = from.offsets?.get(end.partition);
    let start = BigInt(given ?? byTime.find((s) => s.partition === end.partition)?.offset ?? end.low);
    // An offset the log no longer holds (retention) starts at the oldest record instead.
    if (start < low) start = low;
    const high = BigInt(end.high);
    starts.set(end.partition, start.toString());
    endOffsets.set(end.partition, (start > high ? start : high).toString());
    if (high > start) remaining.set(end.partition, high);
  }
  let records = 0;
  if (remaining.size === 0) return { records, starts, ends: endOffsets };
  const consumer = kafka.consumer({ groupId: `feedrec-replay-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch, resolveOffset }) => {
            const end = remaining.get(batch.partition);
            if (end === undefined) return;
            for (const message of batch.messages) {
              if (BigInt(message.offset) >= end) break;
              records++;
              onRecord(message.value, batch.partition, message.offset);
              resolveOffset(message.offset);
              if (BigInt(message.offset) + 1n >= end) {
                remaining.delete(batch.partition);
                if (remaining.size === 0) resolve();
                break;
              }
            }
          },
        })
        .catch(reject);
    });
    for (const [partition, offset] of starts) if (remaining.has(partition)) consumer.seek({ topic, partition, offset });
    await done;
  } finally {
    await consumer.disconnect();
  }
  return { records, starts, ends: endOffsets };
}
