import { execPipeline, type RedisClient, pipelineOf } from '../redis/client.js';
import type { RedisKeys } from '../core/keys.js';
import { registerScripts, scripts } from '../redis/scripts.js';
import { ACTIONS, type Action } from '../core/events.js';
import {
  decayedValue,
  POPULARITY_HALF_LIFE_MS,
  TRENDING_ALL,
  trendingBuckets,
  WINDOW_NAMES,
  windowBuckets,
  windowField,
  type WindowName,
} from './definitions.js';

/** Catalogue metadata plus the stream's real-time stats of one item. */
export interface ItemFeatures {
  itemId: string;
  /** False when the catalogue has no entry for the item. */
  known: boolean;
  category: string | null;
  tags: string[];
  authorId: string | null;
  createdAt: number | null;
  /** Decayed weighted actions at `readAt` (negative when skips and hides dominate). */
  popularity: number;
  /** Events per action since the item was first seen by the stream. */
  totals: Record<Action, number>;
  /** Long-horizon totals from the daily batch (0 when none). */
  longHorizonScore: number;
}

export const zeroTotals = (): Record<Action, number> =>
  Object.fromEntries(ACTIONS.map((a) => [a, 0])) as Record<Action, number>;

/** What Redis holds for an item, before decay to a read time. */
interface ItemRecord {
  itemId: string;
  meta: (string | null)[];
  popStored: number | null;
  popBase: number | null;
  totals: Record<Action, number>;
  lt: number;
}

/**
 * Raw records for many items in one pipelined round trip: one script call per item (read-item.lua:
 * its catalogue fields, stats and long-horizon score), not three commands.
 */
async function readItemRecords(redis: RedisClient, keys: RedisKeys, itemIds: readonly string[]): Promise<ItemRecord[]> {
  if (itemIds.length === 0) return [];
  registerScripts(redis);
  const read = pipelineOf(redis);
  const replies = itemIds.map((id) =>
    scripts.readItem.queue(
      read,
      { meta: keys.item(id), stats: keys.itemStats(id), longHorizon: keys.itemLongHorizon(id) },
      { actions: ACTIONS },
    ),
  );
  const results = await execPipeline(read);
  return itemIds.map((itemId, i) => {
    const { meta, stats, score } = replies[i]!(results);
    const totals = zeroTotals();
    ACTIONS.forEach((a, k) => (totals[a] = Number(stats[2 + k] ?? 0)));
    return {
      itemId,
      meta,
      popStored: stats[0] === null || stats[0] === undefined ? null : Number(stats[0]),
      popBase: stats[1] === null || stats[1] === undefined ? null : Number(stats[1]),
      totals,
      lt: score === null ? 0 : Number(score),
    };
  });
}

function toFeatures(r: ItemRecord, readAt: number): ItemFeatures {
  const [category, tags, authorId, createdAt] = r.meta;
  return {
    itemId: r.itemId,
    known: category !== null && category !== undefined,
    category: category || null,
    tags: tags ? tags.split(',').filter(Boolean) : [],
    authorId: authorId || null,
    createdAt: createdAt ? Number(createdAt) : null,
    popularity:
      r.popStored === null ? 0 : decayedValue(r.popStored, r.popBase ?? readAt, readAt, POPULARITY_HALF_LIFE_MS),
    totals: { ...r.totals },
    longHorizonScore: r.lt,
  };
}

/**
 * Metadata and real-time stats for many items in one pipelined round trip, in input order,
 * whatever their number.
 */
export async function readItemFeaturesBatch(
  redis: RedisClient,
  keys: RedisKeys,
  itemIds: readonly string[],
  readAt = Date.now(),
): Promise<ItemFeatures[]> {
  return (await readItemRecords(redis, keys, itemIds)).map((r) => toFeatures(r, readAt));
}

/**
 * Item features shared by every request of an instance for `ttlMs` (items are global and change
 * slowly next to a user's own features), so a request over 500 candidates reads only the items no
 * recent request read — still in one round trip — and allocates nothing per cached item.
 * Popularity is decayed to the moment the item was read: within the TTL that differs from the
 * request's own time by less than 0.01 % (a 6-hour half-life).
 *
 * Reads in flight are shared too: a request that needs an item another request is already reading
 * waits for that read instead of sending its own. Without that, every entry expiring at once under
 * concurrent load made each of the requests in flight read the same hundreds of items (three
 * commands each), and those reads and their garbage were most of the API's CPU.
 */
