/**
 * A Kafka consumer that does not die quietly. kafkajs restarts a consumer after retriable errors
 * only; a non-retriable one (e.g. "the coordinator is not aware of this member" on a commit after
 * the process was frozen past its session timeout, or the broker was) disconnects it for good,
 * while the process keeps running and looks healthy. Here such a crash is logged, counted in
 * `consumer_restarts_total`, turns `ready()` false, and a new consumer joins the group after a
 * backoff (1 s, doubling to 30 s, reset once a consumer has joined). Applying stays exactly-once:
 * the new member starts from the committed offsets and the Redis offset guards skip what was
 * already applied.
 */
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Component } from '../runtime/runner.js';
import type { Consumer, ConsumerRunConfig } from './kafka.js';

export interface ConsumerSpec {
  /** For logs and the restart metric: `stream` or `attribution`. */
  name: string;
  /** A fresh, unconnected consumer of the group. */
  create(): Consumer;
  topics: string[];
  run: ConsumerRunConfig;
  /** Called on every (re)join of the group with the new assignment (topic → partitions): state cached per assignment must be dropped. */
  onGroupJoin?: (assignment: Record<string, number[]>) => void;
}

const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

export function supervisedConsumer(
  spec: ConsumerSpec,
  { log, metrics }: { log: Logger; metrics?: Metrics },
): Pick<Component, 'start' | 'stop'> & { ready(): boolean; current(): Consumer | undefined } {
  let consumer: Consumer | undefined;
  let running = false;
  let stopped = false;
  let backoffMs = FIRST_BACKOFF_MS;
  let timer: NodeJS.Timeout | undefined;

  async function launch(): Promise<void> {
    const current = spec.create();
    consumer = current;
    current.on(current.events.GROUP_JOIN, ({ payload }) => {
      backoffMs = FIRST_BACKOFF_MS;
      spec.onGroupJoin?.(payload.memberAssignment);
    });
    current.on(current.events.CRASH, ({ payload }) => {
      if (payload.restart) {
        log.warn({ err: payload.error, consumer: spec.name }, 'consumer failed; kafkajs restarts it');
        return;
      }
      if (stopped || consumer !== current) return;
      running = false;
      metrics?.consumerRestarts.inc({ consumer: spec.name });
      log.error(
        { err: payload.error, consumer: spec.name, restartInMs: backoffMs },
        'consumer stopped after a non-retriable error; a new one joins the group',
      );
      timer = setTimeout(() => void relaunch(), backoffMs);
      backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
    });
    await current.connect();
    await current.subscribe({ topics: spec.topics, fromBeginning: true });
    await current.run(spec.run);
    running = true;
  }

  async function relaunch(): Promise<void> {
    timer = undefined;
    if (stopped) return;
    await consumer?.disconnect().catch(() => {});
    try {
      await launch();
      log.info({ consumer: spec.name }, 'consumer running again');
    } catch (error) {
      log.error({ err: error, consumer: spec.name, retryInMs: backoffMs }, 'restarting the consumer failed');
      timer = setTimeout(() => void relaunch(), backoffMs);
      backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
    }
  }

  return {
    ready: () => running,
    /** The consumer of the group right now (commits and seeks go to it). */
    current: () => consumer,
    start: launch,
    async stop() {
      stopped = true;
      running = false;
      clearTimeout(timer);
      await consumer?.disconnect().catch(() => {});
    },
  };
}
