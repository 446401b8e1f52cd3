/**
 * Replaying a real interaction log through the service's public GraphQL API, as a client would:
 * the catalogue through `upsertItems`, then every training rating in time order through
 * `recordInteractions` (VIEW for every rating, LIKE for a positive one), honouring the per-user
 * rate limits (a RATE_LIMITED batch waits and is sent again, so order is kept), and finally one
 * `recommendations` request per evaluated user, one at a time, timed.
 *
 * The log's clock is mapped onto the last days before now (the API accepts event times within
 * its allowed age): `at' = end − (lastRating − at) / compression`, so a months-long log keeps its
 * order and its relative gaps, and the newest rating lands just before the feeds are asked for.
 */
import {
  ApiError,
  RecommendedIdsDocument,
  RecordInteractionsDocument,
  type ApiClient,
} from '../../src/client/index.js';
import { localApiClient, MAX_BATCH } from '../../tools/sim/driver.js';
import { publishCatalogue } from '../api.js';
import { sleep } from '../types.js';
import type { CatalogueItem, Dataset, Rating } from './dataset.js';

export interface TimeMap {
  /** The replayed time (epoch ms) of a log time. */
  at(logTime: number): number;
  compression: number;
}

/** Maps [firstLog, lastLog] onto [end − spanMs, end]. */
export function timeMap(firstLog: number, lastLog: number, end: number, spanMs: number): TimeMap {
  const compression = Math.max(1, (lastLog - firstLog) / spanMs);
  return { at: (t) => Math.round(end - (lastLog - t) / compression), compression };
}

export interface ReplayInput {
  userId: string;
  itemId: string;
  action: 'VIEW' | 'LIKE';
  occurredAt: string;
  eventId: string;
}

/** The API events of a time-ordered training log: VIEW for every rating, LIKE for a positive one. */
export function replayEvents(train: readonly Rating[], positiveThreshold: number, map: TimeMap): ReplayInput[] {
  const out: ReplayInput[] = [];
  for (const r of train) {
    const occurredAt = new Date(map.at(r.at)).toISOString();
    const id = `${r.userId}.${r.itemId}`;
    out.push({ userId: r.userId, itemId: r.itemId, action: 'VIEW', occurredAt, eventId: `${id}.v` });
    if (r.rating >= positiveThreshold)
      out.push({ userId: r.userId, itemId: r.itemId, action: 'LIKE', occurredAt, eventId: `${id}.l` });
  }
  return out;
}

/**
 * Cuts a time-ordered event list into requests of at most MAX_BATCH entries and at most
 * `perUser` entries of any one user, so that no request can exceed a user's burst allowance.
 */
export function batchesOf<T extends { userId: string }>(events: readonly T[], perUser: number): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let counts = new Map<string, number>();
  for (const e of events) {
    const n = counts.get(e.userId) ?? 0;
    if (batch.length >= MAX_BATCH || n >= perUser) {
      batches.push(batch);
      batch = [];
      counts = new Map();
    }
    batch.push(e);
    counts.set(e.userId, (counts.get(e.userId) ?? 0) + 1);
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** Runs `send` until it succeeds, waiting on retryable errors (rate limits, a busy broker). */
async function withRetry<T>(send: () => Promise<T>, onRetry: () => void, attempts = 200): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof ApiError) || !error.retryable || i >= attempts) throw error;
      onRetry();
      await sleep(Math.min(1000, 50 * i));
    }
  }
}

/** The catalogue's API input: the first genre as the category, every genre as a tag. */
export function catalogueInputs(items: Iterable<CatalogueItem>, map: TimeMap, fallbackCreatedAt: number) {
  return [...items].map((item) => ({
    id: item.itemId,
    category: item.categories[0] ?? null,
    tags: item.categories.slice(0, 32),
    createdAt: new Date(Math.min(map.at(item.releasedAt ?? fallbackCreatedAt), Date.now())).toISOString(),
  }));
}

export interface RecordOptions {
  onProgress?: (sent: number) => void;
  /**
   * Ask a user's feed before sending more of their behaviour once they have this many new events
   * since their last feed: the served feeds are logged as impressions, and what the user did
   * next labels them (training on replayed traffic). Off when absent.
   */
  feedEvery?: number;
  /** How long those feeds are (a longer list labels more of what recall offers). */
  feedFirst?: number;
}

