/**
 * `npm run stack`: starts a local Kafka + Redis, prints the environment to point the service (or
 * another tool) at them, and keeps them running until interrupted.
 */
import { createLocalStack } from '../src/stack/local-stack.js';

const stack = createLocalStack({ log: (msg) => process.stderr.write(`${msg}\n`) });
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
process.stdout.write(
  `KAFKA_BROKERS=${stack.kafka?.brokers.join(',')}\nREDIS_URL=${stack.redis?.url}\n` +
    `# stack directory: ${stack.dir}; Ctrl-C stops both servers and removes it\n`,
);
