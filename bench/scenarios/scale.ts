/**
 * Scale-out, measured in one run on two topologies: the bench's single-node stack (one broker, one
 * Redis) and a clustered stack started for this group (three KRaft brokers, replication factor 3
 * and min.insync.replicas 2; a Redis Cluster of three masters with a replica each).
 *
 * - Stream apply: the bench's event mix (bench/stream-cost.ts) produced to a 12-partition topic and
 *   applied by 1, 2 and 4 `npm run worker` processes in one consumer group on the cluster, next to
 *   1 worker process on one node. The rate is taken between 10 % and 90 % of the events applied
 *   (group joins and the tail left out).
 * - `recommendations` over 500 supplied candidates, saturated: 1 and 2 API instances on one prefix
 *   (the second without a worker of its own) on the cluster, next to 1 instance on one node.
 *
 * Beside every figure: what each process did (events and CPU per worker; requests and CPU per API
 * instance), each Redis master's share of CPU and commands, and how busy the machine was. Those
 * per-unit costs (worker CPU per event, Redis CPU and commands per event and per request, API CPU
 * per request) are what docs/capacity.md sizes a deployment from. On a 2-core machine shared by
 * three brokers, six Redis nodes, the workers and the load generator, added processes cannot add
 * throughput; the per-process figures show whether the work is spread evenly.
 */
import { Redis } from 'ioredis';
import { encodeEvent } from '../../src/core/events.js';
import { redisKeys } from '../../src/core/keys.js';
import { topicNames } from '../../src/core/topics.js';
import { createLogger } from '../../src/logger.js';
import { connectRedis, execPipeline, pipelineOf } from '../../src/redis/client.js';
import { waitFor } from '../../src/runtime/wait.js';
import { createLocalStack } from '../../src/stack/local-stack.js';
import { createKafka } from '../../src/streams/kafka.js';
import {
  behaviourOf,
  benchCatalogue,
  localApiClient,
  publishCatalogue,
  recordAll,
  type CatalogueItem,
} from '../api.js';
import { load } from '../load.js';
import { cpuSecondsOf, machineTicks, metricSum, redisCpuSeconds } from '../observe.js';
import { spawnServer, startServiceUnderTest, workerReady, type SpawnedServer } from '../service.js';
import { streamMix } from '../stream-cost.js';
import { watchStream } from '../stream-progress.js';
import { median, sleep, type BenchContext, type Row, type Scenario, type ServiceUnderTest } from '../types.js';
import { BATCH_SIZE, batchBody, singleBodiesFor } from './ingest.js';
import { bodiesFor, CONNECTIONS, feedCheck } from './recommendations.js';

const PARTITIONS = 12;
const WORKER_COUNTS = [1, 2, 4];
/** Offered req/s for the per-request / per-instance split (below one instance's saturation here). */
const FIXED_RATES = [15, 45] as const;

interface Topology {
  name: string;
  brokers: string[];
  /** redis:// or redis-cluster:// */
  redisUrl: string;
  /** A redis:// URL per master, for INFO. */
  masters: string[];
  /** Service settings this topology needs (the topics' replication factor). */
  env: Record<string, string>;
}

/** Redis' own CPU seconds and commands processed so far, per master. */
async function redisCounters(masters: string[]) {
  return Promise.all(
    masters.map(async (url) => {
      const probe = new Redis(url);
      try {
        const stats = await probe.info('stats');
        return {
          cpu: await redisCpuSeconds(probe),
          commands: Number(/total_commands_processed:(\d+)/.exec(stats)?.[1] ?? 0),
        };
      } finally {
        probe.disconnect();
      }
    }),
  );
}