/** Sends the events in order; every entry must be accepted or is counted by its error code. */
export async function recordInOrder(
  client: ApiClient,
  events: readonly ReplayInput[],
  options: RecordOptions = {},
): Promise<{ events: number; rejected: Record<string, number>; rateLimitedRetries: number; feeds: number }> {
  const rejected: Record<string, number> = {};
  let retries = 0;
  let sent = 0;
  let feeds = 0;
  const sinceFeed = new Map<string, number>();
  const engaged = new Set<string>();
  // Half the default burst of 200 events per user per request.
  for (const batch of batchesOf(events, 100)) {
    if (options.feedEvery) {
      for (const userId of new Set(batch.map((e) => e.userId))) {
        if (!engaged.has(userId) || (sinceFeed.get(userId) ?? Infinity) < options.feedEvery) continue;
        await withRetry(
          () => client.request(RecommendedIdsDocument, { userId, first: options.feedFirst ?? 20 }),
          () => retries++,
        );
        sinceFeed.set(userId, 0);
        feeds++;
      }
      for (const e of batch) {
        sinceFeed.set(e.userId, (sinceFeed.get(e.userId) ?? Infinity) + 1);
        if (e.action === 'LIKE') engaged.add(e.userId);
      }
    }
    const data = await withRetry(
      () => client.request(RecordInteractionsDocument, { inputs: batch }),
      () => retries++,
    );
    for (const r of data.recordInteractions.results)
      if (r.error) rejected[r.error.code] = (rejected[r.error.code] ?? 0) + 1;
    sent += batch.length;
    options.onProgress?.(sent);
  }
  return { events: sent, rejected, rateLimitedRetries: retries, feeds };
}

export interface ServedFeeds {
  lists: Map<string, string[]>;
  latenciesMs: number[];
  /** The service's own compute time per feed (without HTTP and GraphQL). */
  computeMs: number[];
  failed: Record<string, number>;
  degraded: number;
}

/** One `recommendations` request per user, one at a time (the serving latency of a lone request). */
export async function askFeeds(client: ApiClient, users: readonly string[], first = 20): Promise<ServedFeeds> {
  const lists = new Map<string, string[]>();
  const latenciesMs: number[] = [];
  const computeMs: number[] = [];
  const failed: Record<string, number> = {};
  let degraded = 0;
  for (const userId of users) {
    const started = performance.now();
    try {
      const data = await client.request(RecommendedIdsDocument, { userId, first });
      latenciesMs.push(performance.now() - started);
      computeMs.push(data.recommendations.computeMs);
      if (data.recommendations.degraded) degraded++;
      lists.set(
        userId,
        data.recommendations.items.map((e) => e.item.id),
      );
    } catch (error) {
      const code = error instanceof ApiError ? error.code : 'ERROR';
      failed[code] = (failed[code] ?? 0) + 1;
    }
  }
  return { lists, latenciesMs, computeMs, failed, degraded };
}

export interface ReplayLogOptions {
  url: string;
  redisUrl: string;
  /** The service's Redis key prefix (to see when the catalogue has arrived). */
  prefix: string;
  dataset: Dataset;
  /** Time-ordered ratings to send (a split's train part, or the whole log). */
  ratings: readonly Rating[];
  positiveThreshold: number;
  /** The log is mapped onto the last `spanMs` before now. */
  spanMs?: number;
  feedEvery?: number;
  feedFirst?: number;
  say?: (text: string) => void;
}

/** Publishes the catalogue (waiting until the stream stored it), then replays `ratings` in order. */
export async function replayLog(options: ReplayLogOptions) {
  const say = options.say ?? (() => undefined);
  const client = localApiClient(options.url);
  const started = performance.now();
  const firstLog = options.ratings[0]?.at ?? 0;
  const lastLog = options.ratings.at(-1)?.at ?? 0;
  // Six days by default: the API accepts event times up to seven days old.
  const map = timeMap(firstLog, lastLog, Date.now() - 60_000, options.spanMs ?? 6 * 24 * 3600_000);
  const catalogue = catalogueInputs(options.dataset.items.values(), map, firstLog);
  say(`publishing ${catalogue.length} items`);
  await publishCatalogue({ redisUrl: options.redisUrl }, { url: options.url, prefix: options.prefix }, catalogue);
  const events = replayEvents(options.ratings, options.positiveThreshold, map);
  say(`replaying ${events.length} events (log time compressed ${map.compression.toFixed(1)}×)`);
  let lastSay = 0;
  const sent = await recordInOrder(client, events, {
    feedEvery: options.feedEvery,
    feedFirst: options.feedFirst,
    onProgress: (n) => {
      if (performance.now() - lastSay > 10_000) {
        lastSay = performance.now();
        say(`  ${n}/${events.length} events`);
      }
    },
  });
  return { ...sent, items: catalogue.length, compression: map.compression, durationMs: performance.now() - started };
}

export { localApiClient };
