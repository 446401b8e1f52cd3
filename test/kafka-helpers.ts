import { randomUUID } from 'node:crypto';
import { encodeEvent, type BehaviorEvent } from '../src/core/events.js';
import { createKafka, type KafkaMessage } from '../src/streams/kafka.js';
import { eventually } from './helpers.js';

export interface ReadRecord {
  partition: number;
  offset: string;
  key: string;
  value: Record<string, unknown>;
  headers: Record<string, string>;
}

/** Reads a topic from the beginning with an independent consumer group until `count` records arrived. */
export async function readTopic(
  brokers: string[],
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<ReadRecord[]> {
  const kafka = createKafka({ brokers, clientId: 'test-reader' });
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const records: ReadRecord[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }: { partition: number; message: KafkaMessage }) => {
      records.push({
        partition,
        offset: message.offset,
        key: String(message.key),
        value: parseOrRaw(message.value),
        headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
      });
    },
  });
  try {
    await eventually(async () => records.length >= count, { timeoutMs });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Sum of the latest offsets over a topic's partitions: how many records it holds. */
export async function topicSize(brokers: string[], topic: string): Promise<number> {
  const admin = createKafka({ brokers, clientId: 'test-admin' }).admin();
  await admin.connect();
  try {
    // Right after a topic is created the broker may briefly answer "not the leader": ask again.
    const { size } = await eventually(
      async () => {
        const offsets = await admin.fetchTopicOffsets(topic);
        return { size: offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0) };
      },
      { timeoutMs: 10_000 },
    );
    return size;
  } finally {
    await admin.disconnect();
  }
}

function parseOrRaw(value: Buffer | null): Record<string, unknown> {
  try {
    return JSON.parse(String(value)) as Record<string, unknown>;
  } catch {
    return { raw: String(value) };
  }
}

/** Writes behaviour events to `topic`, keyed by user as the API writes them, and waits for all replicas. */
export async function produceEvents(brokers: string[], topic: string, events: readonly BehaviorEvent[]): Promise<void> {
  const producer = createKafka({ brokers, clientId: 'test-producer' }).producer({
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: events.map((e) => ({ key: e.userId, value: encodeEvent(e) })),
    });
  } finally {
    await producer.disconnect();
  }
}