export function createItemCache(redis: RedisClient, keys: RedisKeys, ttlMs = 1000, maxItems = 200_000) {
  const entries = new Map<string, { at: number; features: ItemFeatures }>();
  /** Items being read now, each mapped to the read that will answer it. */
  const inFlight = new Map<string, Promise<Map<string, ItemFeatures>>>();

  /** Reads `ids` (none cached, none in flight) in one round trip, shared with later requests until it lands. */
  function readMissing(ids: string[]): Promise<Map<string, ItemFeatures>> {
    const now = Date.now();
    const reading = readItemRecords(redis, keys, ids).then((records) => {
      const read = new Map<string, ItemFeatures>();
      for (const record of records) {
        const features = toFeatures(record, now);
        read.set(record.itemId, features);
        entries.delete(record.itemId);
        entries.set(record.itemId, { at: now, features });
      }
      // Oldest entries first (insertion order): a bound on memory, not an LRU.
      for (const key of entries.keys()) {
        if (entries.size <= maxItems) break;
        entries.delete(key);
      }
      return read;
    });
    const settled = () => {
      for (const id of ids) if (inFlight.get(id) === reading) inFlight.delete(id);
    };
    reading.then(settled, settled);
    for (const id of ids) inFlight.set(id, reading);
    return reading;
  }

  return {
    async read(itemIds: readonly string[]): Promise<ItemFeatures[]> {
      const now = Date.now();
      const out = new Array<ItemFeatures | undefined>(itemIds.length);
      let missing: string[] | undefined;
      let waits: Set<Promise<Map<string, ItemFeatures>>> | undefined;
      for (let i = 0; i < itemIds.length; i++) {
        const id = itemIds[i]!;
        const hit = entries.get(id);
        if (hit && now - hit.at < ttlMs) {
          out[i] = hit.features;
          continue;
        }
        const pending = inFlight.get(id);
        if (pending) (waits ??= new Set()).add(pending);
        else (missing ??= []).push(id);
      }
      if (missing) (waits ??= new Set()).add(readMissing(missing));
      if (waits) {
        const reads = await Promise.all(waits);
        for (let i = 0; i < itemIds.length; i++) {
          if (out[i] !== undefined) continue;
          const id = itemIds[i]!;
          for (const read of reads) {
            const features = read.get(id);
            if (features) {
              out[i] = features;
              break;
            }
          }
        }
      }
      // Every id was a hit or was read by this request or one in flight (a miss reads as an empty record).
      return out as ItemFeatures[];
    },
  };
}
export type ItemCache = ReturnType<typeof createItemCache>;

/**
 * An item's window counts per action, for windows ending at `at` (one read: the counts are fields
 * `<window>:<bucket index base 36>|<ACTION>` of the item's stats hash).
 */
export async function readItemWindows(
  redis: RedisClient,
  keys: RedisKeys,
  itemId: string,
  at = Date.now(),
): Promise<{ window: WindowName; endsAt: number; counts: { action: Action; count: number }[] }[]> {
  const stats = await redis.hgetall(keys.itemStats(itemId));
  return WINDOW_NAMES.map((window) => {
    const live = new Set(windowBuckets(window, at).map((b) => windowField(window, b)));
    const sums = new Map<Action, number>();
    for (const [field, n] of Object.entries(stats)) {
      const bar = field.indexOf('|');
      if (bar < 0 || !live.has(field.slice(0, bar))) continue;
      const action = field.slice(bar + 1) as Action;
      sums.set(action, (sums.get(action) ?? 0) + Number(n));
    }
    const counts = [...sums]
      .map(([action, count]) => ({ action, count }))
      .sort((a, b) => a.action.localeCompare(b.action));
    return { window, endsAt: at, counts };
  });
}

/**
 * The items most often co-engaged with each of `itemIds`, strongest first (one round trip);
 * `perItem` is one limit for all, or one per item.
 */
export async function readCovisitBatch(
  redis: RedisClient,
  keys: RedisKeys,
  itemIds: readonly string[],
  perItem: number | readonly number[],
): Promise<{ itemId: string; score: number }[][]> {
  if (itemIds.length === 0) return [];
  const read = pipelineOf(redis);
  itemIds.forEach((id, i) => {
    const limit = typeof perItem === 'number' ? perItem : (perItem[i] ?? 0);
    read.zrange(keys.itemCovisit(id), 0, limit - 1, 'REV', 'WITHSCORES');
  });
  const replies = (await execPipeline(read)) as string[][];
  return replies.map((flat) => {
    const out: { itemId: string; score: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ itemId: flat[i] as string, score: Number(flat[i + 1]) });
    return out;
  });
}