/** What the masters, some processes and the machine used between `start()` and `stop()`. */
function usage(masters: string[], pids: () => number[]) {
  let before: Awaited<ReturnType<typeof redisCounters>> = [];
  let cpuBefore: number[] = [];
  let ticksBefore = machineTicks();
  return {
    async start() {
      before = await redisCounters(masters);
      cpuBefore = pids().map(cpuSecondsOf);
      ticksBefore = machineTicks();
    },
    async stop() {
      const after = await redisCounters(masters);
      const ticks = machineTicks();
      return {
        redisCpu: after.map((a, i) => a.cpu - (before[i]?.cpu ?? 0)),
        redisCommands: after.map((a, i) => a.commands - (before[i]?.commands ?? 0)),
        processCpu: pids().map((pid, i) => cpuSecondsOf(pid) - (cpuBefore[i] ?? 0)),
        machineBusy: (ticks.busy - ticksBefore.busy) / Math.max(1, ticks.total - ticksBefore.total),
      };
    },
  };
}

type Usage = Awaited<ReturnType<ReturnType<typeof usage>['stop']>>;

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const shares = (xs: number[]) => {
  const total = sum(xs);
  return xs.map((x) => `${Math.round((100 * x) / Math.max(total, 1e-9))} %`).join(' / ');
};

/** Starts `count` worker processes in one group on `prefix`: the first creates the topics, the rest join it. */
async function startWorkers(topology: Topology, prefix: string, count: number): Promise<SpawnedServer[]> {
  const env = {
    KAFKA_BROKERS: topology.brokers.join(','),
    REDIS_URL: topology.redisUrl,
    KAFKA_TOPIC_PREFIX: `${prefix}.`,
    REDIS_KEY_PREFIX: prefix,
    STREAM_GROUP_ID: `${prefix}-features`,
    EXPERIMENT_WORKER_ENABLED: 'false',
    WORKER_METRICS_PORT: '0',
    KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
    LOG_LEVEL: 'info',
    ...topology.env,
  };
  const workers = [await spawnServer('src/worker.ts', env, { ready: workerReady })];
  try {
    workers.push(
      ...(await Promise.all(
        Array.from({ length: count - 1 }, () => spawnServer('src/worker.ts', env, { ready: workerReady })),
      )),
    );
  } catch (error) {
    await Promise.all(workers.map((w) => w.stop()));
    throw error;
  }
  return workers;
}

interface StreamRun {
  topology: string;
  workers: number;
  events: number;
  eventsPerSec: number;
  /** Events each worker handled (its stream_events_total). */
  perWorkerEvents: number[];
  used: Usage;
}

/**
 * Produces `events` to a fresh topic once `workers` processes hold its partitions, and times them
 * applying it (from the worker's own progress hash in Redis).
 */
