/**
 * How every process of the service runs its long-lived parts: each part is a component with
 * `start` and `stop`; the runner starts them in order and stops the started ones in reverse, within
 * one shutdown deadline, whatever fails along the way. `npm start`, `npm run worker` and
 * `npm run model:online` all run through it, so they start, report and stop the same way.
 */
import type { Logger } from '../logger.js';

export interface Component {
  /** For the logs: what started, what stopped, what failed. */
  readonly name: string;
  start(): Promise<void>;
  /** Releases everything `start` took; called at most once, and only after `start` resolved. */
  stop(): Promise<void>;
}

export interface Runner {
  /** Starts `components` in order after those already running; a failure stops them all (reverse) and rethrows. */
  start(...components: Component[]): Promise<void>;
  /** Stops every started component in reverse order; the first call's promise is shared by later ones. */
  stop(): Promise<void>;
}

export interface RunnerOptions {
  log: Logger;
  /** The whole shutdown's budget: a component still stopping when it runs out is left behind, loudly. */
  shutdownTimeoutMs: number;
}

export function createRunner({ log, shutdownTimeoutMs }: RunnerOptions): Runner {
  const started: Component[] = [];
  let stopping: Promise<void> | undefined;

  async function stopAll() {
    const begun = Date.now();
    const deadline = begun + shutdownTimeoutMs;
    for (const component of started.splice(0).reverse()) {
      const left = deadline - Date.now();
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        component.stop().then(
          () => 'stopped' as const,
          (error: unknown) => {
            log.error({ err: error, component: component.name }, 'stopping a component failed');
            return 'failed' as const;
          },
        ),
        new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, left)))),
      ]);
      clearTimeout(timer);
      if (outcome === 'late')
        log.error({ component: component.name, shutdownTimeoutMs }, 'a component did not stop within the deadline');
      else log.debug({ component: component.name, outcome }, 'component stopped');
    }
    log.info({ durationMs: Date.now() - begun }, 'stopped');
  }

  return {
    async start(...components) {
      if (stopping) throw new Error('the runner is stopping');
      for (const component of components) {
        const begun = Date.now();
        try {
          await component.start();
        } catch (error) {
          log.error({ err: error, component: component.name }, 'a component failed to start; stopping the others');
          await this.stop();
          throw error;
        }
        started.push(component);
        log.debug({ component: component.name, durationMs: Date.now() - begun }, 'component started');
      }
    },
    stop() {
      stopping ??= stopAll();
      return stopping;
    },
  };
}

/** A component from two functions, for parts that are not objects of their own (a connection, a server). */
export const component = (name: string, start: () => Promise<void>, stop: () => Promise<void>): Component => ({
  name,
  start,
  stop,
});

/**
 * Stops the runner on SIGTERM or SIGINT and exits: 0 when everything stopped, 1 when the deadline
 * (plus a grace period for the last component) passed first.
 */
export function stopOnSignals(runner: Runner, { log, shutdownTimeoutMs }: RunnerOptions): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, 'shutting down');
    const hardStop = setTimeout(() => {
      log.error({ timeoutMs: shutdownTimeoutMs }, 'shutdown deadline passed; exiting');
      process.exit(1);
    }, shutdownTimeoutMs + 5000);
    hardStop.unref();
    runner.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
