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
import { createFeatureCache, type FeatureCacheHooks, type FeatureCacheSettings } from './feature-cache.js';
import { ITEM_ROW_WIDTH, NO_CATEGORY, UNCODED_CATEGORY, writeItemRow } from './ranking-features.js';

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
 * Item features shared by every request of an instance (items are global and change slowly next to
 * a user's own features), so a request over 500 candidates reads only the items no recent request
 * read — still in one round trip — and allocates nothing per cached item. An item is fresh for
 * `settings.ttlMs` (less a random share, so the catalogue does not go stale all at once); after
 * that it is still served, up to `settings.staleMs`, while a background batch re-reads it (see
 * createFeatureCache). Popularity is decayed to the moment the item was read: within the hard
 * bound that differs from the request's own time by less than 0.01 % (a 6-hour half-life).
 *
 * An item the catalogue did not hold when it was read is kept only UNCATALOGUED_ITEM_TTL_MS and
 * never served stale: a new item is recommendable within that of its catalogue entry landing,
 * whatever the TTL of the items that are there.
 *
 * Reads in flight are shared too: a request that needs an item another request is already reading
 * waits for that read instead of sending its own. Without that, and with every entry expiring at
 * once and being re-read on the request path, each of the requests in flight read the same
 * hundreds of items, and those reads and their garbage were most of the API's CPU.
 */
/** See createItemCache: how long "not in the catalogue" is believed. */
export const UNCATALOGUED_ITEM_TTL_MS = 1000;

export function createItemCache(
  redis: RedisClient,
  keys: RedisKeys,
  settings: Partial<FeatureCacheSettings<ItemFeatures>> = {},
  hooks: FeatureCacheHooks = {},
) {
  const categories = createCategoryCodes();
  const cache = createFeatureCache<ItemFeatures>(
    'item',
    (ids) => readItemFeaturesBatch(redis, keys, ids),
    {
      ttlMs: 1000,
      maxEntries: 200_000,
      shortTtlMs: (item) => (item.known ? undefined : UNCATALOGUED_ITEM_TTL_MS),
      columns: {
        width: ITEM_ROW_WIDTH,
        write: (item, out, offset) => writeItemRow(item, out, offset, categories.code(item.category)),
      },
      ...settings,
    },
    hooks,
  );
  return {
    /** Features of `itemIds` in input order (an id the catalogue lacks reads as an unknown item). */
    read: (itemIds: readonly string[]): Promise<ItemFeatures[]> => cache.get(itemIds),
    /**
     * `read`, and the items' rows as ranking reads them (ITEM_ROW, ITEM_ROW_WIDTH numbers per
     * item, in input order), with the category names their category codes stand for.
     */
    async readRows(itemIds: readonly string[]): Promise<ItemRows> {
      const rows = new Float64Array(itemIds.length * ITEM_ROW_WIDTH);
      const items = await cache.get(itemIds, undefined, rows);
      return { items, rows, categories: categories.names };
    },
    size: cache.size,
  };
}

/** Items with their rows (see ItemCache.readRows). */
export interface ItemRows {
  items: ItemFeatures[];
  rows: Float64Array;
  /** The category of each code an item row holds (see ITEM_ROW.category). */
  categories: readonly string[];
}

/** At most this many category names are given a code; an item of any other reads as UNCODED_CATEGORY. */
export const MAX_CATEGORY_CODES = 10_000;

/**
 * Small integer codes for category names, for item rows: a code never changes its name, and codes
 * are given to the first MAX_CATEGORY_CODES names seen (the catalogue's categories are a few
 * dozen); past that, a name has no code and ranking reads it from the item.
 */
function createCategoryCodes() {
  const codes = new Map<string, number>();
  const names: string[] = [];
  return {
    names,
    code(name: string | null): number {
      if (name === null) return NO_CATEGORY;
      let code = codes.get(name);
      if (code === undefined) {
        if (names.length >= MAX_CATEGORY_CODES) return UNCODED_CATEGORY;
        code = names.push(name) - 1;
        codes.set(name, code);
      }
      return code;
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
 * Co-visitation lists shared by every request of an instance, like item features (and renewed the
 * same way): a list is an item's strongest co-engaged items, global and slowly changing, while
 * every request reads the lists of up to 30 seeds (2,200 members with their scores). A list read
 * with a larger limit answers smaller ones; reads in flight are shared. At most `maxEntries` lists
 * are kept (5,000 by default).
 */
export function createCovisitCache(
  redis: RedisClient,
  keys: RedisKeys,
  settings: Partial<FeatureCacheSettings> = {},
  hooks: FeatureCacheHooks = {},
) {
  const cache = createFeatureCache<NeighbourList>(
    'covisit',
    (ids, limits) => readCovisitBatch(redis, keys, ids, limits),
    { ttlMs: 1000, maxEntries: 5000, ...settings },
    hooks,
  );
  return {
    /** The lists of `itemIds`, strongest first, each cut to its limit (one round trip for those not cached). */
    async read(itemIds: readonly string[], perItem: number | readonly number[]): Promise<NeighbourList[]> {
      const limitOf = (i: number) => (typeof perItem === 'number' ? perItem : (perItem[i] ?? 0));
      const lists = await cache.get(itemIds, limitOf);
      return lists.map((list, i) => {
        const limit = limitOf(i);
        return list.length > limit ? list.slice(0, limit) : list;
      });
    },
    size: cache.size,
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
