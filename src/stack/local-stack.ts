import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalKafka, startLocalKafkaCluster, type LocalKafka, type LocalKafkaCluster } from './kafka.js';
import { removeStaleStackDirs } from './processes.js';
import { startLocalRedis, type LocalRedis } from './redis.js';
import { startLocalRedisCluster, type LocalRedisCluster } from './redis-cluster.js';

export interface LocalStackOptions {
  /** Start a broker (false when KAFKA_BROKERS points at one already). */
  kafka?: boolean;
  /** Start a Redis (false when REDIS_URL points at one already). */
  redis?: boolean;
  /** Parent of the per-stack data directories; defaults to the OS temp dir. */
  root?: string;
  kafkaHeapMb?: number;
  /**
   * `single` (default): one broker and one Redis. `cluster`: three Kafka brokers (replication
   * factor 3, min.insync.replicas 2) and a Redis Cluster of three masters with a replica each.
   */
  topology?: 'single' | 'cluster';
  log?: (msg: string) => void;
}

export interface LocalStack {
  readonly dir: string;
  readonly kafka: LocalKafka | undefined;
  readonly redis: LocalRedis | undefined;
  readonly kafkaCluster: LocalKafkaCluster | undefined;
  readonly redisCluster: LocalRedisCluster | undefined;
  /** The brokers started (either topology), empty when none was. */
  readonly brokers: string[];
  /** How to reach the Redis started: `REDIS_URL` or `REDIS_CLUSTER_NODES` (none when none was). */
  readonly redisEnv: { REDIS_URL: string } | { REDIS_CLUSTER_NODES: string } | undefined;
  /** Pids of every server process started. */
  readonly pids: number[];
  start(): Promise<void>;
  /** Stops Redis and Kafka and removes the data directory. Safe to call twice. */
  stop(): Promise<void>;
  ready(): boolean;
}

/**
 * A real Apache Kafka (KRaft) and a real Redis on free ports, one node each or clustered, each with
 * its own data directory under one unique stack directory, so that several stacks on one machine
 * never collide.
 */
export function createLocalStack(options: LocalStackOptions = {}): LocalStack {
  const root = options.root ?? path.join(os.tmpdir(), 'feedrec-stack');
  let dir = '';
  let kafka: LocalKafka | undefined;
  let redis: LocalRedis | undefined;
  let kafkaCluster: LocalKafkaCluster | undefined;
  let redisCluster: LocalRedisCluster | undefined;
  let started = false;
  const clustered = options.topology === 'cluster';
  return {
    get kafkaCluster() {
      return kafkaCluster;
    },
    get redisCluster() {
      return redisCluster;
    },
    get brokers() {
      return kafkaCluster?.brokers ?? kafka?.brokers ?? [];
    },
    get redisEnv() {
      if (redisCluster) return { REDIS_CLUSTER_NODES: redisCluster.seeds };
      return redis ? { REDIS_URL: redis.url } : undefined;
    },
    get pids() {
      return [
        kafka?.process.pid,
        redis?.process.pid,
        ...(kafkaCluster?.nodes.map((n) => n.process.pid) ?? []),
        ...(redisCluster?.nodes.map((n) => n.process.pid) ?? []),
      ].filter((pid): pid is number => typeof pid === 'number');
    },
    get dir() {
      return dir;
    },
    get kafka() {
      return kafka;
    },
    get redis() {
      return redis;
    },
    ready: () => started,
    async start() {
      mkdirSync(root, { recursive: true });
      removeStaleStackDirs(root);
      dir = mkdtempSync(path.join(root, 'stack-'));
      writeFileSync(path.join(dir, 'owner.pid'), String(process.pid));
      try {
        // Both start together; whichever started is kept so that stop() stops it when the other failed.
        const settled = <T>(promise: Promise<T> | undefined, keep: (value: T) => void) => promise?.then(keep);
        const dirOf = (name: string) => path.join(dir, name);
        const results = await Promise.allSettled([
          options.kafka === false
            ? undefined
            : clustered
              ? settled(
                  startLocalKafkaCluster({
                    dir: dirOf('kafka'),
                    heapMb: options.kafkaHeapMb ? Math.min(options.kafkaHeapMb, 512) : undefined,
                    log: options.log,
                  }),
                  (k) => (kafkaCluster = k),
                )
              : settled(
                  startLocalKafka({ dir: dirOf('kafka'), heapMb: options.kafkaHeapMb, log: options.log }),
                  (k) => (kafka = k),
                ),
          options.redis === false
            ? undefined
            : clustered
              ? settled(startLocalRedisCluster({ dir: dirOf('redis') }), (r) => (redisCluster = r))
              : settled(startLocalRedis({ dir: dirOf('redis') }), (r) => (redis = r)),
        ]);
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
        started = true;
      } catch (error) {
        await this.stop();
        throw error;
      }
    },
    async stop() {
      started = false;
      await Promise.allSettled([redis?.stop(), kafka?.stop(), redisCluster?.stop(), kafkaCluster?.stop()]);
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
