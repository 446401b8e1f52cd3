import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { AppError } from '../../src/core/errors.js';
import { topicNames } from '../../src/core/topics.js';
import { createIngest, type InteractionRequest } from '../../src/ingest/interactions.js';
import { createRateLimiter } from '../../src/ingest/rate-limit.js';
import type { IngestProducer } from '../../src/streams/producer.js';

/** A producer that acknowledges everything at once (no Kafka: these tests are about the limits). */
const producer: IngestProducer = {
  start: async () => {},
  stop: async () => {},
  ready: () => true,
  send: async (records) => records.map((r, i) => ({ topic: r.topic, partition: 0, offset: String(i) })),
};

function ingestWith(env: Record<string, string> = {}) {
  const config = loadConfig(env);
  return createIngest({
    producer,
    topics: topicNames('t.'),
    limits: config.ingest,
    rateLimiter: createRateLimiter(config.ingest),
  });
}

const batch = (userId: string, n: number): InteractionRequest[] =>
  Array.from({ length: n }, (_, i) => ({ userId, itemId: `item-${i}`, action: 'CLICK' }));

const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
};

describe('per-user rate limits', () => {
  it('accepts a full 500-entry batch for one user under the default limits', async () => {
    const ingest = ingestWith();
    const outcomes = await ingest.recordInteractions(batch('u1', 500), 1_000_000);
    expect(outcomes.every((o) => o.ok)).toBe(true);
  });

  it('lets a mutation through when the configured rate is below one per second', async () => {
    const ingest = ingestWith({ RATE_LIMIT_MUTATIONS_PER_SEC: '0.5' });
    await ingest.updateProfile({ userId: 'u1', interests: ['pets'] }, 1_000_000);
    expect((await refusal(ingest.updateProfile({ userId: 'u1', interests: [] }, 1_000_100))).code).toBe('RATE_LIMITED');
    await ingest.updateProfile({ userId: 'u1', interests: [] }, 1_000_000 + 2000);
  });

  it('spends no tokens on a multi-user batch it refuses', async () => {
    const ingest = ingestWith({ RATE_LIMIT_EVENTS_PER_SEC: '1000' });
    const now = 1_000_000;
    await ingest.recordInteractions(batch('busy', 500), now);
    await ingest.recordInteractions(batch('busy', 500), now);
    const refused = await refusal(ingest.recordInteractions([...batch('calm', 499), ...batch('busy', 1)], now));
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
    await ingest.recordInteractions(batch('calm', 500), now);
    await ingest.recordInteractions(batch('calm', 500), now);
  });

  it('refuses, for good, more events at once than the bucket could ever hold', () => {
    const limiter = createRateLimiter({ mutationsPerSec: 20, eventsPerSec: 10, eventBurst: 50, mutationBurst: 20 });
    expect(limiter.take([['u1', 51]], 0)).toEqual({ ok: false, userId: 'u1', retryable: false });
    expect(limiter.take([['u1', 50]], 0)).toEqual({ ok: true });
    expect(limiter.take([['u1', 1]], 0)).toEqual({ ok: false, userId: 'u1', retryable: true });
  });

  it('refuses limits at start-up that could never allow a full batch, naming the variable', () => {
    expect(() => loadConfig({ RATE_LIMIT_EVENT_BURST: '100' })).toThrow(/RATE_LIMIT_EVENT_BURST: .*MAX_BATCH_EVENTS/);
    expect(() => loadConfig({ RATE_LIMIT_EVENTS_PER_SEC: '0' })).toThrow(/RATE_LIMIT_EVENTS_PER_SEC/);
    expect(() => loadConfig({ RATE_LIMIT_MUTATION_BURST: '0' })).toThrow(/RATE_LIMIT_MUTATION_BURST/);
    expect(loadConfig({ MAX_BATCH_EVENTS: '800' }).ingest.eventBurst).toBe(800);
    expect(loadConfig({}).ingest).toMatchObject({ eventBurst: 500, mutationBurst: 20 });
  });
});
