/**
 * Where computed feeds' impressions go: the impressions topic, in batches. Nobody waits for an
 * impression (attribution counts clicks against it for half an hour, training reads it later), so
 * each one waits up to `lingerMs` for others and they are produced together: at a moderate request
 * rate every impression was otherwise a Kafka request of its own, and each such request costs the
 * API, the broker and the wake-ups between them far more than its bytes. A batch also goes out as
 * soon as `maxRecords` are waiting, so the buffer is bounded whatever the rate.
 *
 * Outcomes are counted per impression (`impressions_logged_total{outcome}`); a batch Kafka did not
 * acknowledge is logged once, with its size. `stop` sends what is waiting and waits for it, so a
 * graceful shutdown loses none.
 */
import type { ImpressionEvent } from '../core/events.js';
import { encodeEvent } from '../core/events.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Component } from '../runtime/runner.js';
import type { IngestProducer } from './producer.js';

export interface ImpressionLogOptions {
  producer: Pick<IngestProducer, 'send'>;
  topic: string;
  /** How long an impression may wait for others; 0: sent on the next turn of the event loop. */
  lingerMs: number;
  /** A batch goes out as soon as this many are waiting. */
  maxRecords?: number;
  metrics: Pick<Metrics, 'impressionsLogged'>;
  log: Logger;
}

export interface ImpressionLog extends Component {
  /** Queues one impression; never throws. */
  log(impression: ImpressionEvent): void;
  /** Sends what is waiting now; resolves once Kafka answered for it. */
  flush(): Promise<void>;
}

export function createImpressionLog(options: ImpressionLogOptions): ImpressionLog {
  const { producer, topic, lingerMs, metrics, log } = options;
  const maxRecords = options.maxRecords ?? 500;
  let waiting: ImpressionEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const sending = new Set<Promise<void>>();

  function flush(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    if (waiting.length === 0) return Promise.all(sending).then(() => {});
    const batch = waiting;
    waiting = [];
    const sent = producer
      .send(batch.map((impression) => ({ topic, key: impression.userId, value: encodeEvent(impression) })))
      .then(
        () => void metrics.impressionsLogged.inc({ outcome: 'ok' }, batch.length),
        (error: unknown) => {
          metrics.impressionsLogged.inc({ outcome: 'failed' }, batch.length);
          log.warn({ err: error, impressions: batch.length }, 'impressions could not be logged');
        },
      );
    sending.add(sent);
    void sent.finally(() => sending.delete(sent));
    return Promise.all(sending).then(() => {});
  }

  return {
    name: 'impression-log',
    start: async () => {},
    stop: () => flush(),
    flush,
    log(impression) {
      waiting.push(impression);
      if (waiting.length >= maxRecords) void flush();
      else timer ??= setTimeout(() => void flush(), lingerMs);
    },
  };
}
