/**
 * `npm run model:online -- [--arm control] [--name default] [--interval-sec 60] [--once]`: keeps
 * the ranking model learning from the impressions and behaviour in Kafka (KAFKA_BROKERS,
 * KAFKA_TOPIC_PREFIX), one round per interval, and publishes a new version to the registry
 * (REDIS_URL, REDIS_KEY_PREFIX) for the arm whenever it beats the arm's active model on the most
 * recent traffic. Its learning state lives in Redis: stop and start it at will. SIGTERM ends it
 * after the round in progress.
 */
import { parseArgs } from 'node:util';
import { failWith, loadConfigOrExit } from './cli.js';
import { createLogger } from '../src/logger.js';
import { createRedis, redisComponent } from '../src/redis/client.js';
import { redisKeys } from '../src/core/keys.js';
import { createKafka } from '../src/streams/kafka.js';
import { topicNames } from '../src/core/topics.js';
import { DEFAULT_FTRL } from '../src/model/ftrl.js';
import { createOnlineTrainer, trainEvery } from '../src/model/online-trainer.js';
import { createRunner, stopOnSignals } from '../src/runtime/runner.js';
import { createModelRegistry, DEFAULT_ARM } from '../src/model/registry.js';

const fail = failWith('feedrec model:online');
const config = loadConfigOrExit('feedrec model:online');
const { values } = parseArgs({
  options: {
    arm: { type: 'string', default: DEFAULT_ARM },
    name: { type: 'string', default: 'default' },
    'interval-sec': { type: 'string', default: '60' },
    'label-window-min': { type: 'string', default: '10' },
    'lookback-min': { type: 'string', default: '60' },
    'min-examples': { type: 'string', default: '500' },
    alpha: { type: 'string', default: String(DEFAULT_FTRL.alpha) },
    l1: { type: 'string', default: String(DEFAULT_FTRL.l1) },
    l2: { type: 'string', default: String(DEFAULT_FTRL.l2) },
    once: { type: 'boolean', default: false },
  },
});
const positive = (name: keyof typeof values) => {
  const v = Number(values[name]);
  return Number.isFinite(v) && v >= 0
    ? v
    : fail(`--${name} must be a non-negative number, got "${String(values[name])}"`);
};
if (!config.kafka.brokers) fail('set KAFKA_BROKERS to the cluster whose traffic to learn from');
if (!config.redis.url) fail('set REDIS_URL to the Redis of the model registry');

const log = createLogger(config.logLevel, { component: 'online-trainer' });
const redis = createRedis(config.redis.url!, log, 'online-trainer');
const keys = redisKeys(config.redis.keyPrefix);
const trainer = createOnlineTrainer({
  kafka: createKafka({ brokers: config.kafka.brokers!, clientId: `${config.kafka.clientId}-online`, logger: log }),
  topics: topicNames(config.kafka.topicPrefix),
  redis,
  keys,
  registry: createModelRegistry(redis, keys),
  log,
  name: values.name,
  arm: values.arm,
  labelWindowMs: positive('label-window-min') * 60_000,
  lookbackMs: positive('lookback-min') * 60_000,
  minRoundExamples: positive('min-examples'),
  ftrl: { alpha: positive('alpha'), l1: positive('l1'), l2: positive('l2') },
});

const intervalMs = positive('interval-sec') * 1000;
if (values.once) {
  await redis.connect();
  process.stdout.write(`${JSON.stringify(await trainer.runRound())}\n`);
  redis.disconnect();
  process.exit(0);
}
const runner = createRunner({ log, shutdownTimeoutMs: config.shutdownTimeoutMs });
stopOnSignals(runner, { log, shutdownTimeoutMs: config.shutdownTimeoutMs });
await runner.start(redisComponent(redis, 'redis'), trainEvery(trainer, intervalMs, log));
