import { Cluster, Redis, type ChainableCommander } from 'ioredis';
import type { Logger } from '../logger.js';
import type { Component } from '../runtime/runner.js';
import { keySlot } from './slots.js';

/** One Redis or a Redis Cluster: every part of the service takes either. */
export type RedisClient = Redis | Cluster;

/** A pipeline, or on a cluster its stand-in (see `pipelineOf`). */
export type RedisPipeline = ChainableCommander;

const CLUSTER_URL = /^redis-cluster:\/\/(.+)$/;

/** The seed nodes of a `redis-cluster://host:port,host:port` URL (undefined: not a cluster URL). */
export function clusterSeeds(url: string): { host: string; port: number }[] | undefined {
  const match = CLUSTER_URL.exec(url);
  if (!match?.[1]) return undefined;
  return match[1].split(',').map((seed) => {
    const at = seed.lastIndexOf(':');
    return { host: seed.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(seed.slice(at + 1)) };
  });
}

/** Whether `redis` talks to a Redis Cluster. */
export const isCluster = (redis: RedisClient): redis is Cluster => redis instanceof Cluster;

/**
 * A Redis connection (or, for a `redis-cluster://` URL, a Redis Cluster client) that fails fast
 * while the server is unreachable (no offline queue), so callers can answer with an error or a
 * degraded result instead of hanging, and reconnects on its own. It is created unconnected:
 * `connect()` (or `connectRedis`) opens it. A cluster client follows slot moves and failovers
 * (MOVED / ASK, a refreshed slot map) and reads from masters only.
 */
export function createRedis(url: string, log: Logger, name = 'main'): RedisClient {
  const options = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    connectionName: `feedrec-${name}`,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
  };
  const seeds = clusterSeeds(url);
  const redis: RedisClient = seeds
    ? new Cluster(seeds, {
        lazyConnect: true,
        enableOfflineQueue: false,
        scaleReads: 'master',
        // While a replica takes over a dead master (a few seconds), a command is retried briefly,
        // then fails: callers answer UNAVAILABLE or a degraded feed instead of hanging.
        maxRedirections: 4,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        retryDelayOnTryAgain: 100,
        slotsRefreshTimeout: 2000,
        clusterRetryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
        redisOptions: {
          connectTimeout: options.connectTimeout,
          connectionName: options.connectionName,
          maxRetriesPerRequest: 1,
        },
      })
    : new Redis(url, options);
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

/**
 * What answers: one Redis, or a Redis Cluster with its masters and replicas and whether it serves
 * every slot. Throws when it does not answer, or when a cluster does not serve every slot.
 */
export async function describeRedis(redis: RedisClient): Promise<string> {
  if (!isCluster(redis)) {
    if ((await redis.ping()) !== 'PONG') throw new Error('unexpected PING reply');
    return 'one Redis';
  }
  const info = String(await redis.cluster('INFO'));
  const state = /cluster_state:(\w+)/.exec(info)?.[1];
  if (state !== 'ok') throw new Error(`Redis Cluster state ${state ?? 'unknown'}`);
  // CLUSTER NODES: one line per node, its flags third (`master`, `slave`, `fail`, `myself,…`).
  const nodes = String(await redis.cluster('NODES'))
    .split('\n')
    .map((line) => line.split(' ')[2]?.split(',') ?? [])
    .filter((flags) => flags.length && !flags.includes('fail') && !flags.includes('noaddr'));
  const masters = nodes.filter((flags) => flags.includes('master')).length;
  const replicas = nodes.filter((flags) => flags.includes('slave')).length;
  return `Redis Cluster: ${masters} master${masters === 1 ? '' : 's'}, ${replicas} replica${replicas === 1 ? '' : 's'}`;
}

/**
 * On a Redis Cluster, waits until `replicas` replicas of every master hold the writes this client
 * sent them so far (WAIT), and throws when one does not confirm within `timeoutMs`: a master that
 * dies after the stream committed its Kafka offsets must not take acknowledged behaviour with it.
 * One Redis, or `replicas` 0: returns at once.
 */
