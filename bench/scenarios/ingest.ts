import {
  RecordInteractionCountsDocument,
  RecordInteractionDocument,
  requestBody,
  type InteractionInput,
} from '../../src/client/index.js';
import { createKafka } from '../../src/streams/kafka.js';
import { load } from '../load.js';
import { median, type BenchContext, type Row, type Scenario } from '../types.js';

export const BATCH_SIZE = 100;

/** A `recordInteractions` body of `n` VIEWs over the bench's users and items. */
export function batchBody(n: number, seed: number) {
  const inputs = Array.from({ length: n }, (_, i): InteractionInput => ({
    userId: `bench-u${(seed * 31 + i) % 5000}`,
    itemId: `bench-i${(seed * 17 + i * 7) % 20000}`,
    action: 'VIEW',
  }));
  return requestBody(RecordInteractionCountsDocument, { inputs });
}

/** Raw kafkajs: idempotent producer, acks=all, sendBatch of BATCH_SIZE records, `inFlight` senders. */
async function rawSendBatch(ctx: BenchContext, seconds: number): Promise<number> {
  const kafka = createKafka({ brokers: ctx.brokers, clientId: 'bench-raw' });
  const topic = `${ctx.prefix}.raw-ingest`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const value = Buffer.from(
    JSON.stringify({
      v: 1,
      eventId: 'x'.repeat(36),
      userId: 'bench-u1',
      itemId: 'bench-i1',
      action: 'VIEW',
      occurredAt: Date.now(),
      receivedAt: Date.now(),
    }),
  );
  const end = Date.now() + seconds * 1000;
  let sent = 0;
  let n = 0;
  while (Date.now() < end) {
    const messages = Array.from({ length: BATCH_SIZE * 4 }, () => ({ key: `bench-u${n++ % 5000}`, value }));
    await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages }] });
    sent += messages.length;
  }
  await producer.disconnect();
  return sent / seconds;
}

/** `count` single `recordInteraction` bodies (a LIKE each). */
export const singleBodiesFor = (count: number) =>
  Array.from({ length: count }, (_, i) =>
    requestBody(RecordInteractionDocument, {
      input: { userId: `bench-u${i % 5000}`, itemId: `bench-i${i}`, action: 'LIKE' },
    }),
  );

export const ingestScenarios: Scenario[] = [
  {
    group: 'ingest',
    name: 'ingestion',
    async run(ctx) {
      const seconds = ctx.quick ? 3 : 10;
      const repeats = ctx.quick ? 1 : 3;
      const singleBodies = singleBodiesFor(1000);
      const batchBodies = Array.from({ length: 50 }, (_, i) => batchBody(BATCH_SIZE, i));
      const bareBodies = [JSON.stringify({ query: 'mutation { record(userId: "u1", itemId: "i1") }' })];
      // Warm-up of both servers: JIT, producer connection, topic metadata.
      await load({ url: ctx.url, seconds: 2, connections: 20, bodies: batchBodies });
      await load({ url: ctx.referenceUrl, seconds: 2, connections: 20, bodies: bareBodies });

      const single: number[] = [];
      const singleP99: number[] = [];
      const batched: number[] = [];
      const batchedP99: number[] = [];
      const raw: number[] = [];
      const bare: number[] = [];
      for (let r = 0; r < repeats; r++) {
        bare.push((await load({ url: ctx.referenceUrl, seconds, connections: 64, bodies: bareBodies })).rps);
        const s = await load({ url: ctx.url, seconds, connections: 64, bodies: singleBodies });
        single.push(s.rps);
        singleP99.push(s.p99);
        const b = await load({ url: ctx.url, seconds, connections: 16, bodies: batchBodies });
        batched.push(b.rps * BATCH_SIZE);
        batchedP99.push(b.p99);
        raw.push(await rawSendBatch(ctx, seconds));
      }
      const reference = { name: 'raw kafkajs sendBatch, acks=all', value: median(raw) };
      const rows: Row[] = [
        {
          scenario: 'ingestion',
          metric: 'single recordInteraction, 64 connections',
          value: median(single),
          unit: 'events/s',
          reference: { name: 'bare graphql-yoga mutation, no I/O', value: median(bare) },
          runs: single,
        },
        {
          scenario: 'ingestion',
          metric: 'single recordInteraction p99 latency',
          value: median(singleP99),
          unit: 'ms',
          runs: singleP99,
        },
        {
          scenario: 'ingestion',
          metric: `recordInteractions × ${BATCH_SIZE}, 16 connections`,
          value: median(batched),
          unit: 'events/s',
          reference,
          runs: batched,
        },
        {
          scenario: 'ingestion',
          metric: `recordInteractions × ${BATCH_SIZE} p99 latency`,
          value: median(batchedP99),
          unit: 'ms',
          runs: batchedP99,
        },
      ];
      return rows;
    },
  },
];
