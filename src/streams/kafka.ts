/**
 * The one module that imports kafkajs. Everything else talks to Kafka through these factories and
 * re-exported types, so that a KafkaJS-compatible client can replace kafkajs in one place.
 */
import kafkajs from 'kafkajs';
import { waitFor } from '../runtime/wait.js';
import type { Logger } from 'pino';
import type { Admin } from 'kafkajs';
import type { TopicSpec } from '../core/topics.js';
import type { Component } from '../runtime/runner.js';

export type {
  Admin,
  Consumer,
  ConsumerRunConfig,
  EachBatchPayload,
  Kafka,
  KafkaMessage,
  Message,
  Producer,
  RecordMetadata,
} from 'kafkajs';

const { Kafka: KafkaClient, logLevel, KafkaJSError, Partitioners } = kafkajs;

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  logger?: Logger;
  /** Socket connect timeout; kept short so an absent broker is reported quickly. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  retries?: number;
}

const levelNames: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A kafkajs client whose log lines go to our structured logger. */
export function createKafka(options: KafkaOptions): InstanceType<typeof KafkaClient> {
  const log = options.logger;
  return new KafkaClient({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    retry: { retries: options.retries ?? 5, initialRetryTime: 100, maxRetryTime: 2000 },
    logLevel: log ? logLevel.WARN : logLevel.NOTHING,
    logCreator: () => (entry) => {
      if (!log) return;
      const level = levelNames[entry.level] ?? 'info';
      const { message, ...rest } = entry.log;
      log[level]({ component: 'kafkajs', namespace: entry.namespace, ...rest }, message);
    },
  });
}

/** True for kafkajs errors that are worth retrying (the broker may come back). */
export function isRetriableKafkaError(error: unknown): boolean {
  return error instanceof KafkaJSError && error.retriable;
}

const javaCompatible = Partitioners.DefaultPartitioner();

/**
 * The partition a keyed record lands on: murmur2 of the key modulo the partition count, the same
 * choice as the Java client's default partitioner, so every producer of a key agrees.
 */
export function partitionForKey(topic: string, key: string, partitionCount: number): number {
  const partitionMetadata = Array.from({ length: partitionCount }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [],
    isr: [],
    partitionErrorCode: 0,
  }));
  return javaCompatible({ topic, partitionMetadata, message: { key, value: null } });
}

/**
 * Creates the topics that are missing (any process may start first: the API or a standalone
 * worker), and returns their names. Two processes racing to create one topic is harmless.
 */
export async function ensureTopics(
  admin: Pick<Admin, 'listTopics' | 'createTopics' | 'fetchTopicMetadata'>,
  specs: TopicSpec[],
  { timeoutMs = 30_000 }: { timeoutMs?: number } = {},
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((t) => !existing.has(t.topic));
  if (!missing.length) return [];
  await admin.createTopics({ topics: missing, waitForLeaders: false });
  // On several brokers, the one asked may not know a topic created a moment ago ("does not host
  // this topic-partition"): ask until every partition of every new topic has a leader.
  await waitFor(
    'the new topics to have leaders',
    async () => {
      const meta = await admin.fetchTopicMetadata({ topics: missing.map((t) => t.topic) }).catch(() => undefined);
      return meta?.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)) ?? false;
    },
    { timeoutMs, intervalMs: 200 },
  );
  return missing.map((t) => t.topic);
}

/**
 * Creates the missing topics when the process starts (a fresh cluster gets them from whichever
 * process starts first). The API keeps its admin client connected for readiness probes; the
 * worker lets it go at once.
 */
export function topicsComponent(
  admin: Admin,
  specs: TopicSpec[],
  log: Pick<Logger, 'info'>,
  { keepConnected }: { keepConnected: boolean },
): Component {
  return {
    name: 'kafka-topics',
    async start() {
      await admin.connect();
      try {
        const created = await ensureTopics(admin, specs);
        if (created.length) log.info({ topics: created }, 'created kafka topics');
      } finally {
        if (!keepConnected) await admin.disconnect();
      }
    },
    stop: () => (keepConnected ? admin.disconnect().catch(() => {}) : Promise.resolve()),
  };
}
