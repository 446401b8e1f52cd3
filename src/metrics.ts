import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The service's Prometheus registry. One per app instance (tests run several in one process), so
 * metrics are created here and handed to the parts that record them.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const ms = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
  return {
    registry,
    graphqlDuration: new Histogram({
      name: 'graphql_operation_duration_ms',
      help: 'GraphQL operation execution time in milliseconds',
      labelNames: ['operation_type', 'operation_name', 'outcome'] as const,
      buckets: ms,
      registers: [registry],
    }),
    graphqlErrors: new Counter({
      name: 'graphql_errors_total',
      help: 'GraphQL errors returned to clients, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    consumerRestarts: new Counter({
      name: 'consumer_restarts_total',
      help: 'Kafka consumers replaced after a non-retriable error (kafkajs does not restart those itself), by consumer',
      labelNames: ['consumer'] as const,
      registers: [registry],
    }),
    streamEvents: new Counter({
      name: 'stream_events_total',
      help: 'Behaviour records handled by the stream worker, by outcome (counted, late, duplicate, replayed, dead_lettered)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    streamApplyDeadLetters: new Counter({
      name: 'stream_apply_dead_letters_total',
      help: 'Behaviour records dead-lettered because Redis refused to apply them (a script or data error) after retries',
      registers: [registry],
    }),
    streamRebuilds: new Counter({
      name: 'stream_rebuilds_total',
      help: 'Times the stream worker found Redis had lost its progress and rebuilt its partitions from the log',
      registers: [registry],
    }),
    streamBatchDuration: new Histogram({
      name: 'stream_batch_duration_ms',
      help: 'Time to apply one batch to Redis and commit it, in milliseconds',
      buckets: ms,
      registers: [registry],
    }),
    streamFreshness: new Histogram({
      name: 'stream_freshness_ms',
      help: 'From the API accepting an event to its features being visible in Redis, in milliseconds',
      buckets: ms,
      registers: [registry],
    }),
    streamLag: new Gauge({
      name: 'stream_consumer_lag',
      help: 'Records of the behaviour topic not yet applied, per partition (after the last batch)',
      labelNames: ['partition'] as const,
      registers: [registry],
    }),
    recommendationDuration: new Histogram({
      name: 'recommendations_duration_ms',
      help: 'Time to compute a feed (recall, features, one model run, blending), in milliseconds',
      labelNames: ['source'] as const,
      buckets: [0.5, 1, 2, 5, 10, 15, 20, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
    recommendationCandidates: new Histogram({
      name: 'recommendations_candidates',
      help: 'Candidates scored per computed feed',
      buckets: [0, 10, 50, 100, 200, 500, 1000, 2000],
      registers: [registry],
    }),
    featureCacheLookups: new Counter({
      name: 'feature_cache_lookups_total',
      help: 'Ids looked up in the instance caches of item-side features, by cache (item, covisit) and outcome (fresh, stale: served and queued for a background refresh, read: on the request path)',
      labelNames: ['cache', 'outcome'] as const,
      registers: [registry],
    }),
    featureCacheRefreshes: new Counter({
      name: 'feature_cache_refreshes_total',
      help: 'Stale entries of the item-side feature caches renewed in the background, by cache (item, covisit) and outcome (ok, failed: the batch read failed, not_queued: the refresh queue was full)',
      labelNames: ['cache', 'outcome'] as const,
      registers: [registry],
    }),
    feedsServed: new Counter({
      name: 'feeds_served_total',
      help: 'Feeds served, by how (computed, cached, degraded)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    impressionsLogged: new Counter({
      name: 'impressions_logged_total',
      help: 'Served feeds logged to the impressions topic, by outcome (ok, failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    modelInfo: new Gauge({
      name: 'model_info',
      help: 'The ranking model version this instance serves in each experiment arm (value 1)',
      labelNames: ['arm', 'version', 'kind'] as const,
      registers: [registry],
    }),
    modelReloads: new Counter({
      name: 'model_reloads_total',
      help: 'Registry changes this instance acted on, by outcome (swapped, refused: a model failed its checks, failed: the registry could not be read)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    experimentEvents: new Counter({
      name: 'experiment_events_total',
      help: 'Attributed experiment events (feeds, impressions, clicks, likes, hides) by experiment, arm and model version',
      labelNames: ['experiment', 'arm', 'version', 'kind'] as const,
      registers: [registry],
    }),
    patternMatches: new Counter({
      name: 'pattern_matches_total',
      help: 'Behaviour-pattern matches fired (each tags a user), by rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    patternWithdrawals: new Counter({
      name: 'pattern_withdrawals_total',
      help: 'Strict pattern matches withdrawn because a late event broke (or changed) their run, by rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    patternBufferedEvents: new Gauge({
      name: 'pattern_buffered_events',
      help: 'Events held for pattern matching by the users of the last batch, per partition',
      labelNames: ['partition'] as const,
      registers: [registry],
    }),
    patternPartialMatches: new Gauge({
      name: 'pattern_partial_matches',
      help:
        'Open pattern matches of the users of the last batch, per partition: partial (a start that may still ' +
        'complete) and provisional (a fired strict run a late event could still withdraw)',
      labelNames: ['partition', 'kind'] as const,
      registers: [registry],
    }),
    patternUserEvents: new Histogram({
      name: 'pattern_user_state_events',
      help: "Size of one user's pattern state (events held) after a batch",
      buckets: [1, 2, 5, 10, 20, 50, 100, 128],
      registers: [registry],
    }),
    liveSubscriptions: new Gauge({
      name: 'live_subscriptions',
      help: 'Live subscriptions open on this instance (WebSocket and SSE), by kind (feed, trending)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    livePushes: new Counter({
      name: 'live_pushes_total',
      help: 'Payloads handed to live subscribers, by kind (feed, trending) and trigger (subscribed, behaviour, tag, model, experiment, batch, trending)',
      labelNames: ['kind', 'trigger'] as const,
      registers: [registry],
    }),
    liveReranks: new Counter({
      name: 'live_reranks_total',
      help: 'Feeds re-ranked for live subscribers (one per user and coalescing window, at their largest `first`), by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    liveRefreshPending: new Gauge({
      name: 'live_refresh_pending',
      help: 'Users with live feed subscribers still waiting for a refresh-all pass (model swap, experiment change, batch) to re-rank them',
      registers: [registry],
    }),
    liveRefreshUsers: new Counter({
      name: 'live_refresh_users_total',
      help: 'Users a refresh-all pass handed to a re-rank, by trigger (model, experiment, batch)',
      labelNames: ['trigger'] as const,
      registers: [registry],
    }),
    liveRefreshNotices: new Counter({
      name: 'live_refresh_notices_total',
      help: 'Messages on the feed-refresh channel, by outcome (accepted, malformed: logged and ignored)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    feedPushLatency: new Histogram({
      name: 'feed_push_latency_ms',
      help:
        'From a behaviour event accepted by the API (its receivedAt; the stream notification time when unknown) ' +
        'to the refreshed feed handed to the subscriber, in milliseconds',
      buckets: [5, 10, 20, 50, 100, 150, 200, 300, 500, 1000, 2000, 5000],
      registers: [registry],
    }),
    liveRefused: new Counter({
      name: 'live_refused_total',
      help: 'Sockets and subscriptions refused, by limit (socketsPerUser, socketsPerIp, subscriptionsPerSocket, subscriptionsPerUser, subscriptionsPerInstance, anonymousSubscriptions, trendingScopes, unauthenticated)',
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: 'dependency_up',
      help: '1 when the last readiness check reached the dependency, else 0',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
