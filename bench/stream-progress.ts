/**
 * When an event the API accepted is visible in Redis. The stream worker records, per partition,
 * the last offset whose writes Redis acknowledged (once its item side is applied, and, earlier,
 * once its users' own features are), so an event at (partition, offset) is visible once that
 * progress reaches its offset. Polling those small hashes is all a watcher needs: no hook into
 * the service.
 */
import { redisKeys } from '../src/core/keys.js';
import { createLogger } from '../src/logger.js';
import { connectRedis } from '../src/redis/client.js';
import { createKafka } from '../src/streams/kafka.js';
import { topicNames } from '../src/core/topics.js';
import type { BenchContext, ServiceUnderTest } from './types.js';

/** Where an accepted event was stored. */
export interface Position {
  partition: number;
  offset: number;
}

interface Waiter extends Position {
  deadline: number;
  resolve(at: number): void;
}

export interface StreamProgress {
  /** Resolves with the performance.now() of the first poll that saw the event applied, or NaN after `timeoutMs`. */
  visible(position: Position, timeoutMs?: number): Promise<number>;
  /** Resolves once every event stored so far in the behaviour topic is applied; returns how long that took. */
  drain(timeoutMs?: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * Polls every ~`intervalMs` while anything is awaited, so the resolution is a poll interval plus one
 * round trip. `what`: `settled` (default) waits for the worker's progress, recorded once an event's
 * item side (the item window) is applied too; `users` for the users' own features only, what their
 * next feed reads (the worker's `visible` hash, written after each batch's user side).
 */
export function watchStream(
  ctx: Pick<BenchContext, 'redisUrl' | 'brokers'>,
  service: Pick<ServiceUnderTest, 'prefix' | 'groupId'>,
  intervalMs = 1,
  what: 'settled' | 'users' = 'settled',
): StreamProgress {
  // Either topology: a redis-cluster:// URL gets a cluster client (the progress hash is one key).
  const redisReady = connectRedis(ctx.redisUrl, createLogger('silent'), 'bench-progress');
  const topic = topicNames(`${service.prefix}.`).behavior;
  const keys = redisKeys(service.prefix);
  const key =
    what === 'users' ? keys.streamVisible(service.groupId, topic) : keys.streamOffsets(service.groupId, topic);
  const admin = createKafka({ brokers: ctx.brokers, clientId: 'bench-progress' }).admin();
  const connected = admin.connect();
  const waiting = new Set<Waiter>();
  let polling = false;

  async function poll() {
    polling = true;
    try {
      const redis = await redisReady;
      while (waiting.size > 0) {
        const progress = await redis.hgetall(key);
        const at = performance.now();
        for (const w of waiting) {
          if (Number(progress[String(w.partition)] ?? -1) >= w.offset) w.resolve(at);
          else if (at > w.deadline) w.resolve(Number.NaN);
          else continue;
          waiting.delete(w);
        }
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    } finally {
      polling = false;
    }
  }

  const visible = (position: Position, timeoutMs = 30_000) =>
    new Promise<number>((resolve) => {
      waiting.add({ ...position, deadline: performance.now() + timeoutMs, resolve });
      if (!polling) void poll();
    });

  return {
    visible,
    async drain(timeoutMs = 120_000) {
      const started = performance.now();
      await connected;
      const ends = await admin.fetchTopicOffsets(topic);
      const seen = await Promise.all(
        ends
          .filter((p) => Number(p.high) > 0)
          .map((p) => visible({ partition: p.partition, offset: Number(p.high) - 1 }, timeoutMs)),
      );
      if (seen.some(Number.isNaN)) throw new Error(`the stream worker did not catch up within ${timeoutMs} ms`);
      return performance.now() - started;
    },
    async close() {
      for (const w of waiting) w.resolve(Number.NaN);
      waiting.clear();
      await connected.then(() => admin.disconnect());
      (await redisReady).disconnect();
    },
  };
}