async function streamRun(
  ctx: BenchContext,
  topology: Topology,
  workers: number,
  items: CatalogueItem[],
  mix: { users: number; eventsPerUser: number },
  tag: string,
): Promise<StreamRun> {
  // Made now, so every run's events are as recent (the same windows and lateness) as the first's.
  const events = streamMix(items, mix).all;
  const prefix = `${ctx.prefix}-scale-${tag}`;
  const groupId = `${prefix}-features`;
  const topic = topicNames(`${prefix}.`).behavior;
  const keys = redisKeys(prefix);
  const redis = await connectRedis(topology.redisUrl, createLogger('silent'), 'bench-scale');
  const admin = createKafka({ brokers: topology.brokers, clientId: 'bench-scale' }).admin();
  await admin.connect();
  let processes: SpawnedServer[] = [];
  try {
    const meta = pipelineOf(redis);
    for (const item of items) meta.hset(keys.item(item.id), { category: item.category, tags: item.tags.join(',') });
    await execPipeline(meta);
    processes = await startWorkers(topology, prefix, workers);
    await waitFor(
      `${workers} worker(s) holding the partitions`,
      async () => {
        const [group] = (await admin.describeGroups([groupId])).groups;
        if (group?.state !== 'Stable' || group.members.length !== workers)
          throw new Error(`group ${group?.state} with ${group?.members.length} members`);
        return true;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    const pids = () => processes.map((p) => p.child.pid ?? 0);
    const metricsBefore = await Promise.all(processes.map((p) => fetch(p.url).then((r) => r.text())));
    const meter = usage(topology.masters, pids);
    await meter.start();
    const producer = createKafka({ brokers: topology.brokers, clientId: 'bench-scale-producer' }).producer();
    await producer.connect();
    const started = performance.now();
    const produced = (async () => {
      for (let i = 0; i < events.length; i += 2000)
        await producer.send({
          topic,
          acks: -1,
          messages: events.slice(i, i + 2000).map((e) => ({ key: e.userId, value: encodeEvent(e) })),
        });
    })();
    const offsetsKey = keys.streamOffsets(groupId, topic);
    const samples: [at: number, applied: number][] = [];
    const deadline = started + 300_000;
    for (;;) {
      const progress = await redis.hgetall(offsetsKey);
      const applied = sum(Object.values(progress).map((o) => Number(o) + 1));
      samples.push([performance.now(), applied]);
      if (applied >= events.length) break;
      if (performance.now() > deadline)
        throw new Error(`${applied} of ${events.length} events applied after ${(deadline - started) / 1000} s`);
      await sleep(100);
    }
    await produced;
    await producer.disconnect();
    const used = await meter.stop();
    const metricsAfter = await Promise.all(processes.map((p) => fetch(p.url).then((r) => r.text())));
    const when = (share: number) => samples.find(([, n]) => n >= share * events.length)?.[0] ?? Number.NaN;
    const [from, to] = [when(0.1), when(0.9)];
    return {
      topology: topology.name,
      workers,
      events: events.length,
      eventsPerSec: (0.8 * events.length) / ((to - from) / 1000),
      perWorkerEvents: metricsAfter.map(
        (text, i) => metricSum(text, 'stream_events_total') - metricSum(metricsBefore[i] ?? '', 'stream_events_total'),
      ),
      used,
    };
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await admin.disconnect();
    redis.disconnect();
  }
}

interface ServingRun {
  topology: string;
  instances: number;
  rps: number;
  requests: number;
  p99: number;
  perInstanceRps: number[];
  /** API CPU ms per request, per instance. */
  cpuMsPerRequest: number[];
  used: Usage;
}

/** Saturated `recommendations` load spread evenly over `services` (CONNECTIONS in all). */
async function servingRun(
  topology: Topology,
  services: ServiceUnderTest[],
  bodies: string[],
  seconds: number,
): Promise<ServingRun> {
  const meter = usage(topology.masters, () => services.map((s) => s.pid));
  await meter.start();
  const results = await Promise.all(
    services.map((s) =>
      load({
        url: s.url,
        seconds,
        connections: Math.round(CONNECTIONS / services.length),
        bodies,
        check: feedCheck,
      }),
    ),
  );
  const used = await meter.stop();
  return {
    topology: topology.name,
    instances: services.length,
    rps: sum(results.map((r) => r.rps)),
    requests: sum(results.map((r) => r.requests)),
    p99: Math.max(...results.map((r) => r.p99)),
    perInstanceRps: results.map((r) => r.rps),
    cpuMsPerRequest: results.map((r, i) => (1000 * (used.processCpu[i] ?? 0)) / Math.max(1, r.requests)),
    used,
  };
}

/** The catalogue and `users` users' behaviour through `service`'s API, applied by its worker. */
async function prepareServing(topology: Topology, service: ServiceUnderTest, users: number, eventsPerUser: number) {
  const items = benchCatalogue(5000);
  await publishCatalogue(topology, service, items);
  const behaviour = behaviourOf(items);
  await recordAll(
    localApiClient(service.url),
    Array.from({ length: users }, (_, u) => behaviour(`ru${u}`, eventsPerUser)).flat(),
  );
  const progress = watchStream(topology, service);
  try {
    await progress.drain();
  } finally {
    await progress.close();
  }
  return items.map((i) => i.id);
}

/** Mean bytes (key + value) of the first `limit` records of `topic`: what a broker stores per record. */
async function meanRecordBytes(brokers: string[], topic: string, limit = 2000): Promise<number> {
  const consumer = createKafka({ brokers, clientId: 'bench-scale-sizes' }).consumer({
    groupId: `bench-sizes-${topic}-${Date.now()}`,
    maxWaitTimeInMs: 50,
  });
  await consumer.connect();
  let count = 0;
  let bytes = 0;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 15_000);
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            if (count >= limit) break;
            count++;
            bytes += (m.key?.length ?? 0) + (m.value?.length ?? 0);
          }
          if (count >= limit) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return count ? bytes / count : Number.NaN;
}

