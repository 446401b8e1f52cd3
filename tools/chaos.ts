/**
 * `npm run chaos [-- --seconds 130 --rate 800]`: exactly-once under faults, end to end. Starts its
 * own Kafka and Redis, one API (stream worker off) and two `npm run worker` processes, and sends
 * behaviour through GraphQL with client eventIds (every tenth batch sent twice on purpose; a batch
 * refused as retryable is sent again with the same ids, as a client should) while it:
 *
 *   kill -9s worker A and restarts it · freezes worker B (SIGSTOP) past its session timeout ·
 *   freezes the broker for 10 s · freezes Redis for 5 s · runs FLUSHALL on Redis mid-stream
 *
 * Then it waits until every item's per-action totals in Redis equal the events the API accepted,
 * and prints what was lost or counted twice (exit 1 if anything), how long the catch-up took after
 * the last fault, and how long the rebuild after FLUSHALL took.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import {
  createApiClient,
  RecordInteractionsDocument,
  UpsertItemsDocument,
  type InteractionAction,
} from '../src/client/index.js';
import { ACTIONS } from '../src/core/events.js';
import { redisKeys } from '../src/core/keys.js';
import { waitFor } from '../src/runtime/wait.js';
import { createLocalStack } from '../src/stack/local-stack.js';
import { projectRoot } from '../src/stack/paths.js';
import { sleep } from '../bench/types.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '130' },
    rate: { type: 'string', default: '800' },
    /** Skip the FLUSHALL (to check the other faults alone). */
    'keep-data': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const say = (msg: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
/** Every process's log, for reading what happened after a run. */
const logDir = path.join(projectRoot, 'bench', 'results', `chaos-${new Date().toISOString().replace(/[:.]/g, '-')}`);
mkdirSync(logDir, { recursive: true });

const stack = createLocalStack({ log: (m) => say(`stack: ${m}`) });
await stack.start();
const kafkaPid = stack.kafka!.process.pid;
const redisUrl = stack.redis!.url;
const redisPid = stack.redis!.process.pid;
const prefix = `chaos${randomUUID().slice(0, 6)}`;
const env = {
  ...process.env,
  KAFKA_BROKERS: stack.kafka!.brokers.join(','),
  REDIS_URL: redisUrl,
  KAFKA_TOPIC_PREFIX: `${prefix}.`,
  REDIS_KEY_PREFIX: prefix,
  STREAM_GROUP_ID: `${prefix}-group`,
  AUTH_MODE: 'dev',
  LOG_LEVEL: 'info',
};
const children = new Set<ChildProcess>();
/** Spawns a service process; resolves with it once `ready` matches a log line. */
function startProcess(name: string, script: string, extra: Record<string, string>, ready: RegExp) {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: projectRoot,
    env: { ...env, ...extra },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: string[] = [];
  const logFile = createWriteStream(path.join(logDir, `${name}.log`));
  return new Promise<{ child: ChildProcess; lines: string[]; match: RegExpExecArray }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      logFile.write(`${line}\n`);
      if (/rebuil/i.test(line)) say(`${name}: ${line.slice(0, 300)}`);
      const match = ready.exec(line);
      if (match) resolve({ child, lines, match });
    });
  });
}
const stopAll = async () => {
  for (const child of children) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  process.kill(kafkaPid, 'SIGCONT');
  if (stack.redis) process.kill(stack.redis.process.pid, 'SIGCONT');
  await stack.stop();
};
process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));

const worker = (name: string) => startProcess(name, 'src/worker.ts', { WORKER_METRICS_PORT: '0' }, /worker started/);
const api = await startProcess(
  'api',
  'src/main.ts',
  { PORT: '0', WORKER_ENABLED: 'false', EXPERIMENT_WORKER_ENABLED: 'false' },
  /"url":"([^"]+)"/,
);
const url = api.match[1]!;
let workerA = await worker('worker-a');
const workerB = await worker('worker-b');
say(`api at ${url}; two workers running`);

const client = createApiClient(url, { timeoutMs: 15_000 });
const ITEMS = Array.from({ length: 200 }, (_, i) => ({ id: `${prefix}-i${i}`, category: `c${i % 8}`, tags: [] }));
for (let i = 0; i < ITEMS.length; i += 100)
  await client.request(UpsertItemsDocument, { inputs: ITEMS.slice(i, i + 100) });

/** What the API accepted, once per eventId: the exact totals every item must end with. */
const expected = new Map<string, number>();
const acceptedIds = new Set<string>();
let sentBatches = 0;
let resent = 0;
let retried = 0;
const actions: InteractionAction[] = ['VIEW', 'VIEW', 'VIEW', 'CLICK', 'LIKE', 'SHARE', 'SKIP'];

async function sendBatch(inputs: { eventId: string; userId: string; itemId: string; action: InteractionAction }[]) {
  for (let attempt = 0; ; attempt++) {
    let answer;
    try {
      answer = await client.execute(RecordInteractionsDocument, { inputs });
    } catch {
      answer = undefined;
    }
    const results = answer?.data?.recordInteractions.results;
    if (results) {
      const refused = results.filter((r) => !r.accepted);
      results.forEach((r, i) => {
        const input = inputs[i]!;
        if (!r.accepted || acceptedIds.has(input.eventId)) return;
        acceptedIds.add(input.eventId);
        const key = `${input.itemId}|${input.action}`;
        expected.set(key, (expected.get(key) ?? 0) + 1);
      });
      if (refused.length === 0) return;
      inputs = inputs.filter((_, i) => !results[i]!.accepted);
    }
    retried++;
    await sleep(Math.min(2000, 100 * 2 ** attempt));
  }
}

