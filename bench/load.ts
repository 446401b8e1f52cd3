/**
 * HTTP load with autocannon, POSTing GraphQL bodies round-robin. A GraphQL error comes back as
 * HTTP 200, so every body is also checked: a run that got errors fails instead of reporting the
 * speed of error answers.
 */
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  seconds: number;
  connections: number;
  /** Request bodies, sent in turn (so per-user caches and batching see distinct requests). */
  bodies: string[];
  /** Offered requests/s across all connections; saturated (as fast as answers come) when omitted. */
  rate?: number;
  /** Returns why a 200 answer is wrong, or null; the default rejects GraphQL errors. */
  check?: (body: string) => string | null;
}

export interface LoadResult {
  /** Mean answered requests/s over the run. */
  rps: number;
  /** Latency percentiles in ms (autocannon records whole milliseconds). */
  p50: number;
  p90: number;
  p99: number;
  requests: number;
}

const graphqlErrors = (body: string) => (body.includes('"errors":[') ? `GraphQL errors: ${body.slice(0, 300)}` : null);

export async function load(options: LoadOptions): Promise<LoadResult> {
  const { bodies } = options;
  const check = options.check ?? graphqlErrors;
  let next = 0;
  let wrong = 0;
  let firstWrong = '';
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate ? { overallRate: options.rate } : {}),
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }),
        onResponse: (status, body) => {
          if (status !== 200) return;
          const why = check(body);
          if (why === null) return;
          if (wrong++ === 0) firstWrong = why;
        },
      },
    ],
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0)
    throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts under load`);
  if (wrong > 0) throw new Error(`${wrong} wrong answers under load; the first: ${firstWrong}`);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    requests: result.requests.total,
  };
}
