/**
 * `npm run batch:long-horizon [-- --from 2026-10-26T00:00Z --to 2026-11-25T00:00Z]`: the daily
 * batch (default range: the last 30 days up to now). Needs KAFKA_BROKERS and REDIS_URL; schedule
 * it once a day, e.g. from cron or a Kubernetes CronJob (see README.md).
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { LONG_HORIZON_MS } from '../features/definitions.js';
import { createLogger } from '../logger.js';
import { connectRedis } from '../redis/client.js';
import { redisKeys } from '../redis/keys.js';
import { createKafka } from '../streams/kafka.js';
import { topicNames } from '../streams/topics.js';
import { runLongHorizonJob } from './long-horizon.js';

const fail = (message: string): never => {
  process.stderr.write(`feedrec batch: ${message}\n`);
  process.exit(2);
};

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
const { values } = parseArgs({ options: { from: { type: 'string' }, to: { type: 'string' } } });
const time = (text: string | undefined, name: string, fallback: number) => {
  if (text === undefined) return fallback;
  const t = Date.parse(text);
  return Number.isNaN(t) ? fail(`--${name}: expected an ISO date-time, got "${text}"`) : t;
};
const to = time(values.to, 'to', Date.now());
const from = time(values.from, 'from', to - LONG_HORIZON_MS);
if (from >= to) fail('--from must be before --to');
if (!config.kafka.brokers || !config.redis.url) fail('the batch needs KAFKA_BROKERS and REDIS_URL');
const log = createLogger(config.logLevel, { component: 'long-horizon' });
const redis = await connectRedis(config.redis.url!, log, 'batch');
try {
  const run = await runLongHorizonJob({
    kafka: createKafka({ brokers: config.kafka.brokers!, clientId: `${config.kafka.clientId}-batch`, logger: log }),
    redis,
    keys: redisKeys(config.redis.keyPrefix),
    topic: topicNames(config.kafka.topicPrefix).behavior,
    weights: config.features.weights,
    from,
    to,
    log,
  });
  process.stdout.write(`${JSON.stringify(run)}\n`);
} catch (error) {
  log.fatal({ err: error }, 'the long-horizon batch failed; nothing was half-written per key, rerun it');
  process.exitCode = 1;
} finally {
  redis.disconnect();
}
