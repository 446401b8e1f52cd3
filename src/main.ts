/**
 * The service's main job: read the configuration, start a local Kafka + Redis when none is
 * configured, start the API's components, and stop them in reverse order on SIGTERM/SIGINT.
 */
import { createApp } from './app.js';
import { createLogger } from './logger.js';
import { ModelMismatchError } from './model/session.js';
import { createRunner, stopOnSignals } from './runtime/runner.js';
import { exitWithUsageError, loadConfigOrExit, resolveAuthOrExit, withLocalStack } from './runtime/startup.js';

const loaded = loadConfigOrExit('feedrec');
const log = createLogger(loaded.logLevel);
// Decided before anything starts: a refusal must not leave a local stack to clean up.
const configured = resolveAuthOrExit('feedrec', loaded, log);
const runner = createRunner({ log, shutdownTimeoutMs: configured.shutdownTimeoutMs });
stopOnSignals(runner, { log, shutdownTimeoutMs: configured.shutdownTimeoutMs });

try {
  const stack = await withLocalStack(configured, runner, log);
  const app = createApp(stack.config, { log });
  await runner.start(...app.components);
  const demo = configured.live.demoPage ? app.url.replace(/\/graphql$/, '/demo') : undefined;
  log.info(
    { url: app.url, graphiql: configured.graphiql ? app.url : undefined, demo },
    `feedrec ready: GraphiQL at ${app.url}${demo ? `; live feed demo at ${demo}` : ''}`,
  );
} catch (error) {
  await runner.stop(); // the runner has stopped what had started; this waits for it
  // A model that does not fit the features is a deployment error, not a crash: say what differs.
  if (error instanceof ModelMismatchError)
    exitWithUsageError(
      'feedrec',
      `${error.message}\n(retrain the model or set MODEL_PATH; see docs/model-lifecycle.md)`,
    );
  log.fatal({ err: error }, 'start-up failed');
  process.exit(1);
}
