/**
 * `npm run stack [-- --cluster]`: starts a local Kafka + Redis (with `--cluster`: three brokers with
 * replication factor 3 and a Redis Cluster of three masters with a replica each), prints the
 * environment to point the service (or another tool) at them, and keeps them running until
 * interrupted.
 */
import { createLocalStack } from '../src/stack/local-stack.js';

const cluster = process.argv.includes('--cluster');
const stack = createLocalStack({
  topology: cluster ? 'cluster' : 'single',
  log: (msg) => process.stderr.write(`${msg}\n`),
});
const stop = () => {
  stack.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`stopping the stack failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await stack.start();
const redisEnv = Object.entries(stack.redisEnv ?? {}).map(([name, value]) => `${name}=${value}\n`);
process.stdout.write(
  `KAFKA_BROKERS=${stack.brokers.join(',')}\n${redisEnv.join('')}` +
    `# stack directory: ${stack.dir}; Ctrl-C stops every server and removes it\n`,
);