const per = (xs: number[], digits = 0) => xs.map((x) => x.toFixed(digits)).join(' / ');

function streamRows(runs: StreamRun[], reference: StreamRun[]): Row[] {
  const ref = median(reference.map((r) => r.eventsPerSec));
  const rows: Row[] = [];
  for (const group of [reference, ...WORKER_COUNTS.map((k) => runs.filter((r) => r.workers === k))]) {
    const last = group.at(-1);
    if (!last) continue;
    const events = last.events;
    const workerCpu = sum(last.used.processCpu);
    const redisCpu = sum(last.used.redisCpu);
    rows.push({
      scenario: 'scale',
      metric:
        `stream apply, ${last.topology}, ${last.workers} worker process(es), ${PARTITIONS} partitions ` +
        `(last run: events per worker ${shares(last.perWorkerEvents)}; worker CPU ${per(last.used.processCpu, 1)} s; ` +
        `Redis CPU per master ${shares(last.used.redisCpu)}, commands per master ${shares(last.used.redisCommands)}; ` +
        `machine busy ${Math.round(100 * last.used.machineBusy)} %)`,
      value: median(group.map((r) => r.eventsPerSec)),
      unit: 'events/s',
      ...(group === reference ? {} : { reference: { name: 'one node, 1 worker process', value: ref } }),
      runs: group.map((r) => r.eventsPerSec),
    });
    rows.push({
      scenario: 'scale',
      metric: `stream apply, ${last.topology}, ${last.workers} worker process(es): worker CPU per event (all workers; Redis CPU ${((1e6 * redisCpu) / events).toFixed(0)} µs and ${(sum(last.used.redisCommands) / events).toFixed(1)} commands per event over all masters)`,
      value: (1e6 * workerCpu) / events,
      unit: 'µs',
    });
  }
  return rows;
}

function servingRows(runs: ServingRun[], reference: ServingRun[]): Row[] {
  const ref = median(reference.map((r) => r.rps));
  const rows: Row[] = [];
  for (const group of [reference, ...[1, 2].map((n) => runs.filter((r) => r.instances === n))]) {
    const last = group.at(-1);
    if (!last) continue;
    rows.push({
      scenario: 'scale',
      metric:
        `recommendations over 500 candidates, ${last.topology}, ${last.instances} API instance(s), saturated ` +
        `(last run: req/s per instance ${per(last.perInstanceRps)}; API CPU per request ${per(last.cpuMsPerRequest, 2)} ms; ` +
        `Redis CPU per master ${shares(last.used.redisCpu)}; machine busy ${Math.round(100 * last.used.machineBusy)} %; p99 ${last.p99} ms)`,
      value: median(group.map((r) => r.rps)),
      unit: 'req/s',
      ...(group === reference ? {} : { reference: { name: 'one node, 1 API instance', value: ref } }),
      runs: group.map((r) => r.rps),
    });
    rows.push({
      scenario: 'scale',
      metric: `recommendations, ${last.topology}, ${last.instances} API instance(s): Redis CPU per request over all masters (${(sum(last.used.redisCommands) / Math.max(1, last.requests)).toFixed(1)} commands per request)`,
      value: (1e6 * sum(last.used.redisCpu)) / Math.max(1, last.requests),
      unit: 'µs',
    });
  }
  return rows;
}

