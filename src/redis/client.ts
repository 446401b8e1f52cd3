import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { Component } from '../runtime/runner.js';

/**
 * A Redis connection that fails fast while the server is unreachable (no offline queue), so callers
 * can answer with an error or a degraded result instead of hanging, and reconnects on its own.
 * It is created unconnected: `connect()` (or `connectRedis`) opens it.
 */
export function createRedis(url: string, log: Logger, name = 'main'): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    connectionName: `feedrec-${name}`,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
  let down = false;
  redis.on('error', (error: Error) => {
    if (!down) log.warn({ component: 'redis', connection: name, err: error.message }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info({ component: 'redis', connection: name }, 'redis connection restored');
    down = false;
  });
  return redis;
}

/** A Redis connection, open. */
export async function connectRedis(url: string, log: Logger, name = 'main'): Promise<Redis> {
  const redis = createRedis(url, log, name);
  await redis.connect();
  return redis;
}

/** A connection as a runner component: opened on start, closed on stop. */
export const redisComponent = (redis: Redis, name: string): Component => ({
  name,
  start: () => redis.connect(),
  stop: async () => redis.disconnect(),
});

export type { Redis };

/** Error replies that say "not now" rather than "never": the server is busy, loading, read-only or failing over. */
const TRANSIENT_REPLY = /^(OOM|BUSY|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF|MOVED|ASK)\b/;

/**
 * True when Redis answered the command with an error that the same command will get again (a
 * script error, a key of the wrong type): retrying cannot help. Connection failures, timeouts and
 * the transient replies above are not.
 */
export function isDeterministicRedisError(error: unknown): boolean {
  if (!(error instanceof Error) || isEpochLost(error)) return false;
  if (error.name === 'ScriptReplyError') return true;
  return error.name === 'ReplyError' && !TRANSIENT_REPLY.test(error.message);
}

/**
 * True when the stream epoch fence (streams/lua/fence.lua) refused a call: Redis no longer holds the
 * state the caller's progress belongs to, so the caller must rebuild rather than retry or isolate.
 */
export function isEpochLost(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError' && error.message.startsWith('EPOCH ');
}

/**
 * Runs a pipeline (one round trip) and returns its replies in order, throwing the first command
 * error: callers never read a failed reply as data.
 */
export async function execPipeline(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
