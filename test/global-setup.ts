/**
 * One real Kafka broker and one real Redis for the whole run, started by the same local-stack
 * factory as `npm start`. Test files isolate themselves with unique topic and key prefixes; a file
 * that needs to kill a server starts its own.
 */
import type { TestProject } from 'vitest/node';
import { createLocalStack } from '../src/stack/local-stack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const stack = createLocalStack({ kafkaHeapMb: 768, log: (msg) => process.stderr.write(`[stack] ${msg}\n`) });
  const started = Date.now();
  await stack.start();
  process.stderr.write(
    `[stack] Kafka ${stack.kafka?.brokers.join(',')} and ${stack.redis?.url} ready in ${Date.now() - started} ms\n`,
  );
  project.provide('kafkaBrokers', stack.kafka?.brokers.join(',') ?? '');
  project.provide('redisUrl', stack.redis?.url ?? '');
  return async () => {
    await stack.stop();
  };
}
