/** One running instance of the service under test, in its own process, on its own topic and key prefix. */
export interface ServiceUnderTest {
  /** Its GraphQL endpoint. */
  url: string;
  /** Its process id, for reading its memory from /proc. */
  pid: number;
  /** The topic and key prefix it uses. */
  prefix: string;
  /** The consumer group of its stream worker (the Redis progress hash is named after it). */
  groupId: string;
  /**
   * Where its stream worker and attribution run: their own process (the default), the API's, or
   * none of its own (`none`: another instance's worker serves its prefix).
   */
  worker: 'process' | 'in-process' | 'none';
  /** The worker process's id, when it has one. */
  workerPid?: number;
  /** The /metrics holding the stream worker's histograms (the worker's own, or the API's when in-process). */
  streamMetricsUrl: string;
  stop(): Promise<void>;
}

export interface BenchContext {
  /** The service's GraphQL endpoint. */
  url: string;
  /** A bare graphql-yoga endpoint with fixed answers, for throughput ratios. */
  referenceUrl: string;
  /** The bare endpoint's process id (where a scenario reads its time waiting for a CPU). */
  referencePid?: number;
  brokers: string[];
  redisUrl: string;
  /** The topic and key prefix the service under test uses. */
  prefix: string;
  quick: boolean;
  /** The main service under test (the one `url` points at). */
  service: ServiceUnderTest;
  /**
   * Starts another instance on a fresh prefix, for scenarios whose numbers must not be mixed with
   * what earlier scenarios left in Kafka and Redis. The caller stops it.
   */
  startService(name: string, env?: Record<string, string>): Promise<ServiceUnderTest>;
}

/** A design goal a row is checked against. */
export interface Goal {
  text: string;
  met: boolean;
}

export interface Row {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  /** The same quantity measured for a reference in the same run (or published, when the name says so). */
  reference?: { name: string; value: number };
  goal?: Goal;
  runs?: number[];
}

export interface Scenario {
  group: string;
  name: string;
  run(ctx: BenchContext): Promise<Row[]>;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

/** Nearest-rank percentile of raw samples. */
export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `tick` every `tickMs` for `seconds` on a fixed schedule (open loop: a slow answer never
 * delays the next send, so queueing shows in the latencies); returns the seconds it took.
 */
export async function paced(seconds: number, tickMs: number, tick: (i: number) => void): Promise<number> {
  const start = performance.now();
  const ticks = Math.round((seconds * 1000) / tickMs);
  for (let i = 0; i < ticks; i++) {
    tick(i);
    await sleep(Math.max(0, start + (i + 1) * tickMs - performance.now()));
  }
  return (performance.now() - start) / 1000;
}
