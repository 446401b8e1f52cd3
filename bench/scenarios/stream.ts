import path from 'node:path';
import { Redis } from 'ioredis';
import { loadPatternRules } from '../../src/patterns/rules.js';
import { projectRoot } from '../../src/stack/paths.js';
import { createLogger } from '../../src/logger.js';
import { redisKeys } from '../../src/core/keys.js';
import { encodeEvent, type BehaviorEvent } from '../../src/core/events.js';
import { createFeatureWorker } from '../../src/streams/feature-worker.js';
import { createKafka, type Kafka } from '../../src/streams/kafka.js';
import { topicNames, topicSpecs, type Topics } from '../../src/core/topics.js';
import { measureClusterApply } from '../cluster-apply.js';
import { BATCH, measureStreamCost, type StreamCost } from '../stream-cost.js';
import { ITEM_WINDOW_MS } from '../../src/streams/item-window.js';
import { median, percentile, type BenchContext, type Row, type Scenario } from '../types.js';

const ACTIONS = ['VIEW', 'CLICK', 'LIKE', 'COMMENT', 'SHARE', 'SKIP'] as const;

function event(i: number, now: number): BehaviorEvent {
  return {
    v: 1,
    eventId: `bench-${now}-${i}`,
    userId: `bu${i % 5000}`,
    itemId: `bi${(i * 7) % 20000}`,
    action: ACTIONS[i % ACTIONS.length] ?? 'VIEW',
    occurredAt: now,
    receivedAt: now,
  };
}

async function freshTopics(kafka: Kafka, prefix: string) {
  const topics = topicNames(`${prefix}.`);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: topicSpecs(topics, 6, 1), waitForLeaders: true });
  await admin.disconnect();
  return topics;
}

/**
 * The stream worker under test, on its own key prefix and consumer group, with its own Redis
 * connections, as production runs it: the item window on a connection of its own and the shipped
 * behaviour patterns (patterns.json, which the service loads by default).
 */
async function startWorker(
  ctx: BenchContext,
  kafka: Kafka,
  prefix: string,
  topics: Topics,
  onApplied: NonNullable<Parameters<typeof createFeatureWorker>[0]['onApplied']>,
) {
  const redis = new Redis(ctx.redisUrl);
  const worker = createFeatureWorker({
    kafka,
    redis,
    connectItemRedis: async () => new Redis(ctx.redisUrl),
    patterns: loadPatternRules(path.join(projectRoot, 'patterns.json')),
    keys: redisKeys(prefix),
    topics,
    log: createLogger('warn'),
    groupId: `${prefix}-worker`,
    allowedLatenessMs: 120_000,
    onApplied,
  });
  await worker.start();
  return async () => {
    await worker.stop();
    redis.disconnect();
  };
}

/** Pre-fills a topic with `n` events, then times (a) raw consume-and-discard and (b) the worker applying them. */
async function throughput(ctx: BenchContext, kafka: Kafka, run: number, n: number) {
  const prefix = `${ctx.prefix}-tp${run}`;
  const topics = await freshTopics(kafka, prefix);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const now = Date.now();
  for (let i = 0; i < n; i += 2000) {
    await producer.send({
      topic: topics.behavior,
      acks: -1,
      messages: Array.from({ length: Math.min(2000, n - i) }, (_, j) => {
        const e = event(i + j, now);
        return { key: e.userId, value: encodeEvent(e) };
      }),
    });
  }
  await producer.disconnect();

  const raw = kafka.consumer({ groupId: `${prefix}-raw`, maxWaitTimeInMs: 20 });
  await raw.connect();
  await raw.subscribe({ topic: topics.behavior, fromBeginning: true });
  let seen = 0;
  let rawStart = 0;
  const rawDone = new Promise<number>((resolve) => {
    void raw.run({
      eachBatch: async ({ batch }) => {
        if (!rawStart) rawStart = performance.now();
        for (const m of batch.messages) if (m.value) seen++;
        if (seen >= n) resolve(performance.now());
      },
    });
  });
  const rawEnd = await rawDone;
  await raw.disconnect();

  let applied = 0;
  let start = 0;
  let resolveDone: (t: number) => void = () => {};
  const done = new Promise<number>((r) => (resolveDone = r));
  const stopWorker = await startWorker(ctx, kafka, prefix, topics, (s) => {
    if (!start) start = performance.now() - s.durationMs;
    applied += s.events.length;
    if (applied >= n) resolveDone(performance.now());
  });
  const end = await done;
  await stopWorker();
  return { raw: n / ((rawEnd - rawStart) / 1000), apply: n / ((end - start) / 1000) };
}

