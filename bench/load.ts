/**
 * HTTP load, POSTing GraphQL bodies round-robin. A GraphQL error comes back as HTTP 200, so every
 * body is also checked: a run that got errors fails instead of reporting the speed of error answers.
 *
 * Saturated runs (no `rate`) use autocannon: each connection sends its next request as soon as its
 * answer arrives. Runs at a rate use `fixedRate` below, not autocannon's rate option: autocannon
 * gives each connection a quota per second and lets it send the quota back to back from the start
 * of each second, so a "fixed" rate is a burst of saturated load every second followed by idle
 * time, and the latencies it reports are those of the burst's queue.
 */
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  seconds: number;
  connections: number;
  /** Request bodies, sent in turn (so per-user caches and batching see distinct requests). */
  bodies: string[];
  /** Offered requests/s, evenly spaced (see fixedRate); saturated (as fast as answers come) when omitted. */
  rate?: number;
  /** Returns why a 200 answer is wrong, or null; the default rejects GraphQL errors. */
  check?: (body: string) => string | null;
}

export interface LoadResult {
  /** Mean answered requests/s over the run. */
  rps: number;
  /** Latency percentiles in ms (whole ms when saturated, as autocannon records them). */
  p50: number;
  p90: number;
  p99: number;
  requests: number;
}

const graphqlErrors = (body: string) => (body.includes('"errors":[') ? `GraphQL errors: ${body.slice(0, 300)}` : null);

/** Counts wrong answers and remembers the first; `settle` throws when there were any. */
function answerChecker(check: (body: string) => string | null) {
  let wrong = 0;
  let firstWrong = '';
  return {
    see(body: string) {
      const why = check(body);
      if (why !== null && wrong++ === 0) firstWrong = why;
    },
    settle() {
      if (wrong > 0) throw new Error(`${wrong} wrong answers under load; the first: ${firstWrong}`);
    },
  };
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  if (options.rate) return fixedRate({ ...options, rate: options.rate });
  const { bodies } = options;
  const answers = answerChecker(options.check ?? graphqlErrors);
  let next = 0;
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    connections: options.connections,
    duration: options.seconds,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }),
        onResponse: (status, body) => {
          if (status === 200) answers.see(body);
        },
      },
    ],
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0)
    throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts under load`);
  answers.settle();
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    requests: result.requests.total,
  };
}

/** The value at quantile `q` of ascending `sorted` (nearest rank). */
const quantile = (sorted: Float64Array, q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

/**
 * An open-loop load at `rate` requests/s: request i is due at start + i/rate whatever happened to
 * the ones before, over at most `connections` keep-alive connections (a request due while all are
 * busy waits for one). Its latency is counted from when it was due, not from when it left, so a
 * stalled server or a late timer here shows in the percentiles instead of lowering the rate
 * (no coordinated omission). Latencies are in fractional ms.
 */
async function fixedRate(options: LoadOptions & { rate: number }): Promise<LoadResult> {
  const { bodies, rate } = options;
  const url = new URL(options.url);
  const answers = answerChecker(options.check ?? graphqlErrors);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const total = Math.max(1, Math.round(rate * options.seconds));
  const latencies = new Float64Array(total);
  const failures: string[] = [];
  const interval = 1000 / rate;
  const start = performance.now() + 20;
  let sent = 0;
  let done = 0;
  let lastAnswer = start;
  let finished!: () => void;
  const allDone = new Promise<void>((resolve) => (finished = resolve));

  const send = (i: number) => {
    const due = start + i * interval;
    const body = bodies[i % bodies.length] ?? '';
    let settled = false;
    // A request's and its response's errors can both fire: it counts once.
    const settle = (failure?: string) => {
      if (settled) return;
      settled = true;
      const now = performance.now();
      latencies[i] = now - due;
      lastAnswer = Math.max(lastAnswer, now);
      if (failure) failures.push(failure);
      if (++done === total) finished();
    };
    const req = request(
      {
        agent,
        method: 'POST',
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 200) answers.see(Buffer.concat(chunks).toString('utf8'));
          settle(res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`);
        });
        res.on('error', (e) => settle(e.message));
      },
    );
    req.on('error', (e) => settle(e.message));
    req.end(body);
  };
  const tick = () => {
    const now = performance.now();
    while (sent < total && start + sent * interval <= now) send(sent++);
    if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
  };
  setTimeout(tick, Math.max(0, start - performance.now()));
  await allDone;
  agent.destroy();
  if (failures.length > 0) throw new Error(`${failures.length} failed requests under load; the first: ${failures[0]}`);
  answers.settle();
  latencies.sort();
  return {
    rps: total / ((lastAnswer - start) / 1000),
    p50: quantile(latencies, 0.5),
    p90: quantile(latencies, 0.9),
    p99: quantile(latencies, 0.99),
    requests: total,
  };
}
