import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { App } from '../src/app.js';
import { PingDocument } from '../src/client/index.js';
import { loadConfig } from '../src/config.js';
import { startLocalRedis, type LocalRedis } from '../src/stack/redis.js';
import { eventually, gql, startApp, testConfig } from './helpers.js';

describe('the API server', () => {
  let app: App;
  let redis: LocalRedis;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'server-test-'));
    redis = await startLocalRedis({ dir });
    app = await startApp(testConfig('server', { REDIS_URL: redis.url }));
  });
  afterAll(async () => {
    await app?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const base = () => app.url.replace(/\/graphql$/, '');
  const readyz = async () => {
    const res = await fetch(`${base()}/readyz`);
    return { status: res.status, body: (await res.json()) as { dependencies: Record<string, string> } };
  };

  it('answers a trivial query and reports Kafka and Redis as up', async () => {
    const res = await gql(app.url, PingDocument, {});
    expect(res.data).toEqual({ __typename: 'Query' });
    const ready = await readyz();
    expect(ready.status).toBe(200);
    expect(ready.body.dependencies).toEqual({ kafka: 'up', redis: 'up' });
    expect((await fetch(`${base()}/healthz`)).status).toBe(200);
  });

  it('turns /readyz to 503 naming Redis (without the error text) while Redis is down, and back to 200 when it returns', async () => {
    await redis.stop();
    const down = await eventually(async () => {
      const r = await readyz();
      return r.status === 503 ? r : undefined;
    });
    expect(down.body.dependencies.redis).toBe('down');
    expect(down.body.dependencies.kafka).toBe('up');

    await redis.restart();
    const up = await eventually(async () => {
      const r = await readyz();
      return r.status === 200 ? r : undefined;
    });
    expect(up.body.dependencies).toEqual({ kafka: 'up', redis: 'up' });
  });

  it('refuses a query deeper than the configured depth limit with a coded error', async () => {
    const shallow = await startApp(testConfig('server-depth', { REDIS_URL: redis.url, GRAPHQL_MAX_DEPTH: '2' }));
    try {
      const ok = await gql(shallow.url, '{ status { ready } }');
      expect(ok.data).toEqual({ status: { ready: true } });
      const res = await gql(shallow.url, '{ status { dependencies { name } } }');
      expect(res.data).toBeUndefined();
      expect(res.errors?.[0]).toMatchObject({ extensions: { code: 'QUERY_LIMIT_EXCEEDED', limit: 'depth' } });
    } finally {
      await shallow.stop();
    }
  });

  it('refuses a query with 50 aliases with a coded error', async () => {
    const query = `{ ${Array.from({ length: 50 }, (_, i) => `a${i}: status { ready }`).join(' ')} }`;
    const res = await gql(app.url, query);
    expect(res.data).toBeUndefined();
    expect(res.errors?.[0]).toMatchObject({ extensions: { code: 'QUERY_LIMIT_EXCEEDED', limit: 'aliases' } });
  });

  it('refuses a 1 MB request body with 413 and keeps answering', async () => {
    const res = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ __typename } # ${'x'.repeat(1024 * 1024)}` }),
    }).catch((error: unknown) => error as Error);
    if (res instanceof Error) throw res;
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ errors: [{ extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
    expect((await gql(app.url, PingDocument, {})).data).toEqual({ __typename: 'Query' });
  });

  it('answers JSON bodies that are not one operation (malformed, not an object, a batch) with 400, and other types with 415', async () => {
    const post = async (type: string, body: string) => {
      const res = await fetch(app.url, { method: 'POST', headers: { 'content-type': type }, body });
      return { status: res.status, body: res.status === 415 ? '' : await res.text() };
    };
    for (const [body, message] of [
      ['{not json', 'POST body sent invalid JSON.'],
      ['null', 'POST body is expected to be object but received null'],
      ['"x"', 'POST body is expected to be object but received string'],
      ['[]', 'Batching is not supported.'],
      ['[{"query":"{ __typename }"}]', 'Batching is not supported.'],
    ] as const) {
      const res = await post('application/json', body);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] });
    }
    expect((await post('text/plain', '{"query":"{ __typename }"}')).status).toBe(415);
    expect(await post('application/graphql+json', '{"query":"{ __typename }"}')).toEqual({
      status: 200,
      body: '{"data":{"__typename":"Query"}}',
    });
  });

  it('exports process metrics and GraphQL operation durations in Prometheus format', async () => {
    await gql(app.url, PingDocument, {});
    const text = await (await fetch(`${base()}/metrics`)).text();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toMatch(/graphql_operation_duration_ms_count\{[^}]*operation_name="Ping"[^}]*\} [1-9]/);
  });

  it('keeps /metrics small however many distinct or long operation names clients send', async () => {
    const long = 'A'.repeat(4000);
    for (let i = 0; i < 100; i++) await gql(app.url, `query N${i}${long} { __typename }`);
    for (let i = 0; i < 250; i++) await gql(app.url, `query Short${i} { __typename }`);
    const text = await (await fetch(`${base()}/metrics`)).text();
    expect(text.length).toBeLessThan(2 * 1024 * 1024);
    const names = new Set([...text.matchAll(/operation_name="([^"]*)"/g)].map((m) => m[1]));
    expect(names.has('other')).toBe(true);
    expect([...names].every((n) => (n ?? '').length <= 64)).toBe(true);
    expect(names.size).toBeLessThanOrEqual(202);
  });

  it('without authentication, answers cross-origin requests only from pages on this machine', async () => {
    const post = (origin: string) =>
      fetch(app.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
    const foreign = await post('https://elsewhere.example');
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(app.url, {
      method: 'OPTIONS',
      headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const local = await post('http://localhost:5173');
    expect(local.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(local.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it("without authentication, refuses other sites' pages outright: a form POST and a WebSocket need no CORS to act", async () => {
    const form = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://elsewhere.example' },
      body: 'query=mutation%20%7B%20__typename%20%7D',
    });
    expect(form.status).toBe(403);
    expect(((await form.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe(
      'FORBIDDEN',
    );
    const upgrade = (origin: string) =>
      new Promise<string>((resolve) => {
        const socket = new WebSocket(app.url.replace(/^http/, 'ws'), 'graphql-transport-ws', { origin });
        socket.once('open', () => (socket.close(), resolve('open')));
        socket.once('unexpected-response', (_req, res) => resolve(`refused ${res.statusCode}`));
        socket.once('error', () => resolve('error'));
      });
    expect(await upgrade('https://elsewhere.example')).toBe('refused 401');
    expect(await upgrade('http://localhost:5173')).toBe('open');
  });

  it('serves GraphiQL with a default query to browsers, with no asset from a CDN', async () => {
    const res = await fetch(app.url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html.toLowerCase()).toContain('graphiql');
    expect(html).toContain('query Status');
    expect(html).not.toMatch(/<script[^>]+src="https?:/);
    expect(html).not.toMatch(/<link[^>]+href="https?:/);
  });
});

describe('configuration', () => {
  it('names the variable and the accepted values when a value is invalid', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(/PORT: expected an integer from 0 to 65535, got "abc"/);
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL: expected one of fatal, error/);
    expect(() => loadConfig({ KAFKA_BROKERS: 'no-port' })).toThrow(/KAFKA_BROKERS/);
  });

  it('keeps room for signed-in users: anonymous subscriptions default to a quarter and stay below the cap', () => {
    expect(loadConfig({}).live).toMatchObject({
      maxSubscriptions: 10_000,
      maxAnonymousSubscriptions: 2500,
      maxTrendingScopes: 200,
      maxSocketsPerIp: 100,
      closeGraceMs: 1000,
    });
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ LIVE_MAX_SUBSCRIPTIONS: '100' }).live.maxAnonymousSubscriptions).toBe(25);
    expect(() => loadConfig({ LIVE_MAX_SUBSCRIPTIONS: '100', LIVE_MAX_ANONYMOUS_SUBSCRIPTIONS: '100' })).toThrow(
      /LIVE_MAX_ANONYMOUS_SUBSCRIPTIONS: expected less than LIVE_MAX_SUBSCRIPTIONS \(100\)/,
    );
  });

  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(4000);
    expect(config.limits).toEqual({
      maxDepth: 7,
      maxAliases: 5,
      maxDirectives: 10,
      maxTokens: 1000,
      maxCost: 1000,
      maxBodyBytes: 262144,
    });
    expect(config.kafka.partitions).toBeGreaterThanOrEqual(6);
    expect(config.shutdownTimeoutMs).toBe(25_000);
  });
});
