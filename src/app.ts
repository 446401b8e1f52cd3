import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { readBody, BodyTooLarge } from './http/body-limit.js';
import { demoPage, graphqlWsBrowserClient } from './http/demo.js';
import { createGraphQLServer } from './http/graphql.js';
import { createWebSocketEndpoint } from './http/websocket.js';
import { createLiveHub } from './live/hub.js';
import { createLiveSources } from './live/sources.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { connectRedis } from './redis/client.js';
import type { DependencyCheck, Services } from './services.js';
import { createAuthenticator } from './auth/viewer.js';
import { createIngest } from './ingest/interactions.js';
import { createRateLimiter } from './ingest/rate-limit.js';
import { createKafka, ensureTopics } from './streams/kafka.js';
import { createIngestProducer } from './streams/producer.js';
import { createBackgroundWorkers, type BackgroundWorkers } from './streams/background.js';
import { redisKeys } from './core/keys.js';
import { topicNames, topicSpecs } from './core/topics.js';
import path from 'node:path';
import { RANKING_FEATURES, tagCategories } from './features/ranking-features.js';
import { readFile } from 'node:fs/promises';
import { loadRankingModel } from './model/session.js';
import { createFeedCache } from './ranking/cache.js';
import { createModelArms, type ModelArms } from './ranking/model-arms.js';
import { createRanker } from './ranking/ranker.js';
import { createTrendingCache } from './ranking/recall.js';
import { createItemCache } from './features/item-features.js';
import { encodeEvent } from './core/events.js';
import { projectRoot } from './stack/paths.js';
import type { Redis } from 'ioredis';

export interface App {
  readonly server: Server;
  /** The GraphQL endpoint URL, once started. */
  readonly url: string;
  readonly services: Services;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });

