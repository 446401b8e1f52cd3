import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp, type App } from '../src/app.js';
import {
  FeedUpdatedDocument,
  RecommendationsDocument,
  TrendingUpdatedDocument,
  type SubscriptionResult,
} from '../src/client/index.js';
import type { Config } from '../src/config.js';
import { readTopic, topicSize } from './kafka-helpers.js';
import { eventually, gql, seedCatalogue, startApp, streamCaughtUp, testConfig } from './helpers.js';
import { rawSocket, signer, watch, wsClient } from './live-clients.js';

const secret = 'live-limits-test-secret-0123456789abcdef';
const sign = signer(secret);

const signWith = (key: CryptoKey, sub: string) =>
  new SignJWT({ role: 'user' })
    .setProtectedHeader({ alg: 'RS256', kid: 'slow-key' })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(key);

/** What a subscription ended with, once it ended: its first payload or its error. */
const outcome = (w: { results: SubscriptionResult<unknown>[]; state: { error?: unknown } }) =>
  w.results[0] ?? (w.state.error === undefined ? undefined : { errors: w.state.error as unknown[] });

const closeAll = async (sockets: Awaited<ReturnType<typeof rawSocket>>[]) => {
  for (const s of sockets) s.socket.close(1000);
  await Promise.all(sockets.map((s) => s.closed));
};

/** Live re-ranks that succeeded on `app` so far. */
async function reranks(app: App) {
  const metric = await app.services.metrics.liveReranks.get();
  return metric.values.find((v) => v.labels.outcome === 'ok')?.value ?? 0;
}

