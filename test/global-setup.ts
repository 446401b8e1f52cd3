/**
 * One real Kafka broker and one real Redis for the whole run, started by the same local-stack
 * factory as `npm start`; for the `cluster` project, a Redis Cluster of three masters with a replica
 * each instead of the Redis. Test files isolate themselves with unique topic and key prefixes; a
 * file that needs to kill a server starts its own.
 */
import type { TestProject } from 'vitest/node';
import { createLocalStack } from '../src/stack/local-stack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    /** `redis://…`, or `redis-cluster://host:port,…` in the cluster project. */
    redisUrl: string;
    /** Replicas of the topics the tests create (KAFKA_REPLICATION_FACTOR). */
    kafkaReplicationFactor: string;
  }
}

export default async function setup(project: TestProject) {
  const clustered = project.name === 'cluster';
  const tag = clustered ? '[cluster stack]' : '[stack]';
  const log = (msg: string) => process.stderr.write(`${tag} ${msg}\n`);
  // The cluster project: a Redis Cluster, and one broker (the replicated brokers are exercised by
  // test/failover-kafka.test.ts, which starts its own: three more JVMs for the whole run cost more
  // than they show).
  const stacks = clustered
    ? [
        createLocalStack({ topology: 'cluster', kafka: false, log }),
        createLocalStack({ redis: false, kafkaHeapMb: 512, log }),
      ]
    : [createLocalStack({ kafkaHeapMb: 768, log })];
  const started = Date.now();
  await Promise.all(stacks.map((s) => s.start()));
  const env = stacks.map((s) => s.redisEnv).find(Boolean);
  const redisUrl =
    env && 'REDIS_CLUSTER_NODES' in env ? `redis-cluster://${env.REDIS_CLUSTER_NODES}` : (env?.REDIS_URL ?? '');
  const brokers = stacks.flatMap((s) => s.brokers).join(',');
  log(`Kafka ${brokers} and ${redisUrl} ready in ${Date.now() - started} ms`);
  project.provide('kafkaBrokers', brokers);
  project.provide('redisUrl', redisUrl);
  project.provide('kafkaReplicationFactor', '1');
  return async () => {
    await Promise.all(stacks.map((s) => s.stop()));
  };
}
