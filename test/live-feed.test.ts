import vm from 'node:vm';
import v8 from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import {
  FeedUpdatedDocument,
  RecordInteractionCountsDocument,
  requestBody,
  TrendingUpdatedDocument,
  type FeedUpdatedSubscription,
  type InteractionInput,
  type SubscriptionResult,
  type TypedDocumentNode,
} from '../src/client/index.js';
import { eventually, gql, seedCatalogue, startApp, streamCaughtUp, testConfig, channelSubscribers } from './helpers.js';
import { rawSocket, signer, watch, wsClient } from './live-clients.js';

const secret = 'live-feed-test-secret-0123456789abcdef';
const sign = signer(secret);

/** Watches of the live feed: what a screen showing it receives. */
type FeedResults = { results: SubscriptionResult<FeedUpdatedSubscription>[] };

/** The feed payloads one watcher received (the subscription's field unwrapped). */
const feedsOf = (w: FeedResults) => w.results.flatMap((r) => (r.data ? [r.data.feedUpdated] : []));

/**
 * Waits for a pushed feed (trigger "behaviour") led by `category`; on timeout, says what arrived
 * instead (each payload's trigger and leading categories).
 */
async function feedLedBy(w: FeedResults, category: string) {
  try {
    return await eventually(
      async () => feedsOf(w).find((u) => u.trigger === 'behaviour' && u.feed.items[0]?.item.category === category),
      { timeoutMs: 10_000, intervalMs: 10 },
    );
  } catch {
    const seen = w.results.map((r) =>
      r.data
        ? `${r.data.feedUpdated.trigger}: ${r.data.feedUpdated.feed.items.map((e) => e.item.id).join(' ')}`
        : JSON.stringify(r.errors),
    );
    throw new Error(`no pushed feed led by ${category} within 10 s; received:\n${seen.join('\n')}`);
  }
}

/** Reads a subscription over SSE (graphql-yoga's `text/event-stream` answer to a POST). */
function sse<TResult, TVariables>(
  url: string,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
  token: string,
) {
  const controller = new AbortController();
  const results: SubscriptionResult<TResult>[] = [];
  const done = (async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: requestBody(document, variables),
      signal: controller.signal,
    });
    if (!res.body) throw new Error(`no body (HTTP ${res.status})`);
    const decoder = new TextDecoder();
    let buffer = '';
    const reader = res.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = block.split('\n');
        const data = lines
          .find((l) => l.startsWith('data:'))
          ?.slice(5)
          .trim();
        if (lines.includes('event: next') && data) results.push(JSON.parse(data) as SubscriptionResult<TResult>);
      }
    }
  })().catch((error: unknown) => {
    if (!(error instanceof Error && error.name === 'AbortError')) throw error;
  });
  return { results, close: () => controller.abort(), done };
}

