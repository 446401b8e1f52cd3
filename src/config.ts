/**
 * The only place that reads the environment. Every variable is documented in docs/configuration.md; an invalid
 * value stops start-up with a message naming the variable and what it accepts.
 */
import { z } from 'zod';
import path from 'node:path';
import { DEFAULT_ALLOWED_LATENESS_MS, parseActionWeights } from './features/definitions.js';
import { loadPatternRules, PatternFileError } from './patterns/rules.js';
import { projectRoot } from './stack/paths.js';

const int = (min: number, max: number, def: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected an integer from ${min} to ${max}, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

/** An integer in [min, max], or undefined when unset (the default then depends on other variables). */
const optionalInt = (min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected an integer from ${min} to ${max}, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const num = (min: number, max: number, def: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const n = Number(v);
      if (!Number.isFinite(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected a number from ${min} to ${max}, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const oneOf = <T extends string>(values: readonly [T, ...T[]], def: T) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      if (!(values as readonly string[]).includes(v)) {
        ctx.addIssue({ code: 'custom', message: `expected one of ${values.join(', ')}, got "${v}"` });
        return z.NEVER;
      }
      return v as T;
    });

const bool = (def: boolean) =>
  oneOf(['true', 'false', '1', '0'], def ? 'true' : 'false').transform((v) => v === 'true' || v === '1');

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const brokerList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v.trim() === '') return undefined;
    const list = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = list.find((b) => !/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(b));
    if (bad) {
      ctx.addIssue({ code: 'custom', message: `expected comma-separated host:port pairs, got "${bad}"` });
      return z.NEVER;
    }
    return list;
  });

const redisUrl = optionalString.refine(
  (v) => v === undefined || /^rediss?:\/\//.test(v) || /^redis-cluster:\/\/[^,\s]+(,[^,\s]+)*$/.test(v),
  { message: 'expected a redis://, rediss:// or redis-cluster://host:port,host:port URL' },
);

const prefix = z
  .string()
  .optional()
  .transform((v) => v ?? '')
  .refine((v) => /^[A-Za-z0-9_.-]*$/.test(v), { message: 'expected letters, digits, "_", "." or "-" only' });

function isSafeJwksUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return url.protocol === 'http:' && (host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host));
}