/** Produces at `rate` events/s for `seconds` and records receivedAt → applied (worker) or → consumed (raw). */
async function freshness(ctx: BenchContext, kafka: Kafka, rate: number, seconds: number, mode: 'raw' | 'worker') {
  const prefix = `${ctx.prefix}-fr-${mode}-${Date.now()}`;
  const topics = await freshTopics(kafka, prefix);
  const latencies: number[] = [];
  /** Worker only: accepted → the batch's item side applied too and its offset committed (the item window's wait included). */
  const settled: number[] = [];
  let stop: () => Promise<void>;
  if (mode === 'raw') {
    const consumer = kafka.consumer({ groupId: `${prefix}-raw`, maxWaitTimeInMs: 20 });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.behavior, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const t = Date.now();
        for (const m of batch.messages) latencies.push(t - (JSON.parse(String(m.value)) as BehaviorEvent).receivedAt);
      },
    });
    stop = () => consumer.disconnect();
  } else {
    stop = await startWorker(ctx, kafka, prefix, topics, (s) => {
      const t = Date.now();
      // Visible: the batch's users' own features and patterns in Redis, what their next feed reads.
      for (const e of s.events) {
        latencies.push(s.visibleAt - e.receivedAt);
        settled.push(t - e.receivedAt);
      }
    });
  }
  await new Promise((r) => setTimeout(r, 3000)); // group join
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const tickMs = 20;
  const perTick = Math.round((rate * tickMs) / 1000);
  const end = Date.now() + seconds * 1000;
  let i = 0;
  let next = Date.now();
  while (Date.now() < end) {
    const now = Date.now();
    await producer.send({
      topic: topics.behavior,
      acks: -1,
      messages: Array.from({ length: perTick }, () => {
        const e = event(i++, now);
        return { key: e.userId, value: encodeEvent(e) };
      }),
    });
    next += tickMs;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
  const expected = i;
  const deadline = Date.now() + 20_000;
  while (latencies.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await producer.disconnect();
  await stop();
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    settledP50: percentile(settled, 50),
    settledP99: percentile(settled, 99),
    count: latencies.length,
    expected,
  };
}

