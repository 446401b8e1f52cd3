/**
 * The daily batch: long-horizon preferences from the behaviour log itself (the reference design
 * keeps these in HBase). It replays a time range of `user_behavior` with the same feature
 * definitions and weights as the stream, and materialises per-user category preferences and
 * totals, and per-item totals, into Redis with a version and timestamp. Once written, it announces
 * the run on the feed-refresh channel, so that API instances re-rank their live subscribers' feeds.
 */
import { UNKNOWN_CATEGORY, type ActionWeights } from '../features/definitions.js';
import type { Logger } from '../logger.js';
import { execPipeline, type RedisClient, pipelineOf } from '../redis/client.js';
import type { RedisKeys } from '../core/keys.js';
import { encodeFeedRefresh } from '../core/feed-refresh.js';
import { registerScripts, scripts } from '../redis/scripts.js';
import { decodeBehavior, DecodeError, type Action, type BehaviorEvent } from '../core/events.js';
import type { Kafka } from '../streams/kafka.js';
import { replayTopic } from '../streams/replay.js';

export interface LongHorizonAggregate {
  users: Map<string, { weights: Map<string, number>; totals: Map<Action, number> }>;
  items: Map<string, { score: number; totals: Map<Action, number> }>;
  events: number;
  skipped: number;
}

/**
 * Folds events into per-user and per-item aggregates. Pure, so the same definition can be
 * checked against a hand count; an eventId is counted once per user, whatever the retries.
 */
export function createLongHorizonAggregator(options: {
  from: number;
  to: number;
  weights: ActionWeights;
  categoryOf: (itemId: string) => string;
}) {
  const agg: LongHorizonAggregate = { users: new Map(), items: new Map(), events: 0, skipped: 0 };
  const seen = new Map<string, Set<string>>();
  return {
    add(e: BehaviorEvent) {
      if (e.occurredAt < options.from || e.occurredAt >= options.to) return void agg.skipped++;
      let ids = seen.get(e.userId);
      if (!ids) seen.set(e.userId, (ids = new Set()));
      if (ids.has(e.eventId)) return void agg.skipped++;
      ids.add(e.eventId);
      agg.events++;
      const w = options.weights[e.action];
      let user = agg.users.get(e.userId);
      if (!user) agg.users.set(e.userId, (user = { weights: new Map(), totals: new Map() }));
      const category = options.categoryOf(e.itemId);
      user.weights.set(category, (user.weights.get(category) ?? 0) + w);
      user.totals.set(e.action, (user.totals.get(e.action) ?? 0) + 1);
      let item = agg.items.get(e.itemId);
      if (!item) agg.items.set(e.itemId, (item = { score: 0, totals: new Map() }));
      item.score += w;
      item.totals.set(e.action, (item.totals.get(e.action) ?? 0) + 1);
    },
    result: () => agg,
  };
}

/** A user's category shares: positive net weight per category over the sum of them. */
export function preferenceShares(weights: Map<string, number>): Map<string, number> {
  const positive = [...weights].filter(([c, w]) => w > 0 && c !== UNKNOWN_CATEGORY);
  const sum = positive.reduce((s, [, w]) => s + w, 0);
  return new Map(positive.map(([c, w]) => [c, w / sum]));
}

export interface LongHorizonRun {
  version: string;
  computedAt: number;
  from: number;
  to: number;
  users: number;
  items: number;
  events: number;
}

/**
 * Runs the job: replay [from, to) of event time, aggregate, and replace every covered user's and
 * item's long-horizon hash. Keys live `ttlSec` (three days by default), so a user no run covers
 * any more loses them instead of keeping stale preferences.
 */
export async function runLongHorizonJob(options: {
  kafka: Kafka;
  redis: RedisClient;
  keys: RedisKeys;
  topic: string;
  weights: ActionWeights;
  from: number;
  to: number;
  log: Logger;
  ttlSec?: number;
  /** How far event time may run ahead of log time (the API accepts 5 minutes). */
  maxFutureMs?: number;
}): Promise<LongHorizonRun> {
  const { redis, keys, log } = options;
  registerScripts(redis);
  const computedAt = Date.now();
  const version = `lt-${new Date(computedAt).toISOString()}`;
  const events: BehaviorEvent[] = [];
  const replayed = await replayTopic(
    options.kafka,
    options.topic,
    options.from - (options.maxFutureMs ?? 5 * 60_000),
    (value) => {
      try {
        events.push(decodeBehavior(value));
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
      }
    },
  );
  log.info({ ...replayed, events: events.length }, 'replayed the behaviour log');
  // Categories as the catalogue has them now, read in one round trip.
  const itemIds = [...new Set(events.map((e) => e.itemId))];
  const read = pipelineOf(redis);
  for (const id of itemIds) read.hget(keys.item(id), 'category');
  const categories = itemIds.length ? ((await execPipeline(read)) as (string | null)[]) : [];
  const categoryOf = new Map(itemIds.map((id, i) => [id, categories[i] || UNKNOWN_CATEGORY]));
  const aggregator = createLongHorizonAggregator({
    from: options.from,
    to: options.to,
    weights: options.weights,
    categoryOf: (id) => categoryOf.get(id) ?? UNKNOWN_CATEGORY,
  });
  for (const e of events) aggregator.add(e);
  const agg = aggregator.result();

  const ttl = options.ttlSec ?? 3 * 24 * 3600;
  const stamp: [string, string][] = [
    ['_v', version],
    ['_at', String(computedAt)],
  ];
  const entries: [string, [string, string][]][] = [];
  for (const [userId, u] of agg.users) {
    const fields: [string, string][] = [];
    for (const [c, share] of preferenceShares(u.weights)) fields.push([`c:${c}`, String(share)]);
    for (const [a, n] of u.totals) fields.push([`n:${a}`, String(n)]);
    entries.push([keys.userLongHorizon(userId), fields]);
  }
  for (const [itemId, it] of agg.items) {
    const fields: [string, string][] = [['score', String(it.score)]];
    for (const [a, n] of it.totals) fields.push([`n:${a}`, String(n)]);
    entries.push([keys.itemLongHorizon(itemId), fields]);
  }
  // Each hash is replaced atomically: readers see the old version or the new, never a mix.
  for (let i = 0; i < entries.length; i += 1000) {
    const write = pipelineOf(redis);
    for (const [hash, fields] of entries.slice(i, i + 1000))
      scripts.replaceHash.queue(write, { hash }, { ttlSec: ttl, fields: [...fields, ...stamp] });
    await execPipeline(write);
  }
  const run: LongHorizonRun = {
    version,
    computedAt,
    from: options.from,
    to: options.to,
    users: agg.users.size,
    items: agg.items.size,
    events: agg.events,
  };
  await redis.hset(keys.longHorizonMeta(), Object.fromEntries(Object.entries(run).map(([k, v]) => [k, String(v)])));
  log.info({ ...run, durationMs: Date.now() - computedAt }, 'long-horizon preferences materialised');
  // Pub/sub is at most once: an instance that misses this keeps its subscribers' feeds until their
  // next change (what `recommendations` answers is read fresh anyway).
  const instances = await redis.publish(
    keys.feedRefreshChannel(),
    encodeFeedRefresh({ trigger: 'batch', detail: `long-horizon ${version}`, at: Date.now() }),
  );
  log.info({ instances, version }, 'announced the run to the API instances');
  return run;
}
