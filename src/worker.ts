/**
 * `npm run worker`: the stream worker as its own process, for scaling out (add processes: they
 * join the same consumer group), with experiment attribution beside it unless
 * EXPERIMENT_WORKER_ENABLED=false. Needs KAFKA_BROKERS and REDIS_URL.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfigOrExit } from '../tools/cli.js';
import { createMetrics } from './metrics.js';
import { createLogger } from './logger.js';
import { redisKeys } from './core/keys.js';
import { connectRedis } from './redis/client.js';
import { createBackgroundWorkers } from './streams/background.js';
import { createKafka, ensureTopics } from './streams/kafka.js';
import { topicNames, topicSpecs } from './core/topics.js';

const config = loadConfigOrExit('feedrec worker');
const log = createLogger(config.logLevel, { component: 'worker' });
if (!config.kafka.brokers || !config.redis.url) {
  log.fatal('the worker needs KAFKA_BROKERS and REDIS_URL');
  process.exit(2);
}
const redis = await connectRedis(config.redis.url, log, 'worker');
const metrics = createMetrics();
const kafka = createKafka({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-worker`, logger: log });
const keys = redisKeys(config.redis.keyPrefix);
const topics = topicNames(config.kafka.topicPrefix);
const redisUrl = config.redis.url;
const admin = kafka.admin();
await admin.connect();
const created = await ensureTopics(
  admin,
  topicSpecs(topics, config.kafka.partitions, config.kafka.replicationFactor),
).finally(() => admin.disconnect());
if (created.length) log.info({ topics: created }, 'created kafka topics');
const workers = createBackgroundWorkers(
  config,
  { kafka, redis, redisUrl, keys, topics, log, metrics },
  { features: true },
);
// What Prometheus scrapes and what an orchestrator probes: the same metrics as the in-process worker.
const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  };
  if (path === '/metrics')
    metrics.registry.metrics().then(
      (text) => reply(200, text, metrics.registry.contentType),
      () => reply(500, 'metrics unavailable'),
    );
  else if (path === '/healthz') reply(200, 'ok');
  else if (path === '/readyz')
    redis.ping().then(
      () => reply(workers.ready() ? 200 : 503, workers.ready() ? 'ready' : 'worker not running'),
      (error: Error) => reply(503, `redis: ${error.message}`),
    );
  else reply(404, 'not found');
});
await new Promise<void>((resolve) => {
  server.once('error', (error) => {
    log.fatal({ err: error, port: config.stream.metricsPort }, 'cannot serve /metrics (set WORKER_METRICS_PORT)');
    process.exit(2);
  });
  server.listen(config.stream.metricsPort, config.host, resolve);
});
const stop = async (signal: string) => {
  log.info({ signal }, 'stopping worker');
  server.close();
  await workers.stop();
  redis.disconnect();
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
await workers.start();
log.info(
  {
    groupId: config.stream.groupId,
    patterns: config.patterns.rules.map((r) => r.id),
    patternsFile: config.patterns.file,
    metricsPort: (server.address() as AddressInfo).port,
  },
  'worker started; /metrics, /healthz and /readyz on metricsPort',
);
