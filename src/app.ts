/**
 * The API instance as components: every part is built here, nothing runs until the runner starts
 * them (in the order of `components`) and everything stops in reverse. Resolvers get the narrow
 * `Domain` interfaces, never the parts themselves.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createAuthenticator } from './auth/viewer.js';
import type { Config } from './config.js';
import type { Domain } from './context.js';
import type { FeedRefreshCause } from './core/feed-refresh.js';
import { redisKeys, type RedisKeys } from './core/keys.js';
import { topicNames, topicSpecs, type Topics } from './core/topics.js';
import { createExperiments } from './experiments/view.js';
import { createCovisitCache, createItemCache, readTrending } from './features/item-features.js';
import { RANKING_FEATURES, tagCategories } from './features/ranking-features.js';
import { createHttpServer } from './http/server.js';
import { createIngest } from './ingest/interactions.js';
import { createRateLimiter } from './ingest/rate-limit.js';
import { createLiveHub, type LiveHub } from './live/hub.js';
import { createLiveSources } from './live/sources.js';
import { createLoaders } from './loaders/index.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { loadRankingModel } from './model/session.js';
import { createFeedCache, type FeedCache } from './ranking/cache.js';
import { createFeeds } from './ranking/feeds.js';
import { createModelArms, type ModelArms } from './ranking/model-arms.js';
import { createRanker } from './ranking/ranker.js';
import { createTrendingCache, type TrendingCache } from './ranking/recall.js';
import {
  connectRedis,
  createRedis,
  describeRedis,
  redisComponent,
  SharedPipeline,
  type RedisClient,
} from './redis/client.js';
import { createReadiness } from './runtime/ops-server.js';
import { component, createRunner, type Component } from './runtime/runner.js';
import { projectRoot } from './stack/paths.js';
import { createBackgroundWorkers } from './streams/background.js';
import { createKafka, topicsComponent, type Kafka } from './streams/kafka.js';
import { createImpressionLog, type ImpressionLog } from './streams/impression-log.js';
import { createIngestProducer } from './streams/producer.js';

/** The instance's parts that tests and benchmarks reach past the API for (to seed or inspect state). */
export interface AppParts {
  config: Config;
  keys: RedisKeys;
  topics: Topics;
  redis: RedisClient;
  kafka: Kafka;
  metrics: Metrics;
  /** `impressions`: the computed feeds' impressions on their way to Kafka (`flush` sends what waits). */
  ranking: { models: ModelArms; cache: FeedCache; trending: TrendingCache; impressions: ImpressionLog };
  live: LiveHub;
}

