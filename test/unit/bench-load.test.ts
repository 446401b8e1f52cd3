import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { load } from '../../bench/load.js';

/** A server answering `{"data":{}}` after `delay(n)` ms for its n-th request; records arrival times. */
function server(delay: (n: number) => number) {
  const arrivals: number[] = [];
  const srv = createServer((req, res) => {
    const n = arrivals.length;
    arrivals.push(performance.now());
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"data":{}}');
      }, delay(n)),
    );
  });
  return { srv, arrivals };
}

let open: Server | undefined;
afterEach(() => new Promise<void>((r) => (open ? open.close(() => r()) : r())));

async function listen(srv: Server): Promise<string> {
  open = srv;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}/graphql`;
}

describe('the bench load at a fixed rate', () => {
  it('sends evenly spaced requests, not a burst per second', async () => {
    const { srv, arrivals } = server(() => 0);
    const url = await listen(srv);
    const result = await load({ url, seconds: 1, connections: 32, bodies: ['{}'], rate: 100 });
    expect(result.requests).toBe(100);
    expect(arrivals).toHaveLength(100);
    // 100 req/s: 10 ms apart. In a per-second burst most gaps would be well under 1 ms.
    const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!);
    const under2ms = gaps.filter((g) => g < 2).length;
    expect(under2ms).toBeLessThan(gaps.length / 2);
    expect(result.rps).toBeGreaterThan(80);
    expect(result.rps).toBeLessThan(105);
  });

  it('counts latency from when a request was due, so a stall shows in the percentiles', async () => {
    // The 10th request takes 300 ms; with one connection the ones due meanwhile wait for it.
    const { srv } = server((n) => (n === 10 ? 300 : 0));
    const url = await listen(srv);
    const result = await load({ url, seconds: 1, connections: 1, bodies: ['{}'], rate: 100 });
    expect(result.requests).toBe(100);
    // About 30 requests were due during the stall: the p90 sees them, though each took < 1 ms once sent.
    expect(result.p90).toBeGreaterThan(50);
    expect(result.p50).toBeLessThan(50);
  });

  it('fails a run whose answers carry GraphQL errors', async () => {
    const srv = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('{"errors":[{"message":"no"}]}'));
    });
    const url = await listen(srv);
    await expect(load({ url, seconds: 0.2, connections: 4, bodies: ['{}'], rate: 50 })).rejects.toThrow(
      /wrong answers/,
    );
  });
});
