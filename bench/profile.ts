/**
 * `npm run bench:profile -- [--candidates 500|0] [--seconds 15] [--rate N] [--connections 32]
 * [--alloc] [--top 40] [--out dir]`: where the API's CPU (and, with --alloc, its allocations) go
 * while it serves `recommendations`. Starts a local Kafka + Redis (or uses KAFKA_BROKERS /
 * REDIS_URL) and the service as the bench does (its own process, FEED_CACHE_TTL_MS=0, the stream
 * worker in another process), prepares the same kind of catalogue and users as the recommendations
 * group, and drives it with that group's request bodies (`--candidates 0`: recall), saturated or
 * at `--rate`. Only the load windows are sampled, through the inspector. Prints the functions with
 * the most self and total time (GC is `(garbage collector)`), the same by file or package, and the
 * service's own GC and CPU figures from /metrics; writes the `.cpuprofile` (DevTools opens it) and
 * the `.heapprofile` to .scratch/ (or --out). `--summarise <file>` prints the tables of either
 * kind of profile written before.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot } from '../src/stack/paths.js';
import { freePort } from '../src/stack/processes.js';
import {
  allocationProfile,
  cpuProfile,
  inspectorEnv,
  type AllocationNode,
  type AllocationProfile,
  type CpuProfile,
} from './inspector.js';
import { load, type LoadResult } from './load.js';
import {
  bodiesFor,
  CONNECTIONS,
  feedCheck,
  prepare,
  withProcessStats,
  type ProcessStats,
} from './scenarios/recommendations.js';
import { benchStack, startServiceUnderTest } from './service.js';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '15' },
    rate: { type: 'string' },
    connections: { type: 'string', default: String(CONNECTIONS) },
    top: { type: 'string', default: '40' },
    users: { type: 'string', default: '1000' },
    out: { type: 'string' },
    summarise: { type: 'string' },
    alloc: { type: 'boolean', default: false },
  },
});
const candidates = Number(values.candidates) || null;
const seconds = Number(values.seconds);
const rate = values.rate ? Number(values.rate) : undefined;
const connections = Number(values.connections);
const users = Number(values.users);

/** A profile as a tree of frames with a weight (ms, or bytes allocated) on each. */
interface Weighted {
  frames: Map<number, CpuProfile['nodes'][number]['callFrame']>;
  parent: Map<number, number>;
  /** (frame id, weight) in any order; a frame may appear many times. */
  weights: [number, number][];
}

function fromCpu(profile: CpuProfile): Weighted {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const deltas = profile.timeDeltas ?? [];
  return {
    frames: new Map(profile.nodes.map((n) => [n.id, n.callFrame])),
    parent,
    weights: (profile.samples ?? []).map((id, i) => [id, Math.max(0, deltas[i] ?? 0) / 1000]),
  };
}

function fromAllocations(profile: AllocationProfile): Weighted {
  const out: Weighted = { frames: new Map(), parent: new Map(), weights: [] };
  const walk = (node: AllocationNode, parent?: number) => {
    out.frames.set(node.id, node.callFrame);
    if (parent !== undefined) out.parent.set(node.id, parent);
    if (node.selfSize > 0) out.weights.push([node.id, node.selfSize]);
    for (const c of node.children) walk(c, node.id);
  };
  walk(profile.head);
  return out;
}

/**
 * Self weight per function and per file (or package), and total weight (self and callees, each
 * function counted once per stack) per function. TypeScript run through tsx is one line per
 * file, so a project function is named by its column.
 */
