/**
 * The stream worker process as components (`npm run worker`): its Redis connection, the topics a
 * fresh cluster needs, the ops routes on WORKER_METRICS_PORT, and the consumers, in start order.
 */
import type { Config } from '../config.js';
import { redisKeys } from '../core/keys.js';
import { topicNames, topicSpecs } from '../core/topics.js';
import type { Logger } from '../logger.js';
import { createMetrics } from '../metrics.js';
import { createRedis, redisComponent } from '../redis/client.js';
import { createOpsServer, createReadiness } from '../runtime/ops-server.js';
import type { Component } from '../runtime/runner.js';
import { createBackgroundWorkers } from './background.js';
import { createKafka, topicsComponent } from './kafka.js';

export function createWorkerProcess(config: Config, log: Logger): { components: Component[]; metricsPort(): number } {
  const { brokers } = config.kafka;
  const redisUrl = config.redis.url;
  if (!brokers || !redisUrl) throw new Error('the worker needs KAFKA_BROKERS and REDIS_URL');
  const metrics = createMetrics();
  const redis = createRedis(redisUrl, log, 'worker');
  const kafka = createKafka({ brokers, clientId: `${config.kafka.clientId}-worker`, logger: log });
  const admin = kafka.admin();
  const topics = topicNames(config.kafka.topicPrefix);
  const workers = createBackgroundWorkers(
    config,
    { kafka, redis, redisUrl, keys: redisKeys(config.redis.keyPrefix), topics, log, metrics },
    { features: true },
  );
  const ops = createOpsServer({
    metrics,
    port: config.stream.metricsPort,
    host: config.host,
    readiness: createReadiness(
      [
        { name: 'redis', probe: () => redis.ping() },
        {
          name: 'stream',
          probe: async () => {
            if (!workers.ready()) throw new Error('worker not running');
          },
        },
      ],
      { timeoutMs: config.readinessTimeoutMs, metrics, log: log.child({ component: 'readiness' }) },
    ),
  });

  return {
    components: [
      redisComponent(redis, 'redis'),
      topicsComponent(admin, topicSpecs(topics, config.kafka.partitions, config.kafka.replicationFactor), log, {
        keepConnected: false,
      }),
      ops,
      ...workers.components,
    ],
    metricsPort: () => ops.port(),
  };
}
