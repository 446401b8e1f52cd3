/**
 * `npm run worker`: the stream worker as its own process, for scaling out (add processes: they
 * join the same consumer group), with experiment attribution beside it unless
 * EXPERIMENT_WORKER_ENABLED=false, and the ops routes on WORKER_METRICS_PORT. Needs KAFKA_BROKERS
 * and REDIS_URL.
 */
import { createLogger } from './logger.js';
import { createRunner, stopOnSignals } from './runtime/runner.js';
import { exitWithUsageError, loadConfigOrExit } from './runtime/startup.js';
import { createWorkerProcess } from './streams/worker-process.js';

const config = loadConfigOrExit('feedrec worker');
if (!config.kafka.brokers || !config.redis.url)
  exitWithUsageError('feedrec worker', 'the worker needs KAFKA_BROKERS and REDIS_URL');
const log = createLogger(config.logLevel, { component: 'worker' });
const worker = createWorkerProcess(config, log);
const runner = createRunner({ log, shutdownTimeoutMs: config.shutdownTimeoutMs });
stopOnSignals(runner, { log, shutdownTimeoutMs: config.shutdownTimeoutMs });
try {
  await runner.start(...worker.components);
} catch (error) {
  log.fatal({ err: error }, 'the worker failed to start');
  process.exit(1);
}
log.info(
  {
    groupId: config.stream.groupId,
    patterns: config.patterns.rules.map((r) => r.id),
    metricsPort: worker.metricsPort(),
  },
  'worker started; /metrics, /healthz and /readyz on metricsPort',
);