function json(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Builds the whole API instance: Redis and Kafka clients, topics, the GraphQL server over HTTP and
 * WebSocket on one port and path, and the operational endpoints. Nothing runs until `start()`.
 */
export function createApp(config: Config, options: { log?: Logger } = {}): App {
  const log = options.log ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const topics = topicNames(config.kafka.topicPrefix);
  const brokers = config.kafka.brokers;
  const redisUrl = config.redis.url;
  if (!brokers || !redisUrl)
    throw new Error('createApp needs KAFKA_BROKERS and REDIS_URL (main.ts starts a local stack otherwise)');

  const kafka = createKafka({ brokers, clientId: config.kafka.clientId, logger: log });
  const admin = kafka.admin({ retry: { retries: 1, initialRetryTime: 100 } });
  const authMode = config.auth.mode === 'auto' ? 'jwt' : config.auth.mode;
  if (authMode === 'jwt' && !config.auth.jwtSecret && !config.auth.jwksUrl) {
    throw new Error('set JWT_SECRET or JWKS_URL (or AUTH_MODE=dev for local development without auth)');
  }
  const producer = createIngestProducer({ kafka, log, timeoutMs: config.kafka.produceTimeoutMs });
  const ingest = createIngest({
    producer,
    topics,
    limits: config.ingest,
    rateLimiter: createRateLimiter(config.ingest),
  });
  const keys = redisKeys(config.redis.keyPrefix);
  let background: BackgroundWorkers | undefined;
  let models: ModelArms | undefined;
  const services = {
    config,
    keys,
    log,
    metrics,
    topics,
    kafka,
    admin,
    redis: undefined as unknown as Services['redis'], // set in start(), before the server listens
    ranking: undefined as unknown as Services['ranking'], // likewise
    live: undefined as unknown as Services['live'], // likewise
    producer,
    ingest,
    authenticate: createAuthenticator({ ...config.auth, mode: authMode }),
    async readiness(): Promise<DependencyCheck[]> {
      const timeout = config.readinessTimeoutMs;
      const check = async (name: DependencyCheck['name'], probe: () => Promise<unknown>): Promise<DependencyCheck> => {
        try {
          await withTimeout(probe(), timeout, name);
          metrics.dependencyUp.set({ dependency: name }, 1);
          return { name, up: true };
        } catch (error) {
          metrics.dependencyUp.set({ dependency: name }, 0);
          return { name, up: false, detail: error instanceof Error ? error.message : String(error) };
        }
      };
      return Promise.all([
        check('kafka', () => admin.describeCluster()),
        check('redis', async () => {
          if ((await services.redis.ping()) !== 'PONG') throw new Error('unexpected PING reply');
        }),
      ]);
    },
  } satisfies Services;

  const yoga = createGraphQLServer(services);
  const maxBody = config.limits.maxBodyBytes;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const checks = await services.readiness();
      const ready = checks.every((c) => c.up);
      return json(res, ready ? 200 : 503, {
        status: ready ? 'ready' : 'unavailable',
        dependencies: Object.fromEntries(checks.map((c) => [c.name, c.up ? 'up' : `down: ${c.detail}`])),
      });
    }
    if (path === '/metrics') {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      return res.end(text);
    }
    if (path === '/') {
      res.writeHead(302, { location: '/graphql' });
      return res.end();
    }
    if (config.live.demoPage && path === '/demo') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
      return res.end(demoPage());
    }
    if (config.live.demoPage && path === '/demo/graphql-ws.js') {
      const script = await graphqlWsBrowserClient();
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'content-length': script.length });
      return res.end(script);
    }
    if (path === '/graphql' && req.method === 'POST') {
      try {
        (req as IncomingMessage & { body?: Buffer }).body = await readBody(req, maxBody);
      } catch (error) {
        if (!(error instanceof BodyTooLarge)) throw error;
        res.setHeader('connection', 'close');
        json(res, 413, {
          errors: [{ message: error.message, extensions: { code: 'PAYLOAD_TOO_LARGE', limit: maxBody } }],
        });
        req.destroy();
        return;
      }
    }
    return yoga(req, res);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log.error({ err: error, url: req.url }, 'request failed');
      if (!res.headersSent)
        json(res, 500, { errors: [{ message: 'internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;

  const wsServer = createWebSocketEndpoint(server, yoga, services);

  let url = '';
  let stopping: Promise<void> | undefined;

  /**
   * Loads the model, builds the ranker, and starts the live hub: it drops cached feeds when the
   * stream reports a change and pushes refreshed feeds to this instance's subscribers.
   */
  async function startRanking(redis: Redis) {
    const modelPath = path.resolve(projectRoot, config.ranking.modelPath);
    const modelBytes = await readFile(modelPath);
    const model = await loadRankingModel(modelBytes, RANKING_FEATURES, { source: modelPath });
    log.info({ modelVersion: model.version, kind: model.kind, path: modelPath }, 'ranking model loaded');
    const trending = createTrendingCache(redis, keys);
    const cache = createFeedCache(config.ranking.cacheTtlMs);
    // The registry decides what each experiment arm serves; MODEL_PATH's file serves until it
    // has, and is published as the first version when the registry is empty.
    models = createModelArms({
      keys,
      initial: { model, bytes: modelBytes, source: modelPath },
      connect: (name) => connectRedis(redisUrl!, log, name),
      log: log.child({ component: 'models' }),
      metrics,
      refreshIntervalMs: config.ranking.modelRefreshIntervalMs,
      onSwap: () => cache.clear(),
    });
    await models.start();
    const ranker = createRanker({
      redis,
      keys,
      models,
      weights: config.features.weights,
      blend: config.ranking.blend,
      trending,
      tagCategories: tagCategories(config.patterns.rules),
      onImpression: (impression) => {
        producer.send([{ topic: topics.impressions, key: impression.userId, value: encodeEvent(impression) }]).then(
          () => metrics.impressionsLogged.inc({ outcome: 'ok' }),
          (error: unknown) => {
            metrics.impressionsLogged.inc({ outcome: 'failed' });
            log.warn({ err: error, userId: impression.userId }, 'an impression could not be logged');
          },
        );
      },
    });
    services.ranking = {
      ranker,
      cache,
      models,
      trending,
      items: createItemCache(redis, keys, config.ranking.itemCacheTtlMs),
    };
    // Reconnects re-subscribe on their own (ioredis); a feed computed while disconnected may be
    // served from cache for at most the cache TTL, and live subscribers wait for the next change.
    services.live = createLiveHub({
      subscriber: await connectRedis(redisUrl!, log, 'subscriber'),
      channel: keys.userChangedChannel(),
      log: log.child({ component: 'live' }),
      metrics,
      pushIntervalMs: config.live.pushIntervalMs,
      trendingIntervalMs: config.live.trendingIntervalMs,
      maxSubscriptions: config.live.maxSubscriptions,
      maxSubscriptionsPerUser: config.live.maxSocketsPerUser * config.live.maxSubscriptionsPerSocket,
      onUsersChanged: (users) => cache.invalidate(users),
      ...createLiveSources(services),
    });
    await services.live.start();
  }
  return {
    server,
    services,
    get url() {
      return url;
    },
    async start() {
      services.redis = await connectRedis(redisUrl, log);
      await startRanking(services.redis);
      await admin.connect();
      const created = await ensureTopics(
        admin,
        topicSpecs(topics, config.kafka.partitions, config.kafka.replicationFactor),
      );
      if (created.length) log.info({ topics: created }, 'created kafka topics');
      await producer.start();
      background = createBackgroundWorkers(config, {
        kafka,
        redis: services.redis,
        redisUrl,
        keys,
        topics,
        log,
        metrics,
      });
      await background.start();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => resolve());
      });
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}/graphql`;
    },
    stop() {
      stopping ??= (async () => {
        const started = Date.now();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Ends every live stream first, so SSE responses finish instead of holding the server open
        // and WebSocket clients get `complete` (sent on the next turn) before their socket closes.
        services.live?.stop();
        await new Promise((resolve) => setImmediate(resolve));
        await wsServer.dispose();
        server.closeIdleConnections();
        const deadline = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
        await closed;
        clearTimeout(deadline);
        await producer.stop();
        await background?.stop();
        await models?.stop();
        await admin.disconnect().catch(() => {});
        services.redis?.disconnect();
        log.info({ durationMs: Date.now() - started }, 'api stopped');
      })();
      return stopping;
    },
  };
}
