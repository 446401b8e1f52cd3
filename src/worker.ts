/**
 * `npm run worker`: the stream worker as its own process, for scaling out (add processes: they
 * join the same consumer group), with experiment attribution beside it unless
 * EXPERIMENT_WORKER_ENABLED=false, and the ops routes on WORKER_METRICS_PORT. Needs KAFKA_BROKERS
 * and REDIS_URL.
 */
import { redisKeys } from './core/keys.js';
import { topicNames, topicSpecs } from './core/topics.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';
import { createRedis, redisComponent } from './redis/client.js';
import { createOpsServer, createReadiness } from './runtime/ops-server.js';
import { component, createRunner, stopOnSignals } from './runtime/runner.js';
import { exitWithUsageError, loadConfigOrExit } from './runtime/startup.js';
import { createBackgroundWorkers } from './streams/background.js';
import { createKafka, ensureTopics } from './streams/kafka.js';

const config = loadConfigOrExit('feedrec worker');
const { brokers } = config.kafka;
const redisUrl = config.redis.url;
if (!brokers || !redisUrl) exitWithUsageError('feedrec worker', 'the worker needs KAFKA_BROKERS and REDIS_URL');
const log = createLogger(config.logLevel, { component: 'worker' });
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
    { timeoutMs: config.readinessTimeoutMs, metrics },
  ),
});

const runner = createRunner({ log, shutdownTimeoutMs: config.shutdownTimeoutMs });
stopOnSignals(runner, { log, shutdownTimeoutMs: config.shutdownTimeoutMs });
try {
  await runner.start(
    redisComponent(redis, 'redis'),
    component(
      'kafka-topics', // a fresh cluster gets its topics from whichever process starts first
      async () => {
        await admin.connect();
        const created = await ensureTopics(
          admin,
          topicSpecs(topics, config.kafka.partitions, config.kafka.replicationFactor),
        );
        if (created.length) log.info({ topics: created }, 'created kafka topics');
        await admin.disconnect();
      },
      async () => {},
    ),
    ops,
    ...workers.components,
  );
} catch (error) {
  log.fatal({ err: error }, 'the worker failed to start');
  process.exit(1);
}
log.info(
  { groupId: config.stream.groupId, patterns: config.patterns.rules.map((r) => r.id), metricsPort: ops.port() },
  'worker started; /metrics, /healthz and /readyz on metricsPort',
);
