import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { RecordInteractionDocument, RecordInteractionsDocument } from '../src/client/index.js';
import { startLocalKafka, type LocalKafka } from '../src/stack/kafka.js';
import { eventually, gql, startApp, testConfig } from './helpers.js';
import { readTopic } from './kafka-helpers.js';

const TIMEOUT_MS = 2000;

describe('recording behaviour while the Kafka broker is down', () => {
  let dir: string;
  let kafka: LocalKafka;
  let app: App;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'outage-'));
    kafka = await startLocalKafka({ dir, heapMb: 384 });
    app = await startApp(
      testConfig('outage', { KAFKA_BROKERS: kafka.brokers.join(','), KAFKA_PRODUCE_TIMEOUT_MS: String(TIMEOUT_MS) }),
    );
  });
  afterAll(async () => {
    await app?.stop();
    await kafka?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const record = (eventId: string) =>
    gql(app.url, RecordInteractionDocument, {
      input: { eventId, userId: 'u-outage', itemId: 'item-1', action: 'LIKE' },
    });

  it('fails within the produce timeout with a retryable UNAVAILABLE, and succeeds again once the broker is back', async () => {
    expect((await record('before')).data?.recordInteraction.eventId).toBe('before');

    await kafka.stop();
    const started = Date.now();
    const failed = await Promise.all([record('during-1'), record('during-2'), record('during-3')]);
    const elapsed = Date.now() - started;
    for (const [i, res] of failed.entries()) {
      expect(res.data?.recordInteraction ?? null).toBeNull();
      expect(res.errors?.[0]?.extensions).toMatchObject({
        code: 'UNAVAILABLE',
        retryable: true,
        eventId: `during-${i + 1}`,
      });
      expect(res.errors?.[0]?.extensions).not.toHaveProperty('cause');
    }
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 1500);

    // An event the server named: the error says which eventId the retry must reuse.
    const unnamed = await gql(app.url, RecordInteractionDocument, {
      input: { userId: 'u-outage', itemId: 'item-2', action: 'LIKE' },
    });
    expect(unnamed.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(unnamed.errors?.[0]?.extensions?.eventId).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const batch = await gql(app.url, RecordInteractionsDocument, {
      inputs: [
        { userId: 'u-outage', itemId: 'item-3', action: 'LIKE', eventId: 'batch-1' },
        { userId: 'u-outage', itemId: 'item-4', action: 'CLICK' },
      ],
    });
    expect(batch.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    const eventIds = batch.errors?.[0]?.extensions?.eventIds as string[] | undefined;
    expect(eventIds?.[0]).toBe('batch-1');
    expect(eventIds?.[1]).toMatch(/^[A-Za-z0-9_-]{16}$/);

    kafka = await startLocalKafka({ dir, port: kafka.port, controllerPort: kafka.controllerPort, heapMb: 384 });
    const after = await eventually(
      async () => {
        const res = await record('after');
        return res.data?.recordInteraction ? res : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(after.data?.recordInteraction.eventId).toBe('after');

    // Nothing reported accepted was lost: both acknowledged events are in the log.
    const records = await readTopic(kafka.brokers, app.services.topics.behavior, 2);
    const ids = records.map((r) => r.value.eventId);
    expect(ids).toContain('before');
    expect(ids).toContain('after');
  });
});
