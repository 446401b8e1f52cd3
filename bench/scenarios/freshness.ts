/**
 * Freshness through the whole write path: behaviour sent to the API at a fixed rate (a
 * `recordInteractions` batch every 20 ms) until each event is visible in Redis, i.e. until the
 * stream worker's recorded progress for the event's partition reaches the offset the API returned
 * for it. Measured from the moment the request was sent, so it includes the API accepting the
 * event (and Kafka acknowledging it) and is an upper bound of "accepted → visible". The service's
 * own `stream_freshness_ms` histogram (receivedAt → applied, bucketed) is read beside it, and raw
 * kafkajs produce → consume at the same rates is the reference.
 */
import { localApiClient, ensureCatalogue, recordBatch, type InteractionInput } from '../api.js';
import { bucketDelta, histogramBuckets, histogramQuantile, metricsText, type Buckets } from '../observe.js';
import { watchStream, type StreamProgress } from '../stream-progress.js';
import { createKafka, type Kafka } from '../../src/streams/kafka.js';
import { median, paced, percentile, sleep, type BenchContext, type Row, type Scenario } from '../types.js';

const TICK_MS = 20;
/** Requests allowed in flight before a tick is skipped (and the achieved rate shows it). */
const MAX_IN_FLIGHT = 200;
const USERS = 5000;
const ACTIONS = ['VIEW', 'CLICK', 'LIKE', 'SKIP'] as const;

interface RateRun {
  /** Per event: request sent → its user's own features in Redis (what their next feed reads), ms. */
  latencies: number[];
  /** Per event: request sent → its item side applied too (the item window), ms; API runs only. */
  settled?: number[];
  sent: number;
  /** Events never seen applied within the wait. */
  missing: number;
  achievedRate: number;
}

async function throughApi(
  ctx: BenchContext,
  progress: { users: StreamProgress; settled: StreamProgress },
  itemIds: string[],
  rate: number,
  seconds: number,
): Promise<RateRun> {
  const client = localApiClient(ctx.url);
  const perTick = Math.round((rate * TICK_MS) / 1000);
  const latencies: number[] = [];
  const settled: number[] = [];
  const pending: Promise<void>[] = [];
  let inFlight = 0;
  let sent = 0;
  let missing = 0;
  let n = 0;
  const elapsed = await paced(seconds, TICK_MS, () => {
    if (inFlight >= MAX_IN_FLIGHT) return;
    const inputs: InteractionInput[] = Array.from({ length: perTick }, () => {
      const i = n++;
      return {
        userId: `fu${i % USERS}`,
        itemId: itemIds[(i * 7) % itemIds.length] ?? 'bi0',
        action: ACTIONS[i % ACTIONS.length] ?? 'VIEW',
      };
    });
    inFlight++;
    const sentAt = performance.now();
    pending.push(
      recordBatch(client, inputs).then(async (positions) => {
        inFlight--;
        sent += positions.length;
        // The worker applies what one request put in a partition in one batch, so the request's
        // last offset per partition stands for all of its events there.
        const last = new Map<number, { offset: number; events: number }>();
        for (const p of positions) {
          const e = last.get(p.partition) ?? { offset: -1, events: 0 };
          last.set(p.partition, { offset: Math.max(e.offset, p.offset), events: e.events + 1 });
        }
        await Promise.all(
          [...last].map(async ([partition, { offset, events }]) => {
            const [at, done] = await Promise.all([
              progress.users.visible({ partition, offset }, 30_000),
              progress.settled.visible({ partition, offset }, 30_000),
            ]);
            for (let k = 0; k < events; k++)
              if (Number.isNaN(at) || Number.isNaN(done)) missing++;
              else {
                latencies.push(at - sentAt);
                settled.push(done - sentAt);
              }
          }),
        );
      }),
    );
  });
  await Promise.all(pending);
  return { latencies, settled, sent, missing, achievedRate: sent / elapsed };
}

