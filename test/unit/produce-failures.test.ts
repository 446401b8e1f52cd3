import kafkajs from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { topicNames } from '../../src/core/topics.js';
import { loadConfig } from '../../src/config.js';
import { createIngest } from '../../src/ingest/interactions.js';
import { createRateLimiter } from '../../src/ingest/rate-limit.js';
import type { Kafka } from '../../src/streams/kafka.js';
import { createIngestProducer, type IngestProducer } from '../../src/streams/producer.js';

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;
const silent = pino({ level: 'silent' });
const BROKER = '10.1.2.3:9092';

interface Failures {
  metadata?: () => Promise<{ topics: { partitions: unknown[] }[] }>;
  connect?: () => Promise<void>;
  sendBatch?: () => Promise<{ topicName: string; partition: number; baseOffset?: string }[]>;
}

/** Just enough of a kafkajs client for the producer, failing where told. */
function fakeKafka(failures: Failures): Kafka {
  const client = {
    admin: () => ({
      connect: async () => {},
      disconnect: async () => {},
      fetchTopicMetadata: failures.metadata ?? (async () => ({ topics: [{ partitions: [{}] }] })),
    }),
    producer: () => ({
      events: { CONNECT: 'connect', DISCONNECT: 'disconnect' },
      on: () => () => {},
      connect: failures.connect ?? (async () => {}),
      disconnect: async () => {},
      sendBatch: failures.sendBatch ?? (async () => [{ topicName: 't', partition: 0, baseOffset: '0' }]),
    }),
  };
  return client as unknown as Kafka;
}

const record = { topic: 't', key: 'u1', value: Buffer.from('{}') };

async function failureOf(failures: Failures): Promise<AppError> {
  const producer = createIngestProducer({ kafka: fakeKafka(failures), log: silent, timeoutMs: 2000 });
  const error = await producer.send([record]).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

const connectionError = () =>
  new KafkaJSConnectionError(`Connection error: connect ECONNREFUSED ${BROKER}`, { broker: BROKER });

describe('a produce that fails', () => {
  it.each<[string, Failures]>([
    [
      'kafkajs gave up retrying',
      {
        sendBatch: () =>
          Promise.reject(new KafkaJSNumberOfRetriesExceeded(connectionError(), { retryCount: 5, retryTime: 2000 })),
      },
    ],
    [
      'the broker refused with a non-retriable error',
      {
        sendBatch: () =>
          Promise.reject(
            new KafkaJSProtocolError(
              Object.assign(new Error(`Broker ${BROKER}: not authorised`), {
                type: 'TOPIC_AUTHORIZATION_FAILED',
                code: 29,
                retriable: false,
              }),
            ),
          ),
      },
    ],
    ['an unexpected error', { sendBatch: () => Promise.reject(new Error(`socket to ${BROKER} hung up`)) }],
    ['the connection could not be made', { connect: () => Promise.reject(connectionError()) }],
    ['the metadata could not be read', { metadata: () => Promise.reject(connectionError()) }],
    ['the topic has no partitions', { metadata: async () => ({ topics: [{ partitions: [] }] }) }],
    [
      'the broker acknowledged another partition',
      { sendBatch: async () => [{ topicName: 't', partition: 7, baseOffset: '0' }] },
    ],
  ])('because %s is a retryable UNAVAILABLE that tells nothing of the broker', async (_why, failures) => {
    const error = await failureOf(failures);
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.details.cause).toBeUndefined();
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain('10.1.2.3');
  });
});

describe('recording behaviour while Kafka is unavailable', () => {
  const failing: IngestProducer = {
    start: async () => {},
    stop: async () => {},
    ready: () => true,
    send: () =>
      Promise.reject(new AppError('UNAVAILABLE', 'Kafka did not acknowledge the write; retry', { retryable: true })),
  };
  const config = loadConfig({});
  const ingest = createIngest({
    producer: failing,
    topics: topicNames('t.'),
    limits: config.ingest,
    rateLimiter: createRateLimiter(config.ingest),
  });
  const rejection = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a rejection');
      },
      (e: unknown) => e as AppError,
    );

  it('returns the eventId it generated, so the retry can reuse it', async () => {
    const error = await rejection(ingest.recordInteractions([{ userId: 'u1', itemId: 'i1', action: 'LIKE' }]));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.details.eventId).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('returns every entry eventId of a batch, in input order (null for rejected entries)', async () => {
    const error = await rejection(
      ingest.recordInteractions([
        { userId: 'u1', itemId: 'i1', action: 'LIKE', eventId: 'mine-1' },
        { userId: 'u1', itemId: 'i2', action: 'NOT_AN_ACTION' },
        { userId: 'u1', itemId: 'i3', action: 'CLICK' },
      ]),
    );
    expect(error.code).toBe('UNAVAILABLE');
    const ids = error.details.eventIds as (string | null)[];
    expect(ids).toHaveLength(3);
    expect(ids[0]).toBe('mine-1');
    expect(ids[1]).toBeNull();
    expect(ids[2]).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });
});
