/**
 * `npm run batch:long-horizon [-- --from 2026-10-26T00:00Z --to 2026-11-25T00:00Z]`: the daily
 * batch (default range: the last 30 days up to now). Needs KAFKA_BROKERS and REDIS_URL; schedule
 * it once a day, e.g. from cron or a Kubernetes CronJob (see docs/features.md, "daily batch").
 */
import { parseArgs } from 'node:util';
import { failWith, loadConfigOrExit, timeOption } from './cli.js';
import { LONG_HORIZON_MS } from '../src/features/definitions.js';
import { createLogger } from '../src/logger.js';
import { connectRedis } from '../src/redis/client.js';
import { redisKeys } from '../src/core/keys.js';
import { createKafka } from '../src/streams/kafka.js';
import { topicNames } from '../src/core/topics.js';
import { runLongHorizonJob } from '../src/batch/long-horizon.js';

const fail = failWith('feedrec batch');
const config = loadConfigOrExit('feedrec batch');
const { values } = parseArgs({ options: { from: { type: 'string' }, to: { type: 'string' } } });
const to = timeOption(values.to, 'to', Date.now(), fail);
const from = timeOption(values.from, 'from', to - LONG_HORIZON_MS, fail);
if (from >= to) fail('--from must be before --to');
const brokers = config.kafka.brokers ?? fail('the batch needs KAFKA_BROKERS');
const redisUrl = config.redis.url ?? fail('the batch needs REDIS_URL');
const log = createLogger(config.logLevel, { component: 'long-horizon' });
const redis = await connectRedis(redisUrl, log, 'batch');
try {
  const run = await runLongHorizonJob({
    kafka: createKafka({ brokers, clientId: `${config.kafka.clientId}-batch`, logger: log }),
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
