/**
 * What `npm start` settles before it builds the API: the configuration (exit 2 naming every bad
 * variable), a local Kafka and Redis when none is configured, and whether authentication is on.
 * Deployment mistakes stop the process with exit code 2 and one plain sentence, never a stack trace.
 */
import { ConfigError, loadConfig, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createLocalStack } from '../stack/local-stack.js';
import type { Runner } from './runner.js';

/** Prints `<command>: <message>` to stderr and exits with code 2 (a usage or deployment error, not a crash). */
export function exitWithUsageError(command: string, message: string): never {
  process.stderr.write(`${command}: ${message}\n`);
  process.exit(2);
}

/** The validated configuration, or exit 2 naming every invalid variable. */
export function loadConfigOrExit(command: string): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError)
      return exitWithUsageError(command, `${error.message}\n(see docs/configuration.md)`);
    throw error;
  }
}

/**
 * Starts a local Kafka and/or Redis through `runner` (so it stops last) when KAFKA_BROKERS or
 * REDIS_URL is unset, and returns the configuration with their addresses filled in.
 */
export async function withLocalStack(
  config: Config,
  runner: Runner,
  log: Logger,
): Promise<{ config: Config; local: boolean }> {
  const kafka = !config.kafka.brokers;
  const redis = !config.redis.url;
  if (!kafka && !redis) return { config, local: false };
  if (config.localStack.mode === 'off') {
    log.fatal('KAFKA_BROKERS and REDIS_URL must be set when LOCAL_STACK=off');
    process.exit(2);
  }
  const stack = createLocalStack({
    kafka,
    redis,
    kafkaHeapMb: config.localStack.kafkaHeapMb,
    log: (msg) => log.info({ component: 'local-stack' }, msg),
  });
  log.info({ kafka, redis }, 'starting local stack (KAFKA_BROKERS / REDIS_URL not set)');
  await runner.start({ name: 'local-stack', start: () => stack.start(), stop: () => stack.stop() });
  const filled: Config = {
    ...config,
    kafka: { ...config.kafka, brokers: config.kafka.brokers ?? stack.kafka?.brokers },
    redis: { ...config.redis, url: config.redis.url ?? stack.redis?.url },
  };
  log.info(
    {
      kafkaBrokers: filled.kafka.brokers,
      redisUrl: filled.redis.url,
      dir: stack.dir,
      pids: [stack.kafka?.process.pid, stack.redis?.process.pid].filter(Boolean),
    },
    'local stack ready',
  );
  return { config: filled, local: true };
}

/**
 * AUTH_MODE=auto means: off (dev) only for a local quick start on a stack started here, JWT
 * otherwise, and JWT without a secret or JWKS URL is refused. Off is always announced loudly.
 */
export function resolveAuth(config: Config, local: boolean, log: Logger): Config {
  if (config.auth.mode === 'auto') {
    if (local) {
      log.warn(
        { authMode: 'dev' },
        'AUTHENTICATION IS OFF: local development mode, every caller acts as a service. ' +
          'Set JWT_SECRET or JWKS_URL (AUTH_MODE=jwt) for anything but a local quick start.',
      );
      return { ...config, auth: { ...config.auth, mode: 'dev' } };
    }
    if (!config.auth.jwtSecret && !config.auth.jwksUrl) {
      log.fatal(
        'set JWT_SECRET or JWKS_URL for a deployment with external Kafka/Redis (or AUTH_MODE=dev for local development)',
      );
      process.exit(2);
    }
  } else if (config.auth.mode === 'dev') {
    log.warn({ authMode: 'dev' }, 'AUTHENTICATION IS OFF (AUTH_MODE=dev): every caller acts as a service.');
  }
  return config;
}
