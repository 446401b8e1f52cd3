/**
 * `npm run bench [-- --quick] [-- --only ingest]`: starts a local Kafka + Redis (or uses
 * KAFKA_BROKERS / REDIS_URL), runs the service in its own process, drives it from this process
 * over loopback, and measures each scenario next to a reference taken in the same run. Writes
 * bench/results/<timestamp>.json and prints a markdown table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createLocalStack } from '../src/stack/local-stack.js';
import { projectRoot } from '../src/stack/paths.js';
import { ingestScenarios } from './scenarios/ingest.js';
import { streamScenarios } from './scenarios/stream.js';
import type { BenchContext, Row } from './types.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });

async function startService(
  env: Record<string, string>,
  entry = 'src/main.ts',
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', AUTH_MODE: 'dev', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
    // LOG_LEVEL=warn hides the ready line, so poll the port the service reports on stdout instead.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /"url":"([^"]+)"/.exec(line);
      if (match?.[1]) resolve(match[1]);
    });
  });
  return { url, child };
}

const stack = createLocalStack({ kafka: !process.env.KAFKA_BROKERS, redis: !process.env.REDIS_URL });
await stack.start();
const brokers = process.env.KAFKA_BROKERS?.split(',') ?? stack.kafka?.brokers ?? [];
const redisUrl = process.env.REDIS_URL ?? stack.redis?.url ?? '';
const prefix = `bench-${Date.now()}`;
const serviceEnv = {
  KAFKA_BROKERS: brokers.join(','),
  REDIS_URL: redisUrl,
  KAFKA_TOPIC_PREFIX: `${prefix}.`,
  REDIS_KEY_PREFIX: prefix,
  RATE_LIMIT_MUTATIONS_PER_SEC: '1000000',
  RATE_LIMIT_EVENTS_PER_SEC: '1000000',
  // The service logs its URL at info; keep other logs quiet.
  LOG_LEVEL: 'info',
};
const service = await startService(serviceEnv);
const reference = await startService({}, 'bench/reference-server.ts');
const ctx: BenchContext = {
  url: service.url,
  referenceUrl: reference.url,
  brokers,
  redisUrl,
  prefix,
  quick: values.quick ?? false,
};

const rows: Row[] = [];
try {
  const scenarios = [...ingestScenarios, ...streamScenarios].filter((s) => !values.only || s.group === values.only);
  for (const scenario of scenarios) {
    process.stderr.write(`running ${scenario.name}…\n`);
    rows.push(...(await scenario.run(ctx)));
  }
} finally {
  for (const p of [service, reference]) {
    p.child.kill('SIGTERM');
    await new Promise((r) => p.child.once('exit', r));
  }
  await stack.stop();
}

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
};
mkdirSync(path.join(projectRoot, 'bench', 'results'), { recursive: true });
const file = path.join(projectRoot, 'bench', 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), quick: ctx.quick, machine, rows }, null, 2));

const fmt = (n: number | undefined) =>
  n === undefined ? '' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
process.stdout.write(`\n| scenario | metric | value | reference | ratio |\n| --- | --- | --- | --- | --- |\n`);
for (const r of rows) {
  process.stdout.write(
    `| ${r.scenario} | ${r.metric} | ${fmt(r.value)} ${r.unit} | ${r.reference ? `${fmt(r.reference.value)} (${r.reference.name})` : ''} | ${r.reference ? (r.value / r.reference.value).toFixed(2) : ''} |\n`,
  );
}
process.stdout.write(
  `\n${machine.cpus} cores, ${machine.cpuModel}, ${machine.memGiB} GiB, Node ${machine.node}; results in ${path.relative(process.cwd(), file)}\n`,
);
process.exit(0);