describe('the live feed', () => {
  /** A: API only (no stream worker). B: API with the stream worker. Same topics and keys. */
  let a: App;
  let b: App;
  let service: string;

  const record = (app: App, token: string, inputs: InteractionInput[]) =>
    gql(app.url, RecordInteractionCountsDocument, { inputs }, { authorization: `Bearer ${token}` });
  const applied = () => streamCaughtUp(b);
  const subscribersOn = (app: App) => channelSubscribers(app.services.redis, app.services.keys.userChangedChannel());

  beforeAll(async () => {
    // Every client of this file, the 1,000 of the memory test included, connects from 127.0.0.1.
    const auth = { AUTH_MODE: 'jwt', JWT_SECRET: secret, FEED_CACHE_TTL_MS: '60000', LIVE_MAX_SOCKETS_PER_IP: '5000' };
    const first = testConfig('live', { ...auth, WORKER_ENABLED: 'false' });
    a = await startApp(first);
    b = await startApp(
      testConfig('live', {
        ...auth,
        KAFKA_TOPIC_PREFIX: first.kafka.topicPrefix,
        REDIS_KEY_PREFIX: first.redis.keyPrefix,
      }),
    );
    service = await sign({ role: 'service' });
    await seedCatalogue(a, { authorization: `Bearer ${service}` });
    await applied();
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('pushes a feed led by the category a user just liked, over WebSocket', async () => {
    const token = await sign({ sub: 'u-live' });
    const client = wsClient(a, token);
    try {
      const live = watch(client, FeedUpdatedDocument, { first: 10 });
      await eventually(async () => feedsOf(live).length === 1);
      const [snapshot] = feedsOf(live);
      expect(snapshot?.trigger).toBe('subscribed');
      expect(snapshot?.entered).toEqual(snapshot?.feed.items.map((e) => e.item.id));

      const liked = ['pets-1', 'pets-2', 'pets-3', 'pets-4'];
      const res = await record(
        a,
        token,
        liked.map((itemId) => ({ itemId, action: 'LIKE' })),
      );
      expect(res.errors).toBeUndefined();
      const pushed = await feedLedBy(live, 'pets');
      const ids = pushed.feed.items.map((e) => e.item.id);
      expect(pushed.entered.length).toBeGreaterThan(0);
      for (const id of pushed.entered) expect(ids).toContain(id);
      for (const id of pushed.left) expect(ids).not.toContain(id);
      expect(ids).not.toContain('pets-1');
      expect(live.state.error).toBeUndefined();
      live.unsubscribe();
    } finally {
      await client.dispose();
    }
    const metrics = await (await fetch(a.url.replace(/\/graphql$/, '/metrics'))).text();
    expect(metrics).toMatch(/feed_push_latency_ms_count [1-9]/);
    expect(metrics).toMatch(/live_pushes_total\{kind="feed",trigger="behaviour"\} [1-9]/);
  });

  it('delivers to a subscriber on one instance behaviour recorded through another', async () => {
    expect(await subscribersOn(a)).toBe(2); // one hub connection per instance
    const token = await sign({ sub: 'u-cross' });
    const client = wsClient(a, token);
    try {
      const live = watch(client, FeedUpdatedDocument, { first: 10 });
      await eventually(async () => feedsOf(live).length === 1);
      const res = await record(
        b,
        token,
        ['cars-1', 'cars-2', 'cars-3', 'cars-4'].map((itemId) => ({ itemId, action: 'SHARE' })),
      );
      expect(res.errors).toBeUndefined();
      await feedLedBy(live, 'cars');
    } finally {
      await client.dispose();
    }
  });

  it('serves the same subscription over SSE with the Authorization header', async () => {
    const token = await sign({ sub: 'u-sse' });
    const stream = sse(b.url, FeedUpdatedDocument, { first: 10 }, token);
    try {
      await eventually(async () => stream.results.length === 1);
      expect(stream.results[0]?.data?.feedUpdated.trigger).toBe('subscribed');
      await record(
        a,
        token,
        ['food-1', 'food-2', 'food-3', 'food-4'].map((itemId) => ({ itemId, action: 'LIKE' })),
      );
      await feedLedBy(stream, 'food');
    } finally {
      stream.close();
      await stream.done;
    }
    await eventually(async () => b.services.live.stats().subscriptions === 0);
  });

  it('applies the identity rules of recommendations', async () => {
    const client = wsClient(a, await sign({ sub: 'u-nosy' }));
    try {
      const nosy = watch(client, FeedUpdatedDocument, { userId: 'u-live', first: 5 });
      await eventually(async () => nosy.results.length > 0 || nosy.state.error);
      expect(nosy.results[0]?.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    } finally {
      await client.dispose();
    }
    const guest = wsClient(a);
    try {
      const anon = watch(guest, FeedUpdatedDocument, { first: 5 });
      await eventually(async () => anon.results.length > 0 || anon.state.error);
      expect(anon.results[0]?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    } finally {
      await guest.dispose();
    }
  });

  it('pushes trending to anonymous screens when the list changes', async () => {
    const guest = wsClient(a);
    try {
      const live = watch(guest, TrendingUpdatedDocument, { category: 'sports', first: 3 });
      await eventually(async () => live.results.length === 1);
      expect(live.results[0]?.data?.trendingUpdated.items).toHaveLength(3);
      const burst = Array.from({ length: 30 }, (_, i): InteractionInput => ({
        userId: `fan-${i}`,
        itemId: 'sports-7',
        action: 'SHARE',
      }));
      expect((await record(a, service, burst)).errors).toBeUndefined();
      const pushed = await eventually(
        async () => live.results.find((r) => r.data?.trendingUpdated.items[0]?.item.id === 'sports-7'),
        { timeoutMs: 10_000 },
      );
      expect(pushed.data?.trendingUpdated.entered).toContain('sports-7');
    } finally {
      await guest.dispose();
    }
    await eventually(async () => a.services.live.stats().scopes === 0);
  });

  describe('limits', () => {
    it('closes a socket that sends an operation before connection_init with 4401', async () => {
      const raw = await rawSocket(a.url);
      raw.socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } }));
      expect((await raw.closed).code).toBe(4401);
    });

    it('closes a socket whose connection_init carries a bad token with 4403 UNAUTHENTICATED', async () => {
      const raw = await rawSocket(a.url);
      const result = await raw.init('not-a-jwt');
      expect(result).toHaveProperty('code', 4403);
      expect(result).toHaveProperty('reason', expect.stringMatching(/^UNAUTHENTICATED/));
    });

    it('closes a message over 64 KB with 1009', async () => {
      const raw = await rawSocket(a.url);
      raw.socket.send(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(70 * 1024) } }));
      expect((await raw.closed).code).toBe(1009);
    });

    it("refuses a user's 6th socket with 4403 LIMIT_EXCEEDED, and accepts one again after a socket closes", async () => {
      const token = await sign({ sub: 'u-sockets' });
      const open = await Promise.all(Array.from({ length: 5 }, () => rawSocket(a.url)));
      for (const s of open) expect(await s.init(token)).toBe(true);
      const sixth = await rawSocket(a.url);
      const refused = await sixth.init(token);
      expect(refused).toHaveProperty('code', 4403);
      expect(refused).toHaveProperty('reason', expect.stringMatching(/^LIMIT_EXCEEDED: at most 5 sockets per user/));
      open[0]!.socket.close(1000);
      await open[0]!.closed;
      const again = await eventually(async () => {
        const s = await rawSocket(a.url);
        const result = await s.init(token);
        if (result === true) return s;
        return undefined;
      });
      for (const s of [...open, again]) s.socket.close(1000);
      await Promise.all([...open, again].map((s) => s.closed));
    });

    it('refuses the 11th subscription on one socket with LIMIT_EXCEEDED and keeps the socket', async () => {
      const client = wsClient(a, await sign({ sub: 'u-many' }));
      try {
        const ten = Array.from({ length: 10 }, () => watch(client, FeedUpdatedDocument, { first: 5 }));
        await eventually(async () => ten.every((w) => feedsOf(w).length === 1));
        const eleventh = watch(client, FeedUpdatedDocument, { first: 5 });
        await eventually(async () => eleventh.state.error);
        expect(eleventh.state.error).toMatchObject([
          { extensions: { code: 'LIMIT_EXCEEDED', limit: 'subscriptionsPerSocket', max: 10 } },
        ]);
        ten[0]!.unsubscribe();
        const replacement = watch(client, FeedUpdatedDocument, { first: 5 });
        await eventually(async () => feedsOf(replacement).length === 1);
        for (const w of ten) expect(w.state.error).toBeUndefined();
      } finally {
        await client.dispose();
      }
    });
  });

  it('ends open WebSocket and SSE subscriptions when an instance stops, instead of waiting for the deadline', async () => {
    const c = await startApp(
      testConfig('live', {
        AUTH_MODE: 'jwt',
        JWT_SECRET: secret,
        WORKER_ENABLED: 'false',
        SHUTDOWN_TIMEOUT_MS: '30000',
        KAFKA_TOPIC_PREFIX: a.services.config.kafka.topicPrefix,
        REDIS_KEY_PREFIX: a.services.config.redis.keyPrefix,
      }),
    );
    const token = await sign({ sub: 'u-stop' });
    const stream = sse(c.url, FeedUpdatedDocument, { first: 5 }, token);
    const client = wsClient(c, token);
    const live = watch(client, FeedUpdatedDocument, { first: 5 });
    await eventually(async () => stream.results.length === 1 && feedsOf(live).length === 1);
    expect(c.services.live.stats().subscriptions).toBe(2);
    const started = Date.now();
    await c.stop();
    expect(Date.now() - started).toBeLessThan(10_000);
    await stream.done;
    await eventually(async () => live.state.complete);
    await client.dispose();
    expect(await subscribersOn(a)).toBe(2);
  });

  it('returns to its baseline after 1,000 subscribers connect and disconnect', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const heap = () => {
      // Feeds computed for the subscription snapshots stay in the feed cache by design; they are
      // not subscription state, so they are dropped before measuring.
      a.services.ranking.cache.clear();
      for (let i = 0; i < 3; i++) gc();
      return process.memoryUsage().heapUsed;
    };
    const round = async (n: number, tag: string) => {
      const tokens = await Promise.all(Array.from({ length: n }, (_, i) => sign({ sub: `${tag}-${i}` })));
      const clients = tokens.map((t) => wsClient(a, t));
      const watchers = clients.map((c) => watch(c, FeedUpdatedDocument, { first: 5 }));
      await eventually(async () => watchers.every((w) => feedsOf(w).length === 1), { timeoutMs: 60_000 });
      expect(a.services.live.stats()).toEqual({ users: n, scopes: 0, subscriptions: n });
      const gauge = await a.services.metrics.liveSubscriptions.get();
      expect(gauge.values.find((v) => v.labels.kind === 'feed')?.value).toBe(n);
      for (const w of watchers) w.unsubscribe();
      await Promise.all(clients.map(async (c) => c.dispose()));
      await eventually(async () => a.services.live.stats().subscriptions === 0, { timeoutMs: 30_000 });
      expect(watchers.every((w) => w.state.error === undefined)).toBe(true);
    };
    const channels = () => a.services.redis.pubsub('CHANNELS', `${a.services.config.redis.keyPrefix}:*`);
    const channelsBefore = await channels();
    await round(100, 'warm');
    const baseline = heap();
    await round(1000, 'crowd');
    expect(a.services.live.stats()).toEqual({ users: 0, scopes: 0, subscriptions: 0 });
    expect(await subscribersOn(a)).toBe(2);
    // No channel per user or per subscriber: the instance's channels are the same as before.
    expect(channelsBefore).toContain(a.services.keys.userChangedChannel());
    expect(await channels()).toEqual(channelsBefore);
    const after = await eventually(async () => {
      const used = heap();
      return used < baseline + 16 * 1024 * 1024 ? used : undefined;
    });
    expect(after).toBeLessThan(baseline + 16 * 1024 * 1024);
  }, 180_000);
});