/** Redis and API CPU seconds per second at one fixed request rate. */
type Reading = { rate: number; redis: number; api: number };

/** Per-request and per-instance costs from the two fixed-rate readings (a straight line through them). */
function splitRows(fixed: Reading[]): Row[] {
  const [low, high] = fixed;
  if (!low || !high) return [];
  const line = (pick: (f: Reading) => number) => {
    const slope = (pick(high) - pick(low)) / (high.rate - low.rate);
    return { perRequest: slope, perInstance: pick(low) - slope * low.rate };
  };
  const redis = line((f) => f.redis);
  const api = line((f) => f.api);
  const at = `one node, 1 API instance, 500 candidates at ${low.rate} and ${high.rate} req/s, a 5,000-item catalogue`;
  return [
    {
      scenario: 'scale',
      metric: `recommendations: Redis CPU per request, the part that grows with requests (${at})`,
      value: 1e6 * redis.perRequest,
      unit: 'µs',
    },
    {
      scenario: 'scale',
      metric: `recommendations: Redis CPU per API instance whatever its rate: its caches re-reading hot items and neighbour lists (${at})`,
      value: 1000 * redis.perInstance,
      unit: 'ms/s',
    },
    {
      scenario: 'scale',
      metric: `recommendations: API CPU per request, the part that grows with requests (${at}; ${(1000 * api.perInstance).toFixed(0)} ms/s whatever the rate)`,
      value: 1000 * api.perRequest,
      unit: 'ms',
    },
  ];
}

