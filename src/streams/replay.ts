/**
 * Reads a topic's records from a point in log time up to the log end as it was when the read
 * started, with a throwaway consumer group that commits nothing: for batch jobs (long-horizon
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
  const admin = kafka.admin();
  await admin.connect();
  const [starts, ends] = await Promise.all([
    admin.fetchTopicOffsetsByTimestamp(topic, since),
    admin.fetchTopicOffsets(topic),
  ]).finally(() => admin.disconnect());
  const remaining = new Map<number, bigint>();
  for (const end of ends) {
    const start = BigInt(starts.find((s) => s.partition === end.partition)?.offset ?? end.low);
    const high = BigInt(end.high);
    if (high > start) remaining.set(end.partition, high);
  }
  let records = 0;
  if (remaining.size === 0) return { records };
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
    for (const start of starts)
      if (remaining.has(start.partition)) consumer.seek({ topic, partition: start.partition, offset: start.offset });
    await done;
  } finally {
    await consumer.disconnect();
  }
  return { records };
}