/** Raw kafkajs at the same rates: one idempotent acks=all producer, one consumer, this process. */
async function rawKafka(ctx: BenchContext, kafka: Kafka) {
  const topic = `${ctx.prefix}.raw-freshness`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `${ctx.prefix}-raw-freshness`, maxWaitTimeInMs: 20 });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topic, fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  let sink: number[] = [];
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const at = performance.now();
      for (const m of batch.messages) sink.push(at - Number(m.headers?.sentAt?.toString()));
    },
  });
  await joined;
  return {
    async run(rate: number, seconds: number): Promise<RateRun> {
      const latencies: number[] = [];
      sink = latencies;
      const perTick = Math.round((rate * TICK_MS) / 1000);
      const pending: Promise<unknown>[] = [];
      let sent = 0;
      let n = 0;
      const elapsed = await paced(seconds, TICK_MS, () => {
        const sentAt = String(performance.now());
        const messages = Array.from({ length: perTick }, () => {
          const i = n++;
          // The same size and shape as an event the API produces.
          const value = JSON.stringify({
            v: 1,
            eventId: `raw-${i}-${'x'.repeat(28)}`,
            userId: `fu${i % USERS}`,
            itemId: `bi${(i * 7) % 5000}`,
            action: ACTIONS[i % ACTIONS.length],
            occurredAt: Date.now(),
            receivedAt: Date.now(),
          });
          return { key: `fu${i % USERS}`, value, headers: { sentAt } };
        });
        pending.push(producer.send({ topic, acks: -1, messages }).then(() => (sent += messages.length)));
      });
      await Promise.all(pending);
      const deadline = Date.now() + 30_000;
      while (latencies.length < sent && Date.now() < deadline) await sleep(20);
      return { latencies, sent, missing: sent - latencies.length, achievedRate: sent / elapsed };
    },
    async stop() {
      await Promise.all([consumer.disconnect(), producer.disconnect()]);
    },
  };
}

/** The stream worker's `stream_freshness_ms` buckets (from its own process's /metrics when it has one), cumulative, in `le` order. */
const freshnessBuckets = async (url: string) => histogramBuckets(await metricsText(url), 'stream_freshness_ms');

export const freshnessScenarios: Scenario[] = [
  {
    group: 'freshness',
    name: 'freshness',
    async run(ctx) {
      const rates = [1000, 5000];
      const seconds = ctx.quick ? 4 : 10;
      const repeats = ctx.quick ? 1 : 3;
      const itemIds = (await ensureCatalogue(ctx, ctx.service)).map((i) => i.id);
      const progress = { users: watchStream(ctx, ctx.service, 1, 'users'), settled: watchStream(ctx, ctx.service) };
      const raw = await rawKafka(ctx, createKafka({ brokers: ctx.brokers, clientId: 'bench-freshness' }));
      const rows: Row[] = [];
      try {
        // Warm-up: the API's producer and the worker's fetch loop.
        await throughApi(ctx, progress, itemIds, 500, 1);
        for (const rate of rates) {
          const api: RateRun[] = [];
          const server: Buckets[] = [];
          const reference: RateRun[] = [];
          for (let r = 0; r < repeats; r++) {
            await progress.settled.drain();
            const before = await freshnessBuckets(ctx.service.streamMetricsUrl);
            api.push(await throughApi(ctx, progress, itemIds, rate, seconds));
            server.push(bucketDelta(await freshnessBuckets(ctx.service.streamMetricsUrl), before));
            reference.push(await raw.run(rate, seconds));
          }
          const stat = (runs: RateRun[], p: number) => median(runs.map((x) => percentile(x.latencies, p)));
          const label = `${rate.toLocaleString('en-US')} events/s`;
          const achieved = median(api.map((x) => x.achievedRate));
          const missing = api.reduce((s, x) => s + x.missing, 0);
          const sent = api.reduce((s, x) => s + x.sent, 0);
          rows.push({
            scenario: 'freshness',
            metric: `${label} offered (batches every ${TICK_MS} ms): achieved; ${sent - missing}/${sent} seen applied`,
            value: achieved,
            unit: 'events/s',
            reference: {
              name: 'raw kafkajs produce, same pacing',
              value: median(reference.map((x) => x.achievedRate)),
            },
            runs: api.map((x) => x.achievedRate),
          });
          for (const p of [50, 99]) {
            const value = stat(api, p);
            rows.push({
              scenario: 'freshness',
              metric: `${label}: request sent → the user's own features in Redis p${p}`,
              value,
              unit: 'ms',
              reference: { name: `raw kafkajs produce → consume p${p}`, value: stat(reference, p) },
              ...(rate === 5000 && p === 99
                ? {
                    goal: { text: '< 50 ms at 5,000 events/s', met: value < 50 && achieved >= 0.95 * rate && !missing },
                  }
                : {}),
              runs: api.map((x) => percentile(x.latencies, p)),
            });
          }
          for (const p of [50, 99])
            rows.push({
              scenario: 'freshness',
              metric: `${label}: request sent → its item side too (items, co-visitation, trending: the item window) p${p}`,
              value: median(api.map((x) => percentile(x.settled ?? [], p))),
              unit: 'ms',
              runs: api.map((x) => percentile(x.settled ?? [], p)),
            });
          rows.push({
            scenario: 'freshness',
            metric: `${label}: service histogram (receivedAt → applied, bucketed) p99`,
            value: median(server.map((b) => histogramQuantile(b, 0.99))),
            unit: 'ms',
            runs: server.map((b) => histogramQuantile(b, 0.99)),
          });
        }
      } finally {
        await raw.stop();
        await Promise.all([progress.users.close(), progress.settled.close()]);
      }
      return rows;
    },
  },
];