export const scaleScenarios: Scenario[] = [
  {
    group: 'scale',
    name: 'scale-out',
    async run(ctx) {
      const repeats = ctx.quick ? 1 : 2;
      const mix = { users: ctx.quick ? 600 : 1500, eventsPerUser: 40 };
      const items = benchCatalogue(2000);
      const single: Topology = {
        name: 'one broker, one Redis',
        brokers: ctx.brokers,
        redisUrl: ctx.redisUrl,
        masters: [ctx.redisUrl],
        env: {},
      };
      const stack = createLocalStack({ topology: 'cluster' });
      const stopStack = () => void stack.stop();
      process.once('SIGINT', stopStack);
      await stack.start();
      try {
        const redisCluster = stack.redisCluster!;
        const masters = (await redisCluster.masters()).map((node) => node.url);
        const cluster: Topology = {
          name: `${stack.brokers.length} brokers (replication factor 3), Redis Cluster (${masters.length} masters, ${redisCluster.nodes.length - masters.length} replicas)`,
          brokers: stack.brokers,
          redisUrl: `redis-cluster://${redisCluster.seeds}`,
          masters,
          env: { KAFKA_REPLICATION_FACTOR: '3' },
        };

        const referenceStream: StreamRun[] = [];
        const clusterStream: StreamRun[] = [];
        for (let r = 0; r < repeats; r++) {
          referenceStream.push(await streamRun(ctx, single, 1, items, mix, `s1-${r}`));
          for (const k of WORKER_COUNTS) clusterStream.push(await streamRun(ctx, cluster, k, items, mix, `c${k}-${r}`));
        }

        const seconds = ctx.quick ? 3 : 8;
        const users = ctx.quick ? 500 : 2000;
        const servingReference: ServingRun[] = [];
        const sizes = { behavior: Number.NaN, impressions: Number.NaN };
        const ingestCost: { shape: string; microsPerEvent: number }[] = [];
        const fixed: Reading[] = [];
        const servingCluster: ServingRun[] = [];
        const one = await startServiceUnderTest({
          brokers: single.brokers,
          redisUrl: single.redisUrl,
          prefix: `${ctx.prefix}-scale-api1`,
        });
        const prefix = `${ctx.prefix}-scale-apic`;
        const first = await startServiceUnderTest({
          brokers: cluster.brokers,
          redisUrl: cluster.redisUrl,
          prefix,
          env: cluster.env,
        });
        const second = await startServiceUnderTest({
          brokers: cluster.brokers,
          redisUrl: cluster.redisUrl,
          prefix,
          env: cluster.env,
          worker: 'none',
        });
        try {
          const ids = await prepareServing(single, one, users, 20);
          await prepareServing(cluster, first, users, 20);
          const bodies = bodiesFor({ name: '500 candidates', candidates: 500 }, ids, users);
          // Warm-up: JIT, connection pools, the ONNX sessions' first runs, the item caches.
          for (const s of [one, first, second])
            await load({ url: s.url, seconds: 2, connections: CONNECTIONS, bodies, check: feedCheck });
          for (let r = 0; r < repeats + 1; r++) {
            servingReference.push(await servingRun(single, [one], bodies, seconds));
            servingCluster.push(await servingRun(cluster, [first], bodies, seconds));
            servingCluster.push(await servingRun(cluster, [first, second], bodies, seconds));
          }
          // Redis and API CPU per second at two fixed rates on one instance: what grows with requests
          // (slope: user features, attribution of the impression) and what an instance costs whatever
          // its rate (intercept: re-reading the hot items and neighbour lists its caches hold).
          for (const rate of FIXED_RATES) {
            const meter = usage(single.masters, () => [one.pid]);
            await meter.start();
            const started = performance.now();
            await load({ url: one.url, seconds, connections: CONNECTIONS, bodies, rate, check: feedCheck });
            const used = await meter.stop();
            const wall = (performance.now() - started) / 1000;
            fixed.push({ rate, redis: sum(used.redisCpu) / wall, api: sum(used.processCpu) / wall });
          }
          // What accepting behaviour costs an API instance, per event: one per mutation, or batched.
          for (const [shape, bodies, perRequest, connections] of [
            ['single recordInteraction', singleBodiesFor(1000), 1, 64],
            [
              `recordInteractions × ${BATCH_SIZE}`,
              Array.from({ length: 50 }, (_, i) => batchBody(BATCH_SIZE, i)),
              BATCH_SIZE,
              16,
            ],
          ] as const) {
            const cpu = cpuSecondsOf(one.pid);
            const result = await load({ url: one.url, seconds, connections, bodies: [...bodies] });
            ingestCost.push({
              shape,
              microsPerEvent: (1e6 * (cpuSecondsOf(one.pid) - cpu)) / (result.requests * perRequest),
            });
          }
          const topics = topicNames(`${one.prefix}.`);
          sizes.behavior = await meanRecordBytes(single.brokers, topics.behavior);
          sizes.impressions = await meanRecordBytes(single.brokers, topics.impressions);
        } finally {
          await Promise.all([one, first, second].map((s) => s.stop()));
        }
        return [
          ...streamRows(clusterStream, referenceStream),
          ...servingRows(servingCluster, servingReference),
          ...splitRows(fixed),
          ...ingestCost.map((c): Row => ({
            scenario: 'scale',
            metric: `ingestion, ${c.shape}, saturated: API CPU per accepted event (one node, 1 API instance)`,
            value: c.microsPerEvent,
            unit: 'µs',
          })),
          {
            scenario: 'scale',
            metric: 'Kafka bytes per behaviour record (key + value, as the API writes it)',
            value: sizes.behavior,
            unit: 'B',
          },
          {
            scenario: 'scale',
            metric:
              'Kafka bytes per impression record (one computed feed over 500 candidates: the served items with their feature rows)',
            value: sizes.impressions,
            unit: 'B',
          },
        ];
      } finally {
        process.off('SIGINT', stopStack);
        await stack.stop();
      }
    },
  },
];