describe('live feed limits', () => {
  let main: App;
  let shared: Record<string, string>;
  const apps: App[] = [];
  /** Another instance on the same topics and keys, without the stream workers. */
  const another = async (env: Record<string, string>) => {
    const app = await startApp(instanceConfig(env));
    apps.push(app);
    return app;
  };
  const instanceConfig = (env: Record<string, string>): Config =>
    testConfig('live-limits', { ...shared, WORKER_ENABLED: 'false', EXPERIMENT_WORKER_ENABLED: 'false', ...env });

  beforeAll(async () => {
    const config = testConfig('live-limits', {
      AUTH_MODE: 'jwt',
      JWT_SECRET: secret,
      LIVE_MAX_SUBSCRIPTIONS: '8',
      LIVE_MAX_ANONYMOUS_SUBSCRIPTIONS: '3',
    });
    shared = {
      AUTH_MODE: 'jwt',
      JWT_SECRET: secret,
      KAFKA_TOPIC_PREFIX: config.kafka.topicPrefix,
      REDIS_KEY_PREFIX: config.redis.keyPrefix,
    };
    main = await startApp(config);
    await seedCatalogue(main, { authorization: `Bearer ${await sign({ role: 'service' })}` });
    await streamCaughtUp(main);
  });
  afterAll(async () => {
    for (const app of apps) await app.stop();
    await main?.stop();
  });

  it("anonymous screens filling their budget do not stop a signed-in user's live feed", async () => {
    const guest = wsClient(main);
    const user = wsClient(main, await sign({ sub: 'u-signed-in' }));
    try {
      // As many anonymous subscriptions as the whole instance holds: only the anonymous budget is granted.
      const screens = Array.from({ length: 8 }, (_, i) =>
        watch(guest, TrendingUpdatedDocument, { category: i % 2 ? 'pets' : null, first: 3 }),
      );
      const outcomes = await eventually(async () => {
        const all = screens.map(outcome);
        return all.every(Boolean) ? all : undefined;
      });
      const refused = outcomes.filter((o) => o?.errors);
      expect(refused).toHaveLength(5);
      for (const o of refused)
        expect(o?.errors?.[0]).toMatchObject({
          extensions: { code: 'LIMIT_EXCEEDED', limit: 'anonymousSubscriptions' },
        });

      const feed = watch(user, FeedUpdatedDocument, { first: 5 });
      const first = await eventually(async () => outcome(feed));
      expect(first?.errors).toBeUndefined();
      expect(feed.results[0]?.data?.feedUpdated.trigger).toBe('subscribed');
    } finally {
      await guest.dispose();
      await user.dispose();
    }
    await eventually(async () => main.services.live.stats().subscriptions === 0);
  });

  it('ranks once per change for all of a user’s page sizes, and logs no impression when nothing is delivered', async () => {
    const userId = 'u-pages';
    const client = wsClient(main, await sign({ sub: userId }));
    const reranked = () => reranks(main);
    try {
      const pages = [1, 2, 3, 4, 5].map((first) => watch(client, FeedUpdatedDocument, { first }));
      await eventually(async () => pages.every((p) => p.results.length === 1));
      for (const p of pages) expect(p.results[0]?.errors).toBeUndefined();
      const before = await reranked();

      // The stream reports a change for the user that leaves their ranking as it was.
      await main.services.redis.publish(
        main.services.keys.userChangedChannel(),
        JSON.stringify({ users: [userId], at: Date.now(), receivedAt: [Date.now()] }),
      );
      await eventually(async () => (await reranked()) > before);
      // A feed served after the re-rank: every impression logged before it is on the topic before it.
      const sentinel = await gql(
        main.url,
        RecommendationsDocument,
        { first: 7 },
        { authorization: `Bearer ${await sign({ sub: userId })}` },
      );
      expect(sentinel.errors).toBeUndefined();
      const topic = main.services.topics.impressions;
      const brokers = inject('kafkaBrokers').split(',');
      const mine = await eventually(
        async () => {
          const records = (await readTopic(brokers, topic, await topicSize(brokers, topic))).filter(
            (r) => r.key === userId,
          );
          return records.some((r) => (r.value.items as unknown[]).length === 7) ? records : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(await reranked()).toBe(before + 1);
      // The five snapshots and the sentinel; nothing for the re-rank that changed nothing.
      expect(mine.map((r) => (r.value.items as unknown[]).length).sort()).toEqual([1, 2, 3, 4, 5, 7]);
      for (const p of pages) expect(p.results).toHaveLength(1);
    } finally {
      await client.dispose();
    }
  });

  it('refuses an address its (N+1)th socket, whatever X-Forwarded-For says when no proxy is trusted', async () => {
    const app = await another({ LIVE_MAX_SOCKETS_PER_IP: '3' });
    const open = await Promise.all([1, 2, 3].map((i) => rawSocket(app.url, { 'x-forwarded-for': `198.51.100.${i}` })));
    for (const s of open) expect(await s.init()).toBe(true);
    const fourth = await rawSocket(app.url, { 'x-forwarded-for': '198.51.100.4' });
    expect(await fourth.init()).toEqual({ code: 4403, reason: 'LIMIT_EXCEEDED: at most 3 sockets per address' });
    // A signed-in user next to them still gets in: the address limit is for sockets nobody signed.
    const user = await rawSocket(app.url);
    expect(await user.init(await sign({ sub: 'office-colleague' }))).toBe(true);
    await closeAll([user]);
    await closeAll(open.slice(0, 1));
    const again = await eventually(async () => {
      const s = await rawSocket(app.url);
      if ((await s.init()) === true) return s;
      return undefined;
    });
    await closeAll([...open.slice(1), again]);
  });

  it('counts sockets per client address behind a trusted proxy', async () => {
    const app = await another({ LIVE_MAX_SOCKETS_PER_IP: '2', TRUST_PROXY: 'true' });
    const from = (chain: string) => rawSocket(app.url, { 'x-forwarded-for': chain });
    const open = [await from('203.0.113.7'), await from('203.0.113.7')];
    for (const s of open) expect(await s.init()).toBe(true);
    // The proxy appends the address it saw; what the client put before it does not count.
    const spoofed = await from('192.0.2.1, 203.0.113.7');
    expect(await spoofed.init()).toMatchObject({ code: 4403 });
    const neighbour = await from('203.0.113.8');
    expect(await neighbour.init()).toBe(true);
    await closeAll([...open, neighbour]);
  });

  it('stops well within the deadline when a client never answers the close handshake, and still flushes the producer', async () => {
    const lines: { msg?: string; component?: string }[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as object) });
    const app = createApp(instanceConfig({ WS_CLOSE_GRACE_MS: '200' }), { log });
    await app.start();
    const silent = await rawSocket(app.url);
    expect(await silent.init()).toBe(true);
    silent.socket.send(
      JSON.stringify({
        id: '1',
        type: 'subscribe',
        payload: { query: 'subscription { trendingUpdated(first: 3) { entered } }' },
      }),
    );
    await eventually(async () => silent.messages.some((m) => m.type === 'next'));
    // From now on the client reads nothing: the server's close frame is never answered.
    silent.socket.pause();
    const started = Date.now();
    await app.stop();
    expect(Date.now() - started).toBeLessThan(5000);
    const stopped = lines.filter((l) => l.msg === 'component stopped').map((l) => l.component);
    expect(stopped).toContain('http-server');
    expect(stopped.indexOf('ingest-producer')).toBeGreaterThan(stopped.indexOf('http-server'));
    expect(lines.filter((l) => l.msg === 'a component did not stop within the deadline')).toEqual([]);
    silent.socket.terminate();
  });

  it('lets a user open sockets again after sockets dropped while their token was being verified', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'slow-key', alg: 'RS256', use: 'sig' };
    // A key server that holds its answers until the test lets them go: verification is pending meanwhile.
    const held: (() => void)[] = [];
    let holding = true;
    const keys: Server = createServer((_req, res) => {
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [jwk] }));
      };
      if (holding) held.push(answer);
      else answer();
    });
    await new Promise<void>((resolve) => keys.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = keys.address() as AddressInfo;
      const app = await another({ JWT_SECRET: '', JWKS_URL: `http://127.0.0.1:${port}/jwks.json` });
      const token = await signWith(privateKey, 'u-flaky');
      const dropped = await Promise.all(Array.from({ length: 5 }, () => rawSocket(app.url)));
      for (const s of dropped) s.sendInit(token);
      await eventually(async () => held.length > 0);
      await closeAll(dropped);
      holding = false;
      for (const answer of held.splice(0)) answer();
      // The whole per-user allowance is still there.
      const reopened = [];
      for (let i = 0; i < 5; i++) {
        const s = await rawSocket(app.url);
        expect(await s.init(token)).toBe(true);
        reopened.push(s);
      }
      await closeAll(reopened);
    } finally {
      keys.closeAllConnections();
      keys.close();
    }
  });
});
