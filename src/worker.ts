/**
 * `npm run worker`: the stream worker as its own process, for scaling out (add processes: they
 * join the same consumer group). Needs KAFKA_BROKERS and REDIS_URL.
 */
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { redisKeys } from './redis/keys.js';
import { connectRedis } from './redis/client.js';
import { createFeatureWorker } from './streams/feature-worker.js';
import { createKafka } from './streams/kafka.js';
import { topicNames } from './streams/topics.js';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`feedrec worker: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
const log = createLogger(config.logLevel, { component: 'worker' });
if (!config.kafka.brokers || !config.redis.url) {
  log.fatal('the worker needs KAFKA_BROKERS and REDIS_URL');
  process.exit(2);
}
const redis = await connectRedis(config.redis.url, log, 'worker');
const worker = createFeatureWorker({
  kafka: createKafka({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-worker`, logger: log }),
  redis,
  keys: redisKeys(config.redis.keyPrefix),
  topics: topicNames(config.kafka.topicPrefix),
  log,
  groupId: config.stream.groupId,
  allowedLatenessMs: config.stream.allowedLatenessMs,
  weights: config.features.weights,
  patterns: config.patterns.rules,
});
const stop = async (signal: string) => {
  log.info({ signal }, 'stopping worker');
  await worker.stop();
  redis.disconnect();
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
await worker.start();
log.info(
  {
    groupId: config.stream.groupId,
    patterns: config.patterns.rules.map((r) => r.id),
    patternsFile: config.patterns.file,
  },
  'worker started',
);