export async function replicated(redis: RedisClient, replicas: number, timeoutMs: number): Promise<void> {
  if (!isCluster(redis) || replicas <= 0) return;
  const masters = redis.nodes('master');
  const acks = await Promise.all(masters.map((node) => node.call('WAIT', replicas, timeoutMs) as Promise<number>));
  const short = acks.filter((n) => n < replicas).length;
  if (short > 0) {
    const error = new Error(
      `${short} of ${masters.length} Redis masters had fewer than ${replicas} replica(s) confirm the writes within ${timeoutMs} ms`,
    );
    error.name = 'ReplicationError';
    throw error;
  }
}

/** A Redis connection, open. */
export async function connectRedis(url: string, log: Logger, name = 'main'): Promise<RedisClient> {
  const redis = createRedis(url, log, name);
  await redis.connect();
  return redis;
}

/** A connection as a runner component: opened on start, closed on stop. */
export const redisComponent = (redis: RedisClient, name: string): Component => ({
  name,
  start: () => redis.connect(),
  stop: async () => redis.disconnect(),
});

/** Cluster errors that mean a command was not run where it was sent (safe to send it again). */
const REDIRECTED = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;

/** The key that places a queued command: its first argument, or a script's first key (after the key count). */
function placingKey(args: unknown[]): string | undefined {
  const key = typeof args[0] === 'number' ? args[1] : args[0];
  return typeof key === 'string' ? key : Buffer.isBuffer(key) ? key.toString('latin1') : undefined;
}

/**
 * A pipeline on one Redis. On a cluster, where one pipeline may only hold keys served by one node,
 * a stand-in with the same interface: the commands queued are grouped by the node serving each
 * one's slot and each group goes out as one real pipeline (one round trip per node, all nodes at
 * once). A command the cluster redirected (a slot moved, a failover in progress) was not run, so it
 * is sent again on its own, following the redirection; a group the slot map no longer fits is sent
 * command by command. The replies come back in the order queued, each as `[error, value]` like a
 * pipeline's.
 */
export function pipelineOf(redis: RedisClient): RedisPipeline {
  if (!isCluster(redis)) return redis.pipeline();
  const cluster = redis;
  const queued: [method: string, args: unknown[]][] = [];
  type Method = (...args: unknown[]) => Promise<unknown>;
  type Reply = [Error | null, unknown];
  const methodOf = (target: object, name: string): Method | undefined => {
    const method = (target as Record<string, unknown>)[name];
    return typeof method === 'function' ? (method as Method) : undefined;
  };
  const alone = ([method, args]: [string, unknown[]]): Promise<Reply> =>
    methodOf(cluster, method)!
      .apply(cluster, args)
      .then(
        (value): Reply => [null, value],
        (error: Error): Reply => [error, null],
      );

  async function execGroup(indexes: number[], replies: Reply[]) {
    if (indexes.length === 1) {
      replies[indexes[0]!] = await alone(queued[indexes[0]!]!);
      return;
    }
    const pipeline = cluster.pipeline();
    for (const i of indexes) {
      const [method, args] = queued[i]!;
      // Queues it (a pipeline's commands return the pipeline, not a reply).
      void methodOf(pipeline, method)!.apply(pipeline, args);
    }
    let results: Reply[] | null;
    try {
      results = await pipeline.exec();
    } catch (caught) {
      const error = caught instanceof Error ? caught : new Error(String(caught));
      // Refused before sending (the slot map changed under the grouping): nothing ran, so each goes
      // alone. Any other failure is every command's answer, as when sent one by one.
      results = /slots allocation group|same slot/.test(error.message) ? null : indexes.map((): Reply => [error, null]);
    }
    await Promise.all(
      indexes.map(async (queuedAt, i) => {
        const result = results?.[i];
        replies[queuedAt] =
          result && !(result[0] && REDIRECTED.test(result[0].message)) ? result : await alone(queued[queuedAt]!);
      }),
    );
  }

  const standIn: RedisPipeline = new Proxy({} as RedisPipeline, {
    get(_target, property) {
      if (property === 'length') return queued.length;
      if (property === 'exec')
        return async () => {
          const groups = new Map<string, number[]>();
          const solo: number[] = [];
          queued.forEach(([, args], i) => {
            const key = placingKey(args);
            const nodes = key === undefined ? undefined : cluster.slots[keySlot(key)];
            if (!nodes?.length) return solo.push(i);
            const group = nodes.join(',');
            const list = groups.get(group);
            if (list) list.push(i);
            else groups.set(group, [i]);
          });
          const replies = new Array<Reply>(queued.length);
          await Promise.all([
            ...[...groups.values()].map((indexes) => execGroup(indexes, replies)),
            ...solo.map(async (i) => (replies[i] = await alone(queued[i]!))),
          ]);
          return replies;
        };
      if (typeof property !== 'string' || !methodOf(cluster, property)) return undefined;
      return (...args: unknown[]) => {
        queued.push([property, args]);
        return standIn;
      };
    },
  });
  return standIn;
}

