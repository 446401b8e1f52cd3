/**
 * `npm run bench [-- --quick] [-- --only <group>[,<group>…]]`: starts a local Kafka + Redis (or uses
 * KAFKA_BROKERS / REDIS_URL), runs the service in its own process with its stream worker and
 * experiment attribution in another (as production runs them; BENCH_WORKER=in-process keeps them in
 * the API process), drives it from this process over loopback, and measures each scenario next to
 * a reference taken in the same run. Writes bench/results/<timestamp>.json and prints a markdown
 * table.
 *
 * Groups: ingest, stream, recommendations, freshness, live, quality, resources, scale (the clustered
 * stack against the single-node one).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { kafkaVersion } from '../src/stack/kafka.js';
import { projectRoot } from '../src/stack/paths.js';
import { freshnessScenarios } from './scenarios/freshness.js';
import { ingestScenarios } from './scenarios/ingest.js';
import { liveScenarios } from './scenarios/live.js';
import { qualityScenarios } from './scenarios/quality.js';
import { recommendationsScenarios } from './scenarios/recommendations.js';
import { resourcesScenarios } from './scenarios/resources.js';
import { scaleScenarios } from './scenarios/scale.js';
import { streamScenarios } from './scenarios/stream.js';
import { benchStack, spawnServer, startServiceUnderTest, workerPlacement } from './service.js';
import { watchStream } from './stream-progress.js';
import type { BenchContext, Row, ServiceUnderTest } from './types.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const all = [
  ...ingestScenarios,
  ...streamScenarios,
  ...recommendationsScenarios,
  ...freshnessScenarios,
  ...liveScenarios,
  ...qualityScenarios,
  ...resourcesScenarios,
  ...scaleScenarios,
];
const only = values.only?.split(',');
const scenarios = all.filter((s) => !only || only.includes(s.group));
if (scenarios.length === 0) {
  process.stderr.write(`no group "${values.only}"; groups: ${[...new Set(all.map((s) => s.group))].join(', ')}\n`);
  process.exit(1);
}

const started = performance.now();
// Interrupted (Ctrl-C, a kill): leave no service, reference server, Kafka or Redis behind.
const { stack, brokers, redisUrl } = await benchStack();
const prefix = `bench-${Date.now()}`;
// Every instance runs its stream worker the same way: out of process unless BENCH_WORKER=in-process.
const worker = workerPlacement();
const workerNote =
  worker === 'process'
    ? 'stream worker and experiment attribution in their own process (npm run worker; the API has WORKER_ENABLED=false)'
    : 'stream worker and experiment attribution inside the API process (BENCH_WORKER=in-process)';
process.stderr.write(`service under test: ${workerNote}\n`);
const redis = new Redis(redisUrl);
const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1];
redis.disconnect();
const extra: ServiceUnderTest[] = [];
// A service that cannot start (say, a model that does not match the features) must not leave the
// reference server or the local Kafka and Redis running behind it.
const [serviceStart, referenceStart] = await Promise.allSettled([
  startServiceUnderTest({ brokers, redisUrl, prefix }),
  spawnServer('bench/reference-server.ts', {}),
]);
if (serviceStart.status === 'rejected' || referenceStart.status === 'rejected') {
  for (const s of [serviceStart, referenceStart]) if (s.status === 'fulfilled') await s.value.stop();
  await stack.stop();
  throw serviceStart.status === 'rejected'
    ? serviceStart.reason
    : referenceStart.status === 'rejected' && referenceStart.reason;
}
const service = serviceStart.value;
const reference = referenceStart.value;
const ctx: BenchContext = {
  url: service.url,
  referenceUrl: reference.url,
  referencePid: reference.child.pid,
  brokers,
  redisUrl,
  prefix,
  quick: values.quick ?? false,
  service,
  async startService(name, env) {
    const s = await startServiceUnderTest({ brokers, redisUrl, prefix: `${prefix}-${name}`, env });
    extra.push(s);
    return s;
  },
};

const rows: Row[] = [];
const failures: { scenario: string; error: string }[] = [];
const progress = watchStream(ctx, service);
try {
  for (const scenario of scenarios) {
    try {
      // Each scenario starts from a quiet service: nothing left for its stream worker to apply.
      const drainedMs = await progress.drain();
      process.stderr.write(
        `running ${scenario.name}… (${Math.round((performance.now() - started) / 1000)} s in` +
          `${drainedMs > 500 ? `; waited ${(drainedMs / 1000).toFixed(1)} s for the stream to catch up` : ''})\n`,
      );
      rows.push(...(await scenario.run(ctx)));
    } catch (error) {
      // One broken scenario must not cost the numbers of the others; the run still fails at the end.
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      failures.push({ scenario: scenario.name, error: message });
      process.stderr.write(`${scenario.name} failed: ${message}\n`);
    }
  }
} finally {
  await progress.close();
  for (const s of [...extra, service]) await s.stop();
  await reference.stop();
  await stack.stop();
}

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  kafka: process.env.KAFKA_BROKERS ? 'external' : kafkaVersion(),
  redis: redisVersion,
  // The machine is shared: other work running beside the bench explains a lot of the noise.
  loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
};
const seconds = Math.round((performance.now() - started) / 1000);
mkdirSync(path.join(projectRoot, 'bench', 'results'), { recursive: true });
const file = path.join(projectRoot, 'bench', 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    { at: new Date().toISOString(), quick: ctx.quick, only: values.only, worker, seconds, machine, rows, failures },
    null,
    2,
  ),
);

const fmt = (n: number | undefined) =>
  n === undefined || Number.isNaN(n)
    ? 'n/a'
    : Math.abs(n) >= 100
      ? Math.round(n).toLocaleString('en-US')
      : Math.abs(n) >= 1 || n === 0
        ? n.toFixed(2)
        : n.toPrecision(3);
process.stdout.write(
  `\n| scenario | metric | value | reference | ratio | goal |\n| --- | --- | --- | --- | --- | --- |\n`,
);
for (const r of rows) {
  const ref = r.reference ? `${fmt(r.reference.value)} (${r.reference.name})` : '';
  const ratio = r.reference && r.reference.value ? (r.value / r.reference.value).toFixed(2) : '';
  const goal = r.goal ? `${r.goal.met ? 'met' : 'missed'}: ${r.goal.text}` : '';
  process.stdout.write(`| ${r.scenario} | ${r.metric} | ${fmt(r.value)} ${r.unit} | ${ref} | ${ratio} | ${goal} |\n`);
}
process.stdout.write(
  `\n${machine.cpus} cores, ${machine.cpuModel}, ${machine.memGiB} GiB, Node ${machine.node}, Kafka ${machine.kafka}, ` +
    `Redis ${machine.redis}; ${workerNote}; load average at the end ${machine.loadAverage.join(', ')}; ${seconds} s; ` +
    `results in ${path.relative(process.cwd(), file)}\n`,
);
for (const f of failures) process.stdout.write(`FAILED: ${f.scenario}: ${f.error.split('\n')[0]}\n`);
process.exit(failures.length > 0 ? 1 : 0);
