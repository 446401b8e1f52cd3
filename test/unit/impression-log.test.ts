import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ImpressionEvent } from '../../src/core/events.js';
import { createMetrics } from '../../src/metrics.js';
import { createImpressionLog } from '../../src/streams/impression-log.js';
import type { IngestProducer, OutgoingRecord } from '../../src/streams/producer.js';

const silent = pino({ level: 'silent' });

const impression = (n: number): ImpressionEvent => ({
  v: 1,
  impressionId: `imp-${n}`,
  userId: `u${n}`,
  servedAt: 1,
  modelVersion: 'm',
  featureNames: [],
  items: [],
});

/** Records every `send` call; each call resolves or fails when the test says. */
function recordingProducer() {
  const calls: { records: OutgoingRecord[]; settle: (ok: boolean) => void }[] = [];
  const producer: Pick<IngestProducer, 'send'> = {
    send: (records) =>
      new Promise((resolve, reject) =>
        calls.push({
          records,
          settle: (ok) =>
            ok
              ? resolve(records.map((r, i) => ({ topic: r.topic, partition: 0, offset: String(i) })))
              : reject(new Error('down')),
        }),
      ),
  };
  return { producer, calls };
}

const logged = async (metrics: ReturnType<typeof createMetrics>, outcome: string) =>
  (await metrics.impressionsLogged.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

describe('the impression log', () => {
  it('sends the impressions of one linger together, keyed by user, and counts each', async () => {
    const { producer, calls } = recordingProducer();
    const metrics = createMetrics();
    const log = createImpressionLog({ producer, topic: 'imp', lingerMs: 30, metrics, log: silent });
    for (let n = 0; n < 3; n++) log.log(impression(n));
    expect(calls).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toHaveLength(1);
    expect(calls[0]!.records.map((r) => [r.topic, r.key])).toEqual([
      ['imp', 'u0'],
      ['imp', 'u1'],
      ['imp', 'u2'],
    ]);
    expect((JSON.parse(calls[0]!.records[1]!.value.toString()) as ImpressionEvent).impressionId).toBe('imp-1');
    calls[0]!.settle(true);
    await log.flush();
    expect(await logged(metrics, 'ok')).toBe(3);
  });

  it('sends at once when a batch is full, so the buffer is bounded whatever the rate', () => {
    const { producer, calls } = recordingProducer();
    const log = createImpressionLog({
      producer,
      topic: 'imp',
      lingerMs: 60_000,
      maxRecords: 4,
      metrics: createMetrics(),
      log: silent,
    });
    for (let n = 0; n < 9; n++) log.log(impression(n));
    expect(calls.map((c) => c.records.length)).toEqual([4, 4]);
    void log.stop();
    expect(calls.map((c) => c.records.length)).toEqual([4, 4, 1]);
  });

  it('counts a batch Kafka refused as failed, per impression', async () => {
    const { producer, calls } = recordingProducer();
    const metrics = createMetrics();
    const log = createImpressionLog({ producer, topic: 'imp', lingerMs: 0, metrics, log: silent });
    log.log(impression(1));
    log.log(impression(2));
    const flushed = log.flush();
    calls[0]!.settle(false);
    await flushed;
    expect(await logged(metrics, 'failed')).toBe(2);
    expect(await logged(metrics, 'ok')).toBe(0);
  });

  it('stop sends what waits and resolves only once Kafka answered for it', async () => {
    const { producer, calls } = recordingProducer();
    const log = createImpressionLog({
      producer,
      topic: 'imp',
      lingerMs: 60_000,
      metrics: createMetrics(),
      log: silent,
    });
    log.log(impression(1));
    let stopped = false;
    const stopping = log.stop().then(() => (stopped = true));
    expect(calls).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 10));
    expect(stopped).toBe(false);
    calls[0]!.settle(true);
    await stopping;
    expect(stopped).toBe(true);
  });
});