type NeighbourList = { itemId: string; score: number }[];

/**
 * Co-visitation lists shared by every request of an instance for `ttlMs`, like item features: a
 * list is an item's strongest co-engaged items, global and slowly changing, while every request
 * reads the lists of up to 30 seeds (2,200 members with their scores). A list read with a larger
 * limit answers smaller ones; reads in flight are shared. At most `maxLists` lists are kept.
 */
export function createCovisitCache(redis: RedisClient, keys: RedisKeys, ttlMs = 1000, maxLists = 5000) {
  const entries = new Map<string, { at: number; limit: number; list: NeighbourList }>();
  const inFlight = new Map<string, { limit: number; list: Promise<NeighbourList> }>();
  return {
    /** The lists of `itemIds`, strongest first, each cut to its limit (one round trip for those not cached). */
    async read(itemIds: readonly string[], perItem: number | readonly number[]): Promise<NeighbourList[]> {
      const now = Date.now();
      const limitOf = (i: number) => (typeof perItem === 'number' ? perItem : (perItem[i] ?? 0));
      const out = new Array<Promise<NeighbourList>>(itemIds.length);
      const missing: number[] = [];
      for (let i = 0; i < itemIds.length; i++) {
        const id = itemIds[i]!;
        const limit = limitOf(i);
        const hit = entries.get(id);
        if (hit && now - hit.at < ttlMs && hit.limit >= limit) out[i] = Promise.resolve(hit.list);
        else {
          const pending = inFlight.get(id);
          if (pending && pending.limit >= limit) out[i] = pending.list;
          else missing.push(i);
        }
      }
      if (missing.length > 0) {
        const ids = missing.map((i) => itemIds[i]!);
        const limits = missing.map(limitOf);
        const reading = readCovisitBatch(redis, keys, ids, limits);
        missing.forEach((i, k) => {
          const id = ids[k]!;
          const limit = limits[k]!;
          const list = reading.then((lists) => lists[k] ?? []);
          out[i] = list;
          inFlight.set(id, { limit, list });
          const settled = () => {
            if (inFlight.get(id)?.list === list) inFlight.delete(id);
          };
          list.then((l) => {
            entries.delete(id);
            entries.set(id, { at: now, limit, list: l });
            settled();
          }, settled);
        });
        for (const key of entries.keys()) {
          if (entries.size <= maxLists) break;
          entries.delete(key);
        }
      }
      const lists = await Promise.all(out);
      return lists.map((list, i) => {
        const limit = limitOf(i);
        return list.length > limit ? list.slice(0, limit) : list;
      });
    },
  };
}
export type CovisitCache = ReturnType<typeof createCovisitCache>;

/**
 * Trending items of a scope (a category, or every item) at `at`, highest score first: only items
 * the catalogue holds (the stream adds no others; this also drops any it added before it knew
 * better), in one more round trip.
 */
export async function readTrending(
  redis: RedisClient,
  keys: RedisKeys,
  scope: string | null,
  limit: number,
  at = Date.now(),
): Promise<{ itemId: string; score: number }[]> {
  const s = scope ?? TRENDING_ALL;
  const buckets = trendingBuckets(at);
  // The buckets are summed with their decay weights inside Redis, into a temporary key of the scope's slot.
  const temp = keys.trendingBucket(s, -1) + `:${process.pid}:${Math.random().toString(36).slice(2)}`;
  const top = (
    await scripts.trendingTop.run(
      redis,
      { temp, buckets: buckets.map((b) => keys.trendingBucket(s, b.bucket)) },
      // A few more than asked for, so that a dropped uncatalogued entry leaves no gap.
      { limit: limit + Math.ceil(limit / 4) + 5, weights: buckets.map((b) => b.weight) },
    )
  ).filter((e) => e.score > 0);
  if (top.length === 0) return [];
  const check = pipelineOf(redis);
  for (const e of top) check.exists(keys.item(e.member));
  const catalogued = await execPipeline(check);
  return top
    .filter((_, i) => catalogued[i] === 1)
    .slice(0, limit)
    .map((e) => ({ itemId: e.member, score: e.score }));
}