const env = z.object({
  PORT: int(0, 65535, 4000),
  HOST: z
    .string()
    .optional()
    .transform((v) => v || '127.0.0.1'),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
  KAFKA_BROKERS: brokerList,
  KAFKA_CLIENT_ID: z
    .string()
    .optional()
    .transform((v) => v || 'feedrec'),
  KAFKA_TOPIC_PREFIX: prefix,
  KAFKA_TOPIC_PARTITIONS: int(1, 1000, 6),
  KAFKA_REPLICATION_FACTOR: int(1, 10, 1),
  KAFKA_PRODUCE_TIMEOUT_MS: int(100, 120_000, 5000),
  REDIS_URL: redisUrl,
  REDIS_CLUSTER_NODES: brokerList,
  REDIS_WAIT_REPLICAS: int(0, 5, 1),
  REDIS_WAIT_TIMEOUT_MS: int(10, 60_000, 2000),
  REDIS_KEY_PREFIX: prefix.transform((v) => v || 'fr'),
  LOCAL_STACK: oneOf(['auto', 'off', 'cluster'], 'auto'),
  LOCAL_STACK_KAFKA_HEAP_MB: int(128, 16_384, 1024),
  GRAPHQL_MAX_DEPTH: int(1, 100, 7),
  GRAPHQL_MAX_ALIASES: int(0, 1000, 5),
  GRAPHQL_MAX_DIRECTIVES: int(0, 1000, 10),
  GRAPHQL_MAX_TOKENS: int(10, 1_000_000, 1000),
  GRAPHQL_MAX_COST: int(1, 1_000_000, 1000),
  MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024, 256 * 1024),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000, 25_000),
  READINESS_TIMEOUT_MS: int(50, 60_000, 1500),
  GRAPHIQL: bool(true),
  AUTH_MODE: oneOf(['auto', 'jwt', 'dev'], 'auto'),
  JWT_SECRET: optionalString.refine((v) => v === undefined || v.length >= 32, {
    message: 'expected at least 32 characters (an HS256 secret)',
  }),
  // Keys fetched over plain http could be swapped on the way: https, or http on this machine only.
  JWKS_URL: optionalString.refine((v) => v === undefined || isSafeJwksUrl(v), {
    message: 'expected an https URL (http only for localhost, 127.x or [::1])',
  }),
  JWT_MAX_TTL_SECONDS: int(60, 365 * 24 * 3600, 24 * 3600),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  MAX_BATCH_EVENTS: int(1, 10_000, 500),
  EVENT_MAX_AGE_MS: int(60_000, 365 * 24 * 3600 * 1000, 7 * 24 * 3600 * 1000),
  EVENT_MAX_FUTURE_MS: int(0, 24 * 3600 * 1000, 5 * 60 * 1000),
  RATE_LIMIT_MUTATIONS_PER_SEC: num(0.1, 1_000_000, 20),
  RATE_LIMIT_EVENTS_PER_SEC: num(0.1, 1_000_000, 200),
  RATE_LIMIT_MUTATION_BURST: optionalInt(1, 10_000_000),
  RATE_LIMIT_EVENT_BURST: optionalInt(1, 10_000_000),
  WORKER_ENABLED: bool(true),
  WORKER_METRICS_PORT: int(0, 65535, 9464),
  STREAM_GROUP_ID: z
    .string()
    .optional()
    .transform((v) => v || 'feedrec-features'),
  ALLOWED_LATENESS_MS: int(0, 24 * 3600 * 1000, DEFAULT_ALLOWED_LATENESS_MS),
  // The rules are read here, with the rest of the configuration, so that a bad file stops every
  // entry point (API, worker, tests) at start-up with the rule and field named.
  PATTERNS_FILE: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const given = v?.trim() ?? '';
      if (given === 'off') return { file: null, rules: [] };
      const file = path.resolve(projectRoot, given || 'patterns.json');
      try {
        return { file, rules: loadPatternRules(file, given || 'patterns.json') };
      } catch (error) {
        if (!(error instanceof PatternFileError)) throw error;
        for (const message of error.problems) ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
    }),
  MODEL_PATH: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() ? v.trim() : 'models/default.onnx')),
  MODEL_REFRESH_INTERVAL_MS: int(0, 3_600_000, 30_000),
  EXPERIMENT_WORKER_ENABLED: bool(true),
  EXPERIMENT_GROUP_ID: z
    .string()
    .optional()
    .transform((v) => v || 'feedrec-experiments'),
  EXPERIMENT_WINDOW_MS: int(1000, 7 * 24 * 3600 * 1000, 30 * 60 * 1000),
  BLEND_REALTIME_WEIGHT: num(0, 100, 0.6),
  BLEND_LONG_HORIZON_WEIGHT: num(0, 100, 0.4),
  BLEND_NEIGHBOUR_WEIGHT: num(0, 100, 0.5),
  FEED_MAX_PER_CATEGORY: int(1, 100, 6),
  EXPLORATION_SHARE: num(0, 1, 0.05),
  FEED_CACHE_TTL_MS: int(0, 600_000, 2000),
  ITEM_CACHE_TTL_MS: int(0, 600_000, 5000),
  ITEM_CACHE_STALE_MS: optionalInt(0, 3_600_000),
  IMPRESSION_LINGER_MS: int(0, 10_000, 50),
  MAX_FIRST: int(1, 1000, 100),
  MAX_CANDIDATES: int(1, 10_000, 500),
  FEED_PUSH_INTERVAL_MS: int(0, 60_000, 250),
  TRENDING_PUSH_INTERVAL_MS: int(100, 600_000, 1000),
  LIVE_REFRESH_PER_SEC: int(1, 1_000_000, 200),
  LIVE_MAX_SUBSCRIPTIONS: int(1, 10_000_000, 10_000),
  LIVE_MAX_ANONYMOUS_SUBSCRIPTIONS: optionalInt(0, 10_000_000),
  LIVE_MAX_TRENDING_SCOPES: int(1, 1_000_000, 200),
  LIVE_MAX_SOCKETS_PER_IP: int(1, 1_000_000, 100),
  TRUST_PROXY: bool(false),
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: int(1, 1000, 10),
  WS_MAX_SOCKETS_PER_USER: int(1, 1000, 5),
  WS_MAX_MESSAGE_BYTES: int(1024, 16 * 1024 * 1024, 64 * 1024),
  WS_KEEPALIVE_MS: int(0, 600_000, 12_000),
  WS_CLOSE_GRACE_MS: int(0, 60_000, 1000),
  DEMO_PAGE: bool(true),
  ACTION_WEIGHTS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return parseActionWeights(v ?? '');
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `expected ACTION=weight pairs: ${(error as Error).message}` });
        return z.NEVER;
      }
    }),
});

