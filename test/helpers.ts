import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, inject } from 'vitest';
import { createApp, type App } from '../src/app.js';
import {
  execute,
  executeText,
  RecordInteractionCountsDocument,
  UpsertItemsDocument,
  type GraphQLResult,
  type TypedDocumentNode,
} from '../src/client/index.js';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { Cluster, Redis } from 'ioredis';
import { clusterSeeds, isCluster, type RedisClient } from '../src/redis/client.js';
import type { RedisKeys } from '../src/core/keys.js';
import { encodeEvent } from '../src/core/events.js';
import { createKafka, ensureTopics, type Producer } from '../src/streams/kafka.js';
import { topicSpecs, type Topics } from '../src/core/topics.js';
import { waitFor } from '../src/runtime/wait.js';

/** A unique, readable prefix for one test file's topics and Redis keys. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${randomBytes(3).toString('hex')}`;
}

/** The shared stack's config with this file's prefixes, plus overrides. */
export function testConfig(name: string, env: Record<string, string> = {}): Config {
  const prefix = uniquePrefix(name);
  return loadConfig({
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    KAFKA_BROKERS: inject('kafkaBrokers'),
    REDIS_URL: inject('redisUrl'),
    KAFKA_TOPIC_PREFIX: `${prefix}.`,
    REDIS_KEY_PREFIX: prefix,
    KAFKA_TOPIC_PARTITIONS: '3',
    KAFKA_REPLICATION_FACTOR: inject('kafkaReplicationFactor'),
    AUTH_MODE: 'dev',
    ...env,
  });
}

/** Starts an API instance in this process; stop it in afterAll. */
export async function startApp(config: Config): Promise<App> {
  const app = createApp(config, { log: createLogger(config.logLevel) });
  await app.start();
  return app;
}

/**
 * POSTs one operation and returns the HTTP status with the parsed body, typed by the document.
 * A query text is sent as it is: only for documents a test means to be invalid or hostile.
 */
export function gql<TResult, TVariables>(
  url: string,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
  headers?: Record<string, string>,
): Promise<GraphQLResult<TResult>>;
export function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers?: Record<string, string>,
): Promise<GraphQLResult<T>>;
export function gql(
  url: string,
  document: TypedDocumentNode<unknown, Record<string, unknown>> | string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResult<unknown>> {
  return typeof document === 'string'
    ? executeText(url, document, variables, { headers })
    : execute(url, document, variables ?? {}, { headers });
}

/** Polls until `probe` returns a truthy value (the shared poller, with the tests' defaults). */
export const eventually = <T>(
  probe: () => Promise<T | undefined | null | false | 0 | ''>,
  { timeoutMs = 20_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> => waitFor('condition', probe, { timeoutMs, intervalMs });

const tempDirs: string[] = [];
// Registered while the test file is collected (it imports this module), so it runs after the file.
afterAll(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test file. */
export function tempDir(name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `feedrec-${name}-`));
  tempDirs.push(dir);
  return dir;
}

/**
 * A connection to the run's Redis: one Redis, or the Redis Cluster of the `cluster` project
 * (`redis-cluster://` URL). Disconnect it in afterAll.
 */
export function testRedis(): RedisClient {
  const url = inject('redisUrl');
  const seeds = clusterSeeds(url);
  return seeds ? new Cluster(seeds) : new Redis(url);
}

/**
 * Connections subscribed to `channel`. On a cluster each node counts only its own subscribers, so
 * every node (masters and replicas, from CLUSTER NODES) is asked and the counts are added.
 */
export async function channelSubscribers(redis: RedisClient, channel: string): Promise<number> {
  const numsub = async (node: Pick<Redis, 'pubsub'>) =>
    Number(((await node.pubsub('NUMSUB', channel)) as [string, string])[1]);
  if (!isCluster(redis)) return numsub(redis);
  const addresses = String(await redis.cluster('NODES'))
    .split('\n')
    .filter((line) => line && !line.includes('fail'))
    .map((line) => line.split(' ')[1]!.split('@')[0]!);
  let total = 0;
  for (const address of addresses) {
    const at = address.lastIndexOf(':');
    const node = new Redis({ host: address.slice(0, at), port: Number(address.slice(at + 1)), lazyConnect: true });
    try {
      await node.connect();
      total += await numsub(node);
    } finally {
      node.disconnect();
    }
  }
  return total;
}

/** Every key matching `pattern`, from every master of a cluster (SCAN on one node sees only its own). */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  }
  return keys;
}

/** The test catalogue: 12 items in each of five categories (`pets-0` … `music-11`). */
export const CATEGORIES = ['pets', 'cars', 'food', 'sports', 'music'];
export const CATALOGUE = CATEGORIES.flatMap((c) =>
  Array.from({ length: 12 }, (_, i) => ({ id: `${c}-${i}`, category: c })),
);