export interface App {
  /** In start order; a runner stops them in reverse. */
  readonly components: readonly Component[];
  /** The GraphQL endpoint URL, once started. */
  readonly url: string;
  readonly services: AppParts;
  /** Starts every component with a runner of its own (tests; processes use `components`). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Builds the whole API instance: RedisClient and Kafka clients, topics, models, the live hub, the
 * in-process stream workers, and the GraphQL server over HTTP and WebSocket on one port and path.
 */
export function createApp(config: Config, options: { log?: Logger } = {}): App {
  const log = options.log ?? createLogger(config.logLevel);
  const { brokers, clientId } = config.kafka;
  const redisUrl = config.redis.url;
  if (!brokers || !redisUrl)
    throw new Error('createApp needs KAFKA_BROKERS and REDIS_URL (main.ts starts a local stack otherwise)');
  const authMode = config.auth.mode === 'auto' ? 'jwt' : config.auth.mode;
  if (authMode === 'jwt' && !config.auth.jwtSecret && !config.auth.jwksUrl)
    throw new Error('set JWT_SECRET or JWKS_URL (or AUTH_MODE=dev for local development without auth)');

  const metrics = createMetrics();
  const topics = topicNames(config.kafka.topicPrefix);
  const keys = redisKeys(config.redis.keyPrefix);
  const kafka = createKafka({ brokers, clientId, logger: log });
  const admin = kafka.admin({ retry: { retries: 1, initialRetryTime: 100 } });
  const redis = createRedis(redisUrl, log);
  const producer = createIngestProducer({ kafka, log, timeoutMs: config.kafka.produceTimeoutMs });
  const ingest = createIngest({
    producer,
    topics,
    limits: config.ingest,
    rateLimiter: createRateLimiter(config.ingest),
  });

  // The live hub is built after the models it ranks with; a swap reaches it through this, set once
  // the hub exists (a swap only happens after start, when it does).
  let refreshLive: (cause: FeedRefreshCause) => void = () => {};

  // Ranking. The registry decides what each experiment arm serves; MODEL_PATH's file serves until
  // it has, and is published as the first version when the registry is empty.
  const cache = createFeedCache(config.ranking.cacheTtlMs);
  const trending = createTrendingCache((scope, limit) => readTrending(redis, keys, scope, limit));
  const itemSide = { ttlMs: config.ranking.itemCacheTtlMs, staleMs: config.ranking.itemCacheStaleMs };
  const itemSideHooks = { metrics, log: log.child({ component: 'feature-cache' }) };
  const items = createItemCache(redis, keys, itemSide, itemSideHooks);
  // Item neighbour lists are item-side too: shared by requests for the same short TTL.
  const covisit = createCovisitCache(redis, keys, itemSide, itemSideHooks);
  const models = createModelArms({
    keys,
    initial: async () => {
      const modelPath = path.resolve(projectRoot, config.ranking.modelPath);
      const bytes = await readFile(modelPath);
      const model = await loadRankingModel(bytes, RANKING_FEATURES, { source: modelPath });
      log.info({ modelVersion: model.version, kind: model.kind, path: modelPath }, 'ranking model loaded');
      return { model, bytes, source: modelPath };
    },
    connect: (name) => connectRedis(redisUrl, log, name),
    log: log.child({ component: 'models' }),
    metrics,
    refreshIntervalMs: config.ranking.modelRefreshIntervalMs,
    // Feeds cached with the old models are dropped at once; live subscribers are re-ranked by the
    // hub, spread over time.
    onSwap: (cause) => {
      cache.clear();
      refreshLive(cause);
    },
  });
  const impressions = createImpressionLog({
    producer,
    topic: topics.impressions,
    lingerMs: config.ranking.impressionLingerMs,
    metrics,
    log: log.child({ component: 'impressions' }),
  });
  const ranker = createRanker({
    redis,
    keys,
    models,
    weights: config.features.weights,
    blend: config.ranking.blend,
    trending,
    covisit: (ids, limits) => covisit.read(ids, limits),
    tagCategories: tagCategories(config.patterns.rules),
    onImpression: (impression) => impressions.log(impression),
  });
  // Every request reads its user; the reads of the requests in one turn of the event loop share a round trip.
  const userReads = new SharedPipeline(redis);
  const loaders = () => createLoaders({ redis: userReads, keys, items });

  // Reconnects re-subscribe on their own (ioredis); a feed computed while disconnected may be
  // served from cache for at most the cache TTL, and live subscribers wait for the next change.
  const subscriber = createRedis(redisUrl, log, 'subscriber');
  const live = createLiveHub({
    subscriber,
    channel: keys.userChangedChannel(),
    refreshChannel: keys.feedRefreshChannel(),
    log: log.child({ component: 'live' }),
    metrics,
    pushIntervalMs: config.live.pushIntervalMs,
    trendingIntervalMs: config.live.trendingIntervalMs,
    refreshPerSec: config.live.refreshPerSec,
    maxSubscriptions: config.live.maxSubscriptions,
    maxAnonymousSubscriptions: config.live.maxAnonymousSubscriptions,
    maxTrendingScopes: config.live.maxTrendingScopes,
    maxSubscriptionsPerUser: config.live.maxSocketsPerUser * config.live.maxSubscriptionsPerSocket,
    onUsersChanged: (users) => cache.invalidate(users),
    ...createLiveSources({ ranker, trending, metrics, loaders }),
  });
  refreshLive = (cause) => void live.refreshAll(cause);

  const readiness = createReadiness(
    [
      {
        name: 'kafka',
        probe: async () => {
          const cluster = await admin.describeCluster();
          return `Kafka: ${cluster.brokers.length} broker${cluster.brokers.length === 1 ? '' : 's'}, topics with ${config.kafka.replicationFactor} replica${config.kafka.replicationFactor === 1 ? '' : 's'}`;
        },
      },
      { name: 'redis', probe: () => describeRedis(redis) },
    ],
    { timeoutMs: config.readinessTimeoutMs, metrics, log: log.child({ component: 'readiness' }) },
  );
  const authenticate = createAuthenticator({ ...config.auth, mode: authMode });
  const domain: Domain = {
    limits: { maxFirst: config.ranking.maxFirst, maxCandidates: config.ranking.maxCandidates },
    authenticate,
    ingest,
    feeds: createFeeds({ ranker, cache, metrics }),
    trending,
    live,
    experiments: createExperiments({ redis, keys, models }),
    readiness,
    log,
    loaders,
  };
  const http = createHttpServer({ config, log, metrics, domain, readiness, onClosing: () => live.stop() });
  const background = createBackgroundWorkers(config, { kafka, redis, redisUrl, keys, topics, log, metrics });

  const components: Component[] = [
    redisComponent(redis, 'redis'),
    { name: 'models', start: () => models.start(), stop: () => models.stop() },
    component(
      'live-hub',
      async () => {
        await subscriber.connect();
        await live.start();
      },
      async () => live.stop(),
    ),
    topicsComponent(admin, topicSpecs(topics, config.kafka.partitions, config.kafka.replicationFactor), log, {
      keepConnected: true, // readiness probes describe the cluster through it
    }),
    { name: 'ingest-producer', start: () => producer.start(), stop: () => producer.stop() },
    // Stopped before the producer: what waits in it is sent first.
    impressions,
    ...background.components,
    http,
  ];

  const runner = createRunner({ log, shutdownTimeoutMs: config.shutdownTimeoutMs });
  return {
    components,
    services: { config, keys, topics, redis, kafka, metrics, ranking: { models, cache, trending, impressions }, live },
    get url() {
      return http.url();
    },
    start: () => runner.start(...components),
    stop: () => runner.stop(),
  };
}