export type Config = ReturnType<typeof toConfig>;

function toConfig(e: z.infer<typeof env>) {
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      topicPrefix: e.KAFKA_TOPIC_PREFIX,
      partitions: e.KAFKA_TOPIC_PARTITIONS,
      replicationFactor: e.KAFKA_REPLICATION_FACTOR,
      produceTimeoutMs: e.KAFKA_PRODUCE_TIMEOUT_MS,
    },
    // A Redis Cluster is one URL too: redis-cluster://<seed>,<seed>… (REDIS_CLUSTER_NODES is that list).
    redis: {
      url: e.REDIS_CLUSTER_NODES ? `redis-cluster://${e.REDIS_CLUSTER_NODES.join(',')}` : e.REDIS_URL,
      keyPrefix: e.REDIS_KEY_PREFIX,
      /** On a cluster, the replicas each master must confirm the stream's writes to before Kafka offsets are committed. */
      waitReplicas: e.REDIS_WAIT_REPLICAS,
      waitTimeoutMs: e.REDIS_WAIT_TIMEOUT_MS,
    },
    localStack: { mode: e.LOCAL_STACK, kafkaHeapMb: e.LOCAL_STACK_KAFKA_HEAP_MB },
    limits: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxCost: e.GRAPHQL_MAX_COST,
      maxBodyBytes: e.MAX_BODY_BYTES,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    readinessTimeoutMs: e.READINESS_TIMEOUT_MS,
    graphiql: e.GRAPHIQL,
    auth: {
      /** `auto` is settled by `resolveAuth` (src/runtime/startup.ts) before the API is built. */
      mode: e.AUTH_MODE,
      jwtSecret: e.JWT_SECRET,
      jwksUrl: e.JWKS_URL,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      /** Longest accepted token lifetime, `exp` − `iat`; tokens without `exp` are refused. */
      maxTtlSeconds: e.JWT_MAX_TTL_SECONDS,
    },
    stream: {
      workerEnabled: e.WORKER_ENABLED,
      groupId: e.STREAM_GROUP_ID,
      allowedLatenessMs: e.ALLOWED_LATENESS_MS,
      /** Where `npm run worker` serves /metrics, /healthz and /readyz. */
      metricsPort: e.WORKER_METRICS_PORT,
    },
    /** Behaviour patterns (src/patterns): the file they came from (null: PATTERNS_FILE=off) and the rules. */
    patterns: e.PATTERNS_FILE,
    features: { weights: e.ACTION_WEIGHTS },
    ranking: {
      /** Relative to the working directory unless absolute. */
      modelPath: e.MODEL_PATH,
      /** How often an instance re-reads the model registry in case it missed a change notice (0: never). */
      modelRefreshIntervalMs: e.MODEL_REFRESH_INTERVAL_MS,
      blend: {
        realtime: e.BLEND_REALTIME_WEIGHT,
        longHorizon: e.BLEND_LONG_HORIZON_WEIGHT,
        neighbour: e.BLEND_NEIGHBOUR_WEIGHT,
        maxPerCategory: e.FEED_MAX_PER_CATEGORY,
        explorationShare: e.EXPLORATION_SHARE,
      },
      cacheTtlMs: e.FEED_CACHE_TTL_MS,
      itemCacheTtlMs: e.ITEM_CACHE_TTL_MS,
      /**
       * Item-side cache entries past their TTL are served, while refreshed in the background, until
       * this old (2 × the TTL unless set; never less than the TTL): the oldest item stats ranking sees.
       */
      itemCacheStaleMs: e.ITEM_CACHE_STALE_MS ?? 2 * e.ITEM_CACHE_TTL_MS,
      /** How long a computed feed's impression may wait to be produced with others (see impression-log.ts). */
      impressionLingerMs: e.IMPRESSION_LINGER_MS,
      maxFirst: e.MAX_FIRST,
      maxCandidates: e.MAX_CANDIDATES,
    },
    experiments: {
      /** Run the consumer that attributes clicks, likes and hides to experiment arms in this process. */
      workerEnabled: e.EXPERIMENT_WORKER_ENABLED,
      groupId: e.EXPERIMENT_GROUP_ID,
      /** A CLICK, LIKE or HIDE counts for the impression that showed the item at most this long before. */
      windowMs: e.EXPERIMENT_WINDOW_MS,
    },
    live: {
      /** At most one re-rank per user per interval; changes inside it are merged into one. */
      pushIntervalMs: e.FEED_PUSH_INTERVAL_MS,
      trendingIntervalMs: e.TRENDING_PUSH_INTERVAL_MS,
      /**
       * Users re-ranked per second when every feed may have changed (a model or experiment swap, a
       * batch): a swap reaches N local subscribers' users within about N / this many seconds.
       */
      refreshPerSec: e.LIVE_REFRESH_PER_SEC,
      /** Live subscriptions (feed and trending, WebSocket and SSE) one instance accepts. */
      maxSubscriptions: e.LIVE_MAX_SUBSCRIPTIONS,
      /** Of those, anonymous ones (trending screens); a quarter unless set, always below the total. */
      maxAnonymousSubscriptions: e.LIVE_MAX_ANONYMOUS_SUBSCRIPTIONS ?? Math.floor(e.LIVE_MAX_SUBSCRIPTIONS / 4),
      /** Distinct trending categories followed at once (categories are client input). */
      maxTrendingScopes: e.LIVE_MAX_TRENDING_SCOPES,
      /** WebSockets from one client address, signed in or not. */
      maxSocketsPerIp: e.LIVE_MAX_SOCKETS_PER_IP,
      maxSubscriptionsPerSocket: e.WS_MAX_SUBSCRIPTIONS_PER_SOCKET,
      maxSocketsPerUser: e.WS_MAX_SOCKETS_PER_USER,
      maxMessageBytes: e.WS_MAX_MESSAGE_BYTES,
      keepAliveMs: e.WS_KEEPALIVE_MS,
      /** On stop, how long a socket may take to answer the close handshake before it is cut. */
      closeGraceMs: e.WS_CLOSE_GRACE_MS,
      demoPage: e.DEMO_PAGE,
    },
    /** Behind a reverse proxy: take the client address from the last X-Forwarded-For entry. */
    trustProxy: e.TRUST_PROXY,
    ingest: {
      maxBatch: e.MAX_BATCH_EVENTS,
      maxAgeMs: e.EVENT_MAX_AGE_MS,
      maxFutureMs: e.EVENT_MAX_FUTURE_MS,
      mutationsPerSec: e.RATE_LIMIT_MUTATIONS_PER_SEC,
      eventsPerSec: e.RATE_LIMIT_EVENTS_PER_SEC,
      /** Mutations a user may send at once after being idle: at least one, whatever the rate. */
      mutationBurst: e.RATE_LIMIT_MUTATION_BURST ?? Math.max(1, Math.ceil(e.RATE_LIMIT_MUTATIONS_PER_SEC)),
      /** Events a user may send at once after being idle: never less than one full batch. */
      eventBurst: e.RATE_LIMIT_EVENT_BURST ?? Math.max(e.MAX_BATCH_EVENTS, Math.ceil(e.RATE_LIMIT_EVENTS_PER_SEC)),
    },
  };
}