export type { Redis, Cluster };

/** One command's outcome in a pipeline's replies. */
type Reply = [Error | null, unknown];

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
export async function execPipeline(pipeline: RedisPipeline): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return valuesOf(results, 0, results.length);
}

/** The values of replies `from` to `to` of a pipeline's replies, throwing the first command error among them. */
function valuesOf(replies: readonly Reply[], from: number, to: number): unknown[] {
  const out = new Array<unknown>(to - from);
  for (let i = from; i < to; i++) {
    const [error, value] = replies[i]!;
    if (error) throw error;
    out[i - from] = value;
  }
  return out;
}

/**
 * Where a read's commands go: a connection (they go out as a pipeline of their own) or a
 * SharedPipeline (they share a round trip with other callers').
 */
export type PipelineSource = RedisClient | SharedPipeline;

/**
 * Queues commands with `queue` on a pipeline from `source` and runs them (one round trip, shared
 * with other callers when `source` is a SharedPipeline); the replies as `execPipeline` gives them.
 */
export function runPipeline(source: PipelineSource, queue: (pipeline: RedisPipeline) => void): Promise<unknown[]> {
  if (source instanceof SharedPipeline) return source.run(queue);
  const pipeline = pipelineOf(source);
  queue(pipeline);
  return execPipeline(pipeline);
}

/** The commands queued since the last send, and the replies they will get. */
interface OpenBatch {
  pipeline: RedisPipeline;
  replies: Promise<Reply[]>;
  send: () => void;
}

/**
 * One round trip for the commands of many callers: what callers queue within one turn of the event
 * loop (until its check phase, where `setImmediate` callbacks run) goes out as one pipeline, and
 * each caller gets its own replies. For the reads every request makes: at a few hundred requests a
 * second several requests' reads are queued in the same turn, and share one socket write, one
 * socket read and one Redis read of the commands instead of one each. A batch that reaches
 * `maxCommands` goes out at once, so a batch is bounded whatever the load.
 *
 * A caller's result is exactly what `execPipeline` would give it: its replies, in the order it
 * queued them, and its first command error thrown (another caller's error is not its own). A round
 * trip that fails as a whole (Redis unreachable) fails every caller in it.
 */
export class SharedPipeline {
  #open: OpenBatch | undefined;
  constructor(
    private readonly redis: RedisClient,
    private readonly maxCommands = 2000,
  ) {}

  /** Queues `queue`'s commands in the open batch (opening one if none is) and returns their replies. */
  async run(queue: (pipeline: RedisPipeline) => void): Promise<unknown[]> {
    const batch = (this.#open ??= this.#openBatch());
    const from = batch.pipeline.length;
    queue(batch.pipeline);
    const to = batch.pipeline.length;
    if (to >= this.maxCommands) batch.send();
    return valuesOf(await batch.replies, from, to);
  }

  #openBatch(): OpenBatch {
    const pipeline = pipelineOf(this.redis);
    let sent = false;
    let settle!: (replies: Promise<Reply[]>) => void;
    const replies = new Promise<Reply[]>((resolve) => (settle = resolve));
    const send = () => {
      if (sent) return;
      sent = true;
      if (this.#open?.pipeline === pipeline) this.#open = undefined;
      settle(pipeline.exec().then((r) => r ?? []));
    };
    setImmediate(send);
    return { pipeline, replies, send };
  }
}
