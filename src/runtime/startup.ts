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
 * REDIS_URL is unset, and returns the configuration with their addresses filled in. With
 * LOCAL_STACK=cluster they are three brokers and a Redis Cluster of three masters with a replica
 * each, and topics get three replicas.
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
  const clustered = config.localStack.mode === 'cluster';
  const stack = createLocalStack({
    kafka,
    redis,
    topology: clustered ? 'cluster' : 'single',
    kafkaHeapMb: config.localStack.kafkaHeapMb,
    log: (msg) => log.info({ component: 'local-stack' }, msg),
  });
  log.info({ kafka, redis, clustered }, 'starting local stack (KAFKA_BROKERS / REDIS_URL not set)');
  await runner.start({ name: 'local-stack', start: () => stack.start(), stop: () => stack.stop() });
  const env = stack.redisEnv;
  const localRedisUrl =
    env && 'REDIS_CLUSTER_NODES' in env ? `redis-cluster://${env.REDIS_CLUSTER_NODES}` : env?.REDIS_URL;
  const filled: Config = {
    ...config,
    kafka: {
      ...config.kafka,
      brokers: config.kafka.brokers ?? (stack.brokers.length ? stack.brokers : undefined),
      // The local brokers require two in-sync copies: topics need at least three replicas.
      replicationFactor:
        kafka && clustered ? Math.max(3, config.kafka.replicationFactor) : config.kafka.replicationFactor,
    },
    redis: { ...config.redis, url: config.redis.url ?? localRedisUrl },
  };
  log.info(
    {
      kafkaBrokers: filled.kafka.brokers,
      redisUrl: filled.redis.url,
      dir: stack.dir,
      pids: stack.pids,
    },
    'local stack ready',
  );
  return { config: filled, local: true };
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** What start-up does about authentication: verify tokens, run without (and say so), or refuse. */
export type AuthDecision = { mode: 'jwt' } | { mode: 'dev'; warning: string } | { refuse: string };

/**
 * AUTH_MODE=auto means: JWT whenever a secret or JWKS URL is configured; off (dev) only when
 * nothing is configured and the server listens on loopback, so that nobody but this machine can
 * reach it; otherwise a refusal. Explicit AUTH_MODE=dev is obeyed, and announced loudly. Pure:
 * main.ts logs the warning or exits with the refusal.
 */
export function resolveAuth(config: Pick<Config, 'auth' | 'host'>): AuthDecision {
  const { auth, host } = config;
  const configured = Boolean(auth.jwtSecret || auth.jwksUrl);
  if (auth.mode === 'jwt') return { mode: 'jwt' };
  if (auth.mode === 'dev') {
    const reach = isLoopbackHost(host) ? '' : ` It listens on ${host}: anyone who can reach it acts as a service.`;
    return { mode: 'dev', warning: `AUTHENTICATION IS OFF (AUTH_MODE=dev): every caller acts as a service.${reach}` };
  }
  if (configured) return { mode: 'jwt' };
  if (isLoopbackHost(host)) {
    return {
      mode: 'dev',
      warning:
        'AUTHENTICATION IS OFF: local development mode on a loopback address, every caller acts as a service. ' +
        'Set JWT_SECRET or JWKS_URL for anything but a local quick start.',
    };
  }
  return {
    refuse:
      `set JWT_SECRET or JWKS_URL to serve on ${host} (authentication is only left off, with AUTH_MODE=auto, ` +
      'on a loopback HOST such as 127.0.0.1)',
  };
}

/** The configuration with the authentication mode resolved, or exit 2 with the refusal. */
export function resolveAuthOrExit(command: string, config: Config, log: Logger): Config {
  const decision = resolveAuth(config);
  if ('refuse' in decision) return exitWithUsageError(command, decision.refuse);
  if (decision.mode === 'dev') log.warn({ authMode: 'dev' }, decision.warning);
  return { ...config, auth: { ...config.auth, mode: decision.mode } };
}