function summarise({ frames, parent, weights }: Weighted) {
  const where = (url: string) => {
    if (!url) return '(native)';
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    if (pkg) return pkg;
    if (url.startsWith('node:')) return 'node internals';
    return path.relative(projectRoot, url.replace(/^file:\/\//, ''));
  };
  const nameOf = (id: number) => {
    const frame = frames.get(id);
    if (!frame) return '?';
    const at = frame.lineNumber > 0 ? `${frame.lineNumber + 1}` : `col ${frame.columnNumber + 1}`;
    return `${frame.functionName || '(anonymous)'}${frame.url ? ` ${where(frame.url)}:${at}` : ''}`;
  };
  const functions = new Map<string, number>();
  const totals = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  const add = (m: Map<string, number>, k: string, w: number) => m.set(k, (m.get(k) ?? 0) + w);
  for (const [id, w] of weights) {
    total += w;
    add(functions, nameOf(id), w);
    add(files, where(frames.get(id)?.url ?? ''), w);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = nameOf(at);
      if (!seen.has(name)) add(totals, name, w);
      seen.add(name);
    }
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { total, functions: sorted(functions), totals: sorted(totals), files: sorted(files) };
}

/** The profile's tables; `unit` formats a weight, `per` divides the total (e.g. per request). */
function report(profile: Weighted, unit: (w: number) => string, per?: { what: string; count: number }): string {
  const { total, functions, totals, files } = summarise(profile);
  const share = (w: number) => `${((100 * w) / total).toFixed(1)} %`;
  const top = Number(values.top);
  const table = (weight: string, what: string, rows: [string, number][]) =>
    `| ${weight} | share | ${what} |\n| ---: | ---: | --- |\n` +
    rows
      .slice(0, top)
      .map(([name, w]) => `| ${unit(w)} | ${share(w)} | ${name} |`)
      .join('\n') +
    '\n\n';
  return (
    `sampled: ${unit(total)}${per ? `, ${unit(total / Math.max(1, per.count))} per ${per.what}` : ''}\n\n` +
    table('self', 'function', functions) +
    table('total', 'function (with what it calls)', totals) +
    table('self', 'file or package', files.slice(0, 25))
  );
}

const ms = (w: number) => `${w.toFixed(w < 10 ? 2 : 0)} ms`;
const kib = (w: number) => `${(w / 1024).toFixed(w < 10 * 1024 ? 1 : 0)} KiB`;

if (values.summarise) {
  const profile = JSON.parse(readFileSync(values.summarise, 'utf8')) as CpuProfile | AllocationProfile;
  process.stdout.write(
    `${values.summarise}\n` +
      ('head' in profile ? report(fromAllocations(profile), kib) : report(fromCpu(profile), ms)),
  );
  process.exit(0);
}

const { stack, brokers, redisUrl } = await benchStack();
const prefix = `profile-${Date.now()}`;
const port = await freePort();
const service = await startServiceUnderTest({ brokers, redisUrl, prefix, env: inspectorEnv(port) });
try {
  const ctx = {
    url: service.url,
    referenceUrl: '',
    brokers,
    redisUrl,
    prefix,
    quick: true,
    service,
    startService: () => Promise.reject(new Error('not here')),
  };
  const itemIds = await prepare(ctx, users, 10);
  const mode = { name: candidates ? `${candidates} candidates` : 'recall (no candidates)', candidates };
  const bodies = bodiesFor(mode, itemIds, users);
  const options = { url: service.url, connections, bodies, check: feedCheck, ...(rate ? { rate } : {}) };
  await load({ ...options, seconds: 3 }); // warm-up: JIT, pools, the model's first runs
  const window = () => withProcessStats(service.url, () => load({ ...options, seconds }));
  const [profile, [result, stats]] = await cpuProfile(port, window);
  const name = `recommendations-${mode.candidates ?? 0}`;
  const dir = values.out ?? path.join(projectRoot, '.scratch');
  mkdirSync(dir, { recursive: true });
  const cpuFile = path.join(dir, `${name}.cpuprofile`);
  writeFileSync(cpuFile, JSON.stringify(profile));
  const title = `${mode.name}, ${rate ? `${rate} req/s offered` : `saturated, ${connections} connections`}, ${seconds} s`;
  const measured = (r: LoadResult, s: ProcessStats) =>
    `${r.rps.toFixed(1)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms; /metrics: GC pauses ${(100 * s.gcShare).toFixed(1)} % ` +
    `of wall time, ${s.cpu.toFixed(2)} cores busy, event-loop delay p99 ${s.loopP99Ms.toFixed(1)} ms`;
  process.stdout.write(
    `\n## CPU: ${title}\n${measured(result, stats)}\n${path.relative(process.cwd(), cpuFile)}, ` +
      report(fromCpu(profile), ms, { what: 'request', count: result.requests }),
  );
  if (values.alloc) {
    const [allocations, [r, s]] = await allocationProfile(port, window);
    const allocFile = path.join(dir, `${name}.heapprofile`);
    writeFileSync(allocFile, JSON.stringify(allocations));
    process.stdout.write(
      `\n## Allocations (garbage included): ${title}\n${measured(r, s)}\n${path.relative(process.cwd(), allocFile)}, ` +
        report(fromAllocations(allocations), kib, { what: 'request', count: r.requests }),
    );
  }
} finally {
  await service.stop();
  await stack.stop();
}
