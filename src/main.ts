/**
 * The service's main job: read the configuration, start a local Kafka + Redis when none is
 * configured, start the API, and stop everything in reverse order on SIGTERM/SIGINT.
 */
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { createLocalStack, type LocalStack } from './stack/local-stack.js';
import { ModelMismatchError } from './model/session.js';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`feedrec: ${error.message}\n(see README.md, "Configuration")\n`);
    process.exit(2);
  }
  throw error;
}
const log = createLogger(config.logLevel);

let stack: LocalStack | undefined;
const needKafka = !config.kafka.brokers;
const needRedis = !config.redis.url;
if (needKafka || needRedis) {
  if (config.localStack.mode === 'off') {
    log.fatal('KAFKA_BROKERS and REDIS_URL must be set when LOCAL_STACK=off');
    process.exit(2);
  }
  stack = createLocalStack({
    kafka: needKafka,
    redis: needRedis,
    kafkaHeapMb: config.localStack.kafkaHeapMb,
    log: (msg) => log.info({ component: 'local-stack' }, msg),
  });
  log.info({ kafka: needKafka, redis: needRedis }, 'starting local stack (KAFKA_BROKERS / REDIS_URL not set)');
  await stack.start();
  config = {
    ...config,
    kafka: { ...config.kafka, brokers: config.kafka.brokers ?? stack.kafka?.brokers },
    redis: { ...config.redis, url: config.redis.url ?? stack.redis?.url },
  };
  log.info(
    {
      kafkaBrokers: config.kafka.brokers,
      redisUrl: config.redis.url,
      dir: stack.dir,
      pids: [stack.kafka?.process.pid, stack.redis?.process.pid].filter(Boolean),
    },
    'local stack ready',
  );
}

if (config.auth.mode === 'auto') {
  if (stack) {
    config = { ...config, auth: { ...config.auth, mode: 'dev' } };
    log.warn(
      { authMode: 'dev' },
      'AUTHENTICATION IS OFF: local development mode, every caller acts as a service. ' +
        'Set JWT_SECRET or JWKS_URL (AUTH_MODE=jwt) for anything but a local quick start.',
    );
  } else if (!config.auth.jwtSecret && !config.auth.jwksUrl) {
    log.fatal(
      'set JWT_SECRET or JWKS_URL for a deployment with external Kafka/Redis (or AUTH_MODE=dev for local development)',
    );
    process.exit(2);
  }
} else if (config.auth.mode === 'dev') {
  log.warn({ authMode: 'dev' }, 'AUTHENTICATION IS OFF (AUTH_MODE=dev): every caller acts as a service.');
}

const app = createApp(config, { log });
let shuttingDown = false;
async function shutdown(signal: string) {
  if (shuttingDown) return;
  shuttingDown = true;
  log.info({ signal }, 'shutting down');
  const hardStop = setTimeout(() => {
    log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown deadline passed; exiting');
    process.exit(1);
  }, config.shutdownTimeoutMs + 5000);
  hardStop.unref();
  try {
    await app.stop();
  } catch (error) {
    log.error({ err: error }, 'error while stopping the api');
  }
  await stack?.stop();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  await app.start();
} catch (error) {
  if (error instanceof ModelMismatchError) {
    // A deployment error, not a crash: say what differs, plainly, and stop.
    process.stderr.write(
      `feedrec: ${error.message}\n(retrain the model or set MODEL_PATH; see README.md, "Ranking")\n`,
    );
    await app.stop().catch(() => {});
    await stack?.stop();
    process.exit(2);
  }
  log.fatal({ err: error }, 'start-up failed');
  await stack?.stop();
  process.exit(1);
}
const demo = config.live.demoPage ? app.url.replace(/\/graphql$/, '/demo') : undefined;
log.info(
  { url: app.url, graphiql: config.graphiql ? app.url : undefined, demo },
  `feedrec ready: GraphiQL at ${app.url}${demo ? `; live feed demo at ${demo}` : ''}`,
);