/**
 * Publishes the test catalogue through `app` and waits until it is in Redis, then records some
 * background clicks from other users over every category, so that trending has content and every
 * feed has candidates to score. Headers carry a token where authentication is on.
 */
export async function seedCatalogue(app: App, headers: Record<string, string> = {}): Promise<void> {
  const upsert = await gql(app.url, UpsertItemsDocument, { inputs: CATALOGUE }, headers);
  if (upsert.errors) throw new Error(`upsertItems failed: ${JSON.stringify(upsert.errors)}`);
  const { redis, keys } = app.services;
  await eventually(async () => (await redis.hget(keys.item('music-11'), 'category')) === 'music');
  const background = CATALOGUE.flatMap((it, i) =>
    Array.from({ length: 1 + (i % 3) }, (_, k) => ({ userId: `bg-${k}`, itemId: it.id, action: 'CLICK' as const })),
  );
  const res = await gql(app.url, RecordInteractionCountsDocument, { inputs: background }, headers);
  if (res.errors) throw new Error(`recordInteractions failed: ${JSON.stringify(res.errors)}`);
}

/**
 * Waits until a stream worker's progress in Redis (consumer group `groupId`) reaches the end the
 * behaviour topic has now: everything recorded so far is applied (`visible`: the users' own
 * features, before the item window's side). Returns the records in the log.
 */
export async function streamProgressAtLogEnd(
  redis: RedisClient,
  keys: RedisKeys,
  topics: Topics,
  groupId: string,
  timeoutMs = 30_000,
  brokers: readonly string[] = inject('kafkaBrokers').split(','),
  progressOf: 'settled' | 'visible' = 'settled',
): Promise<number> {
  const admin = createKafka({ brokers: [...brokers], clientId: 'test-progress' }).admin();
  await admin.connect();
  // On several brokers, one may not know a topic created a moment ago: ask again.
  const ends = await eventually(() => admin.fetchTopicOffsets(topics.behavior).catch(() => undefined), {
    timeoutMs,
  }).finally(() => admin.disconnect());
  await eventually(
    async () => {
      const hash = progressOf === 'visible' ? keys.streamVisible : keys.streamOffsets;
      const progress = await redis.hgetall(hash(groupId, topics.behavior));
      return ends.every(
        (p) => Number(p.high) === 0 || Number(progress[String(p.partition)] ?? -1) + 1 >= Number(p.high),
      );
    },
    { timeoutMs },
  );
  return ends.reduce((sum, p) => sum + Number(p.high), 0);
}

/** Waits until the stream worker of `app` applied everything recorded so far. */
export async function streamCaughtUp(app: App): Promise<void> {
  const { redis, keys, topics, config } = app.services;
  await streamProgressAtLogEnd(redis, keys, topics, config.stream.groupId, 30_000, config.kafka.brokers);
}

/** Writes catalogue records (a category, or a category and tags, per item id) to the catalogue topic. */
export async function publishCatalogueRecords(
  producer: Producer,
  topics: Topics,
  items: Record<string, string | { category: string; tags: string[] }>,
): Promise<void> {
  await producer.send({
    topic: topics.items,
    acks: -1,
    messages: Object.entries(items).map(([itemId, entry]) => {
      const { category, tags } = typeof entry === 'string' ? { category: entry, tags: [] } : entry;
      return {
        key: itemId,
        value: encodeEvent({ v: 1, itemId, category, tags, authorId: null, createdAt: 1, updatedAt: 1 }),
      };
    }),
  });
}

/** Creates a test file's topics (3 partitions each) on the shared broker. */
export async function createTestTopics(topics: Topics): Promise<void> {
  const admin = createKafka({ brokers: inject('kafkaBrokers').split(','), clientId: 'test-topics' }).admin();
  await admin.connect();
  try {
    await ensureTopics(admin, topicSpecs(topics, 3, Number(inject('kafkaReplicationFactor'))));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Starts `npm run worker` (src/worker.ts) as its own process on the shared stack, with a test
 * file's prefix for topics and keys; `env` adds or overrides variables. Its metrics port is any
 * free one, so several workers can run at once.
 */
export function spawnWorker(
  prefix: string,
  env: Record<string, string> = {},
  stdout: 'ignore' | 'pipe' = 'ignore',
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    env: {
      ...process.env,
      KAFKA_BROKERS: inject('kafkaBrokers'),
      REDIS_URL: inject('redisUrl'),
      KAFKA_TOPIC_PREFIX: `${prefix}.`,
      REDIS_KEY_PREFIX: prefix,
      STREAM_GROUP_ID: `${prefix}-group`,
      WORKER_METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', stdout, 'inherit'],
  });
}
