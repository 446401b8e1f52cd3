import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalKafka, type LocalKafka } from './kafka.js';
import { removeStaleStackDirs } from './processes.js';
import { startLocalRedis, type LocalRedis } from './redis.js';

export interface LocalStackOptions {
  /** Start a broker (false when KAFKA_BROKERS points at one already). */
  kafka?: boolean;
  /** Start a Redis (false when REDIS_URL points at one already). */
  redis?: boolean;
  /** Parent of the per-stack data directories; defaults to the OS temp dir. */
  root?: string;
  kafkaHeapMb?: number;
  log?: (msg: string) => void;
}

export interface LocalStack {
  readonly dir: string;
  readonly kafka: LocalKafka | undefined;
  readonly redis: LocalRedis | undefined;
  start(): Promise<void>;
  /** Stops Redis and Kafka and removes the data directory. Safe to call twice. */
  stop(): Promise<void>;
  ready(): boolean;
}

/**
 * A real single-node Apache Kafka (KRaft) and a real Redis on free ports, each with its own data
 * directory under one unique stack directory, so that several stacks on one machine never collide.
 */
export function createLocalStack(options: LocalStackOptions = {}): LocalStack {
  const root = options.root ?? path.join(os.tmpdir(), 'feedrec-stack');
  let dir = '';
  let kafka: LocalKafka | undefined;
  let redis: LocalRedis | undefined;
  let started = false;
  return {
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
        const [k, r] = await Promise.all([
          options.kafka === false
            ? undefined
            : startLocalKafka({ dir: path.join(dir, 'kafka'), heapMb: options.kafkaHeapMb, log: options.log }),
          options.redis === false ? undefined : startLocalRedis({ dir: path.join(dir, 'redis') }),
        ]);
        kafka = k;
        redis = r;
        started = true;
      } catch (error) {
        await this.stop();
        throw error;
      }
    },
    async stop() {
      started = false;
      await Promise.allSettled([redis?.stop(), kafka?.stop()]);
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
