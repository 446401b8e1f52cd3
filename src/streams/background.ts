/**
 * The stream module's background consumers, built the same way inside the API process and in
 * `npm run worker`: the feature worker, and the experiment attribution beside it unless the
 * configuration turns either off.
 */
import type { Config } from '../config.js';
import { createAttributionWorker } from '../experiments/attribution-worker.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { connectRedis, type RedisClient } from '../redis/client.js';
import type { RedisKeys } from '../core/keys.js';
import { createFeatureWorker } from './feature-worker.js';
import type { Kafka } from './kafka.js';
import type { Topics } from '../core/topics.js';
import type { Component } from '../runtime/runner.js';

export function createBackgroundWorkers(
  config: Config,
  deps: {
    kafka: Kafka;
    redis: RedisClient;
    redisUrl: string;
    keys: RedisKeys;
    topics: Topics;
    log: Logger;
    metrics: Metrics;
  },
  /** `npm run worker` runs the feature worker whatever WORKER_ENABLED says (that flag is for the API). */
  options: { features: boolean } = { features: config.stream.workerEnabled },
) {
  const { kafka, keys, topics, log, metrics } = deps;
  const features = options.features
    ? createFeatureWorker({
        kafka,
        redis: deps.redis,
        connectItemRedis: () => connectRedis(deps.redisUrl, log, 'stream-items'),
        keys,
        topics,
        log: log.child({ component: 'worker' }),
        groupId: config.stream.groupId,
        allowedLatenessMs: config.stream.allowedLatenessMs,
        weights: config.features.weights,
        patterns: config.patterns.rules,
        metrics,
        replicas: { count: config.redis.waitReplicas, timeoutMs: config.redis.waitTimeoutMs },
      })
    : undefined;
  const attribution = config.experiments.workerEnabled
    ? createAttributionWorker({
        kafka,
        connectRedis: () => connectRedis(deps.redisUrl, log, 'attribution'),
        keys,
        topics,
        log: log.child({ component: 'attribution' }),
        groupId: config.experiments.groupId,
        windowMs: config.experiments.windowMs,
        metrics,
        replicas: { count: config.redis.waitReplicas, timeoutMs: config.redis.waitTimeoutMs },
      })
    : undefined;
  const parts = [
    features && { name: 'stream-worker', ...features },
    attribution && { name: 'attribution-worker', ...attribution },
  ].filter((p) => p !== undefined);
  return {
    /** Started in this order by the process's runner, stopped in reverse. */
    components: parts as Component[],
    /** True while every enabled consumer runs. */
    ready: () => (features?.ready() ?? true) && (attribution?.ready() ?? true),
  };
}
export type BackgroundWorkers = ReturnType<typeof createBackgroundWorkers>;