const started = Date.now();
const at = (s: number) => started + s * 1000;
const faults: { at: number; what: string; run: () => Promise<void> | void }[] = [
  { at: at(10), what: 'kill -9 worker A', run: () => void workerA.child.kill('SIGKILL') },
  { at: at(15), what: 'restart worker A', run: async () => void (workerA = await worker('worker-a2')) },
  {
    at: at(25),
    what: 'SIGSTOP worker B (45 s, past its session timeout)',
    run: () => void workerB.child.kill('SIGSTOP'),
  },
  { at: at(70), what: 'SIGCONT worker B', run: () => void workerB.child.kill('SIGCONT') },
  { at: at(80), what: 'SIGSTOP the broker (10 s)', run: () => void process.kill(kafkaPid, 'SIGSTOP') },
  { at: at(90), what: 'SIGCONT the broker', run: () => void process.kill(kafkaPid, 'SIGCONT') },
  { at: at(100), what: 'SIGSTOP Redis (5 s)', run: () => void process.kill(redisPid, 'SIGSTOP') },
  { at: at(105), what: 'SIGCONT Redis', run: () => void process.kill(redisPid, 'SIGCONT') },
  {
    at: values['keep-data'] ? Infinity : at(115),
    what: 'FLUSHALL',
    run: async () => {
      const redis = new Redis(redisUrl);
      await redis.flushall();
      redis.disconnect();
      flushedAt = Date.now();
    },
  },
];
let flushedAt = 0;
const faultLoop = (async () => {
  for (const fault of faults) {
    if (fault.at === Infinity) continue;
    await sleep(Math.max(0, fault.at - Date.now()));
    say(fault.what);
    await fault.run();
  }
})();

const batchSize = 50;
const inFlight = new Set<Promise<void>>();
while (Date.now() < at(seconds)) {
  const inputs = Array.from({ length: batchSize }, () => ({
    eventId: randomUUID(),
    userId: `${prefix}-u${Math.floor(Math.random() * 2000)}`,
    itemId: ITEMS[Math.floor(Math.random() * ITEMS.length)]!.id,
    action: actions[Math.floor(Math.random() * actions.length)]!,
  }));
  const copies = ++sentBatches % 10 === 0 ? 2 : 1;
  if (copies === 2) resent += batchSize;
  for (let c = 0; c < copies; c++) {
    const p = sendBatch(inputs.map((x) => ({ ...x }))).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  while (inFlight.size >= 32) await Promise.race(inFlight);
  await sleep((batchSize / rate) * 1000);
}
await Promise.all(inFlight);
await faultLoop;
const sentAt = Date.now();
say(`sent: ${acceptedIds.size} distinct events accepted, ${resent} deliberate resends, ${retried} retried batches`);

const keys = redisKeys(prefix);
const redis = new Redis(redisUrl);
async function counted(): Promise<Map<string, number>> {
  const p = redis.pipeline();
  for (const item of ITEMS) p.hmget(keys.itemStats(item.id), ...ACTIONS.map((a) => `n:${a}`));
  const replies = (await p.exec()) ?? [];
  const out = new Map<string, number>();
  ITEMS.forEach((item, i) => {
    const values = (replies[i]?.[1] as (string | null)[] | undefined) ?? [];
    ACTIONS.forEach((a, k) => out.set(`${item.id}|${a}`, Number(values[k] ?? 0)));
  });
  return out;
}
const difference = (have: Map<string, number>) => {
  let lost = 0;
  let doubled = 0;
  for (const [key, n] of have) {
    const want = expected.get(key) ?? 0;
    if (n < want) lost += want - n;
    else doubled += n - want;
  }
  return { lost, doubled };
};
let last = { lost: -1, doubled: -1 };
let reportedAt = Date.now();
try {
  await waitFor(
    'every accepted event counted once',
    async () => {
      last = difference(await counted());
      if (Date.now() - reportedAt > 10_000) {
        reportedAt = Date.now();
        say(`waiting: ${last.lost} not counted yet, ${last.doubled} counted twice`);
      }
      if (last.lost || last.doubled) throw new Error(`${last.lost} missing, ${last.doubled} extra`);
      return true;
    },
    { timeoutMs: 600_000, intervalMs: 1000 },
  );
  const catalogue = await redis.exists(...ITEMS.map((i) => keys.item(i.id)));
  say(
    `exact: ${acceptedIds.size} events, 0 lost, 0 counted twice; caught up ${((Date.now() - sentAt) / 1000).toFixed(1)} s after the last send; ` +
      (flushedAt ? `totals exact ${((Date.now() - flushedAt) / 1000).toFixed(1)} s after FLUSHALL; ` : '') +
      `catalogue entries back: ${catalogue}/${ITEMS.length}; logs in ${path.relative(projectRoot, logDir)}`,
  );
  redis.disconnect();
  await stopAll();
  process.exit(catalogue === ITEMS.length ? 0 : 1);
} catch (error) {
  say(`NOT exact after 10 min: ${last.lost} lost, ${last.doubled} counted twice (${String(error)})`);
  redis.disconnect();
  await stopAll();
  process.exit(1);
}