/** Every environment variable the service reads (deployment files are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(env.shape);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment into a Config; throws ConfigError listing every invalid variable. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const parsed = env.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  if (parsed.data.REDIS_CLUSTER_NODES && parsed.data.REDIS_URL) {
    throw new ConfigError(
      'invalid configuration:\n  REDIS_CLUSTER_NODES: set either it (a Redis Cluster) or REDIS_URL (one Redis), not both',
    );
  }
  const config = toConfig(parsed.data);
  if (config.ingest.eventBurst < config.ingest.maxBatch) {
    throw new ConfigError(
      `invalid configuration:\n  RATE_LIMIT_EVENT_BURST: expected at least MAX_BATCH_EVENTS (${config.ingest.maxBatch}), ` +
        `got ${config.ingest.eventBurst}: a full batch for one user would be refused forever`,
    );
  }
  if (config.auth.mode === 'jwt' && !config.auth.jwtSecret && !config.auth.jwksUrl) {
    throw new ConfigError('invalid configuration:\n  AUTH_MODE: jwt needs JWT_SECRET or JWKS_URL');
  }
  if (config.live.maxAnonymousSubscriptions >= config.live.maxSubscriptions) {
    throw new ConfigError(
      `invalid configuration:\n  LIVE_MAX_ANONYMOUS_SUBSCRIPTIONS: expected less than LIVE_MAX_SUBSCRIPTIONS (${config.live.maxSubscriptions}), so that signed-in users keep room`,
    );
  }
  return config;
}
