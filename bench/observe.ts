/**
 * What the bench reads about a running process besides its API: Prometheus histograms from the
 * service's `/metrics` (the service's own view, a cross-check of the bench's timings) and resident
 * memory, CPU time and time waiting for a CPU from /proc.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Cumulative `le` buckets of one histogram, in `le` order. */
export type Buckets = [number, number][];

/** Resident and peak resident memory of a process, in bytes (Linux). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** CPU seconds (user + system) a process has used so far (Linux; /proc counts clock ticks of 1/100 s). */
export function cpuSecondsOf(pid: number): number {
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Busy and total CPU time of the whole machine so far (all cores), in clock ticks, from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const ticks = values.map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  // idle and iowait are the 4th and 5th figures.
  return { busy: total - (ticks[3] ?? 0) - (ticks[4] ?? 0), total };
}

/**
 * How long a process's main thread has waited so far for a CPU while it was ready to run (Linux
 * schedstat: time on a run queue, not counting sleep or I/O), in ms. On a machine whose cores the
 * service shares with Kafka, Redis, the worker and the load generator, this is the part of a
 * latency that no code in the process can remove. NaN where the kernel does not keep it.
 */
export function runQueueMsOf(pid: number): number {
  try {
    const [, waitNs] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ');
    return Number(waitNs) / 1e6;
  } catch {
    return NaN;
  }
}

/**
 * Runs `run` and returns, beside its result, how many ms per wall second each process's main
 * thread waited for a CPU meanwhile (see runQueueMsOf), in the order of `pids`.
 */
export async function withRunQueueWait<T>(pids: readonly number[], run: () => Promise<T>): Promise<[T, number[]]> {
  const before = pids.map(runQueueMsOf);
  const started = performance.now();
  const result = await run();
  const seconds = (performance.now() - started) / 1000;
  return [result, pids.map((pid, i) => (runQueueMsOf(pid) - before[i]!) / seconds)];
}

/** A Redis server's own CPU time so far (`used_cpu_user` + `used_cpu_sys` of INFO), in seconds. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const text = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** The text of the service's `/metrics` (beside its GraphQL endpoint). */
export async function metricsText(url: string): Promise<string> {
  return (await fetch(new URL('/metrics', url))).text();
}

/** The buckets of histogram `name` (without labels) from a `/metrics` text. */
export function histogramBuckets(text: string, name: string): Buckets {
  const out: Buckets = [];
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'gm')))
    out.push([m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2])]);
  return out.sort((a, b) => a[0] - b[0]);
}

/** What a histogram counted between two readings. */
export const bucketDelta = (after: Buckets, before: Buckets): Buckets =>
  after.map(([le, c], i) => [le, c - (before[i]?.[1] ?? 0)]);

/** Quantile of a Prometheus histogram (cumulative `le` buckets), interpolated inside its bucket. */
export function histogramQuantile(buckets: Buckets, q: number): number {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** The sum of a counter or gauge over its label sets that contain `label` (all when empty; 0 when absent). */
export function metricSum(text: string, name: string, label = ''): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)`, 'gm')))
    if ((m[1] ?? '').includes(label)) sum += Number(m[2]);
  return sum;
}