export const streamScenarios: Scenario[] = [
  {
    group: 'stream',
    name: 'stream apply',
    async run(ctx) {
      const kafka = createKafka({ brokers: ctx.brokers, clientId: 'bench-stream' });
      const n = ctx.quick ? 20_000 : 100_000;
      const repeats = ctx.quick ? 1 : 3;
      const raw: number[] = [];
      const apply: number[] = [];
      for (let r = 0; r < repeats; r++) {
        const t = await throughput(ctx, kafka, r, n);
        raw.push(t.raw);
        apply.push(t.apply);
      }
      const users = ctx.quick ? 300 : 1000;
      const cost = await measureStreamCost({ users, eventsPerUser: 50 });
      // The same mix in the batches a fetch returns at a live rate (a few dozen per partition) and
      // while the worker catches up a backlog (STREAM_BATCH_BYTES, about 1,800 per partition).
      const bySize = [];
      for (const batch of [50, 2000])
        bySize.push({ batch, ...(await measureStreamCost({ users, eventsPerUser: 50, batch })) });
      const top = (list: [string, number][], unit = '') =>
        list
          .slice(0, 4)
          .map(([name, n]) => `${name} ${n.toLocaleString('en-US')}${unit}`)
          .join(', ');
      // Where Redis' time goes: the users' steps against the item window, and how much of it the
      // scripts spent beyond the commands they ran.
      const split = (c: StreamCost) =>
        `users' steps ${c.redisMicrosPerEventByStep.users.toFixed(0)} µs, item window ${c.redisMicrosPerEventByStep.items.toFixed(0)} µs; ` +
        `${c.interpreterMicrosPerEvent.toFixed(0)} µs of it in the Lua interpreter beyond the commands the scripts ran`;
      const applied = await measureClusterApply({ users: ctx.quick ? 300 : 1000, eventsPerUser: 20 });
      const rate = 5000;
      const seconds = ctx.quick ? 6 : 20;
      const fw = await freshness(ctx, kafka, rate, seconds, 'worker');
      const fr = await freshness(ctx, kafka, rate, seconds, 'raw');
      const rows: Row[] = [
        {
          scenario: 'stream',
          metric: `Redis commands per event, scripts' own included (${cost.events.toLocaleString('en-US')} events of ${cost.users} users with patterns, batches of ${BATCH} per partition and the worker's item window of up to ${ITEM_WINDOW_MS} ms, ${Math.round(cost.eventsPerWindow).toLocaleString('en-US')} events per window, a Redis of its own; ${cost.scriptCallsPerEvent.toFixed(2)} script calls and ${cost.roundTripsPerEvent.toFixed(3)} round trips per event; most: ${top(cost.perCommand)})`,
          value: cost.commandsPerEvent,
          unit: 'commands',
          goal: { text: '≤ 8 Redis calls per event', met: cost.commandsPerEvent <= 8 },
        },
        {
          scenario: 'stream',
          metric: `Redis CPU per event (used_cpu_user + used_cpu_sys over the same run; ${split(cost)})`,
          value: cost.redisMicrosPerEvent,
          unit: 'µs',
        },
        ...bySize.flatMap((c) => [
          {
            scenario: 'stream',
            metric: `the same mix in batches of ${c.batch} per partition: Redis commands per event`,
            value: c.commandsPerEvent,
            unit: 'commands',
          },
          {
            scenario: 'stream',
            metric: `the same mix in batches of ${c.batch} per partition: Redis CPU per event (${split(c)})`,
            value: c.redisMicrosPerEvent,
            unit: 'µs',
          },
        ]),
        {
          scenario: 'stream',
          metric: `Redis per active user in the stream's own keys (same run, 50 events in 10 minutes each; ${cost.keysPerUser.toFixed(1)} keys; most: ${top(cost.byKind, ' B')})`,
          value: cost.bytesPerUser,
          unit: 'bytes',
          goal: { text: '≤ 3 KB per active user', met: cost.bytesPerUser <= 3072 },
        },
        {
          scenario: 'stream',
          metric: `apply ${n.toLocaleString('en-US')} events to Redis (the shipped patterns matched too)`,
          value: median(apply),
          unit: 'events/s',
          reference: { name: 'raw kafkajs consume-and-discard', value: median(raw) },
          runs: apply,
        },
        {
          scenario: 'stream',
          metric: `freshness p50 at ${rate} events/s (accepted → the user's features in Redis)`,
          value: fw.p50,
          unit: 'ms',
          reference: { name: 'raw kafkajs produce → consume p50', value: fr.p50 },
        },
        {
          scenario: 'stream',
          metric: `freshness p99 at ${rate} events/s (${fw.count}/${fw.expected} events)`,
          value: fw.p99,
          unit: 'ms',
          reference: { name: 'raw kafkajs produce → consume p99', value: fr.p99 },
        },
        {
          scenario: 'stream',
          metric: `freshness p50 / p99 at ${rate} events/s of the item side (accepted → items, co-visitation and trending in Redis and the offset committed; the item window waits up to ${ITEM_WINDOW_MS} ms): p99 ${Math.round(fw.settledP99)} ms`,
          value: fw.settledP50,
          unit: 'ms',
        },
      ];
      for (const appliers of [1, 3]) {
        const single = applied.find((r) => r.appliers === appliers && r.topology === 'one Redis');
        const cluster = applied.find((r) => r.appliers === appliers && r.topology !== 'one Redis');
        if (!single || !cluster) continue;
        rows.push({
          scenario: 'stream',
          metric: `apply on a Redis Cluster of 3 masters (a replica each), ${appliers} applier${appliers === 1 ? '' : 's'} in parallel without Kafka (${cluster.events.toLocaleString('en-US')} events; Redis CPU per master ${cluster.cpuShares.map((c) => `${Math.round(100 * c)} %`).join(' / ')})`,
          value: cluster.eventsPerSec,
          unit: 'events/s',
          reference: { name: 'one Redis, same appliers and events', value: single.eventsPerSec },
        });
      }
      return rows;
    },
  },
];
