/**
 * One real Kafka broker and one real Redis for the whole run, started by the same local-stack
 * factory as `npm start`; for the `cluster` project, three brokers (topics with three replicas) and
 * a Redis Cluster of three masters with a replica each. Test files isolate themselves with unique
 * topic and key prefixes; a file that needs to kill a server starts its own.
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
  const stack = createLocalStack({
    topology: clustered ? 'cluster' : 'single',
    kafkaHeapMb: clustered ? 384 : 768,
    log: (msg) => process.stderr.write(`${tag} ${msg}\n`),
  });
  const started = Date.now();
  await stack.start();
  const env = stack.redisEnv;
  const redisUrl =
    env && 'REDIS_CLUSTER_NODES' in env ? `redis-cluster://${env.REDIS_CLUSTER_NODES}` : (env?.REDIS_URL ?? '');
  process.stderr.write(`${tag} Kafka ${stack.brokers.join(',')} and ${redisUrl} ready in ${Date.now() - started} ms\n`);
  project.provide('kafkaBrokers', stack.brokers.join(','));
  project.provide('redisUrl', redisUrl);
  project.provide('kafkaReplicationFactor', clustered ? '3' : '1');
  return async () => {
    await stack.stop();
  };
}
