/**
 * `npm run bench:ab -- --base <git ref> [--rounds 10] [--seconds 8] [--rate N] [--candidates 500]
 * [--base-node-args "…"] [--node-args "…"]`: is this checkout's API faster than the build at
 * `--base`? On this machine one build's saturated rate moves by a third between 8 s windows, so two
 * bench runs cannot tell a few per cent apart. This runs both builds at once on one local Kafka +
 * Redis and one prepared data set (the recommendations group's catalogue, users and bodies): the
 * base's API from a git worktree of `--base` (using this checkout's node_modules) and this
 * checkout's, both on one prefix beside this checkout's stream worker and a third API that records
 * the preparing behaviour. Each round loads one, then the other (in
 * alternating order), saturated or at `--rate`, and reads each one's CPU and GC from its /metrics
 * and how long its main thread waited for a CPU from /proc;
 * the summary says in how many rounds this build won and by how much on average (bench/paired.ts).
 *
 * Node flags: this checkout's API runs with API_NODE_FLAGS unless `--node-args` is given, and so
 * does the base's unless `--base-node-args` is (to compare flags alone, give both builds one ref).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { API_NODE_FLAGS } from '../src/runtime/node-flags.js';
import { projectRoot } from '../src/stack/paths.js';
import { load } from './load.js';
import { pairedSummary } from './paired.js';
import { bodiesFor, CONNECTIONS, feedCheck, prepare, withProcessStats } from './scenarios/recommendations.js';
import { benchStack, startServiceUnderTest } from './service.js';
import type { ServiceUnderTest } from './types.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '8' },
    rate: { type: 'string' },
    candidates: { type: 'string', default: '500' },
    users: { type: 'string', default: '1000' },
    'base-node-args': { type: 'string' },
    'node-args': { type: 'string' },
  },
});
if (!values.base) throw new Error('--base <git ref> names the build to compare against');
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const rate = values.rate ? Number(values.rate) : undefined;
const candidates = Number(values.candidates) || null;
const users = Number(values.users);
const flags = (text: string | undefined) => (text === undefined ? API_NODE_FLAGS : text.split(' ').filter(Boolean));

const git = (...args: string[]) => execFileSync('git', args, { cwd: projectRoot, encoding: 'utf8' }).trim();
const commit = git('rev-parse', '--verify', `${values.base}^{commit}`);
const worktree = path.join(projectRoot, '.scratch', `ab-${commit.slice(0, 12)}`);
if (!existsSync(worktree)) {
  mkdirSync(path.dirname(worktree), { recursive: true });
  git('worktree', 'add', '--detach', worktree, commit);
}
if (!existsSync(path.join(worktree, 'node_modules')))
  symlinkSync(path.join(projectRoot, 'node_modules'), path.join(worktree, 'node_modules'));

const { stack, brokers, redisUrl } = await benchStack();
const prefix = `ab-${Date.now()}`;
const services: ServiceUnderTest[] = [];
try {
  // This checkout's worker, and an API that prepares the data and then stays idle: the two APIs
  // compared have both only served the load (an API that took the preparing mutations kept more in
  // its heap and ran 2-4 % slower than the same build beside it).
  const host = await startServiceUnderTest({ brokers, redisUrl, prefix });
  services.push(host);
  const b = await startServiceUnderTest({
    brokers,
    redisUrl,
    prefix,
    worker: 'none',
    nodeArgs: flags(values['node-args']),
  });
  services.push(b);
  const a = await startServiceUnderTest({
    brokers,
    redisUrl,
    prefix,
    worker: 'none',
    root: worktree,
    nodeArgs: flags(values['base-node-args']),
  });
  services.push(a);
  const ctx = {
    url: host.url,
    referenceUrl: '',
    brokers,
    redisUrl,
    prefix,
    quick: true,
    service: host,
    startService: () => Promise.reject(new Error('not here')),
  };
  const itemIds = await prepare(ctx, users, 10);
  const mode = { name: candidates ? `${candidates} candidates` : 'recall (no candidates)', candidates };
  const bodies = bodiesFor(mode, itemIds, users);
  const targets = [
    { name: `A (${values.base}, ${commit.slice(0, 7)})`, url: a.url, pid: a.pid },
    { name: 'B (this checkout)', url: b.url, pid: b.pid },
  ];
  const options = { connections: CONNECTIONS, bodies, check: feedCheck };
  // Warm-up, saturated: JIT, pools, the model's first runs, the item cache.
  for (const t of targets) await load({ ...options, url: t.url, seconds: 20 });
  const figures = targets.map(() => ({
    rps: [] as number[],
    cpu: [] as number[],
    gc: [] as number[],
    p99: [] as number[],
    wait: [] as number[],
  }));
  const load_ = rate ? `${rate} req/s` : `saturated, ${CONNECTIONS} connections`;
  console.log(`${mode.name}, ${load_}, ${rounds} rounds of ${seconds} s each way`);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [1, 0] : [0, 1];
    for (const k of order) {
      const t = targets[k]!;
      const [run, stats] = await withProcessStats(
        t.url,
        () => load({ ...options, url: t.url, seconds, ...(rate ? { rate } : {}) }),
        t.pid,
      );
      const f = figures[k]!;
      f.rps.push(run.rps);
      f.cpu.push(run.rps > 0 ? (stats.cpu * 1000) / run.rps : 0);
      f.gc.push(stats.gcShare * 100);
      f.p99.push(run.p99);
      f.wait.push(stats.cpuWait);
      console.log(
        `round ${r + 1} ${t.name}: ${run.rps.toFixed(0)} req/s, p99 ${run.p99.toFixed(1)} ms, ` +
          `${f.cpu.at(-1)!.toFixed(2)} ms CPU per request, ${f.gc.at(-1)!.toFixed(1)} % in GC, ` +
          `waited ${f.wait.at(-1)!.toFixed(0)} ms/s for a CPU`,
      );
    }
  }
  const [fa, fb] = figures as [(typeof figures)[0], (typeof figures)[0]];
  const rows = [
    ['req/s', pairedSummary(fa.rps, fb.rps)],
    ['API CPU per request (ms)', pairedSummary(fa.cpu, fb.cpu, true)],
    ['GC share of wall time (%)', pairedSummary(fa.gc, fb.gc, true)],
    ['latency p99 (ms)', pairedSummary(fa.p99, fb.p99, true)],
    ['main thread waiting for a CPU (ms/s)', pairedSummary(fa.wait, fb.wait, true)],
  ] as const;
  console.log('\n| figure | median A | median B | B better in | mean B − A |\n| --- | ---: | ---: | ---: | ---: |');
  for (const [name, s] of rows)
    console.log(
      `| ${name} | ${s.medianA.toFixed(2)} | ${s.medianB.toFixed(2)} | ${s.bWins} of ${s.rounds} | ` +
        `${s.meanDiff >= 0 ? '+' : ''}${s.meanDiff.toFixed(2)} (${(s.meanDiffShare * 100).toFixed(1)} %) |`,
    );
} finally {
  for (const s of services.reverse()) await s.stop();
  await stack.stop();
  git('worktree', 'remove', '--force', worktree);
  rmSync(worktree, { recursive: true, force: true });
}
process.exit(0);
