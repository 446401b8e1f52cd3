/**
 * Candidate recall when the caller supplies none: co-visitation from the user's recent positive
 * items, trending (global and in the user's top categories) and fresh items for exploration,
 * minus what the user has seen or hidden and what the caller excludes. A fixed number of Redis
 * round trips, whatever the number of candidates.
 */
import type { Redis } from 'ioredis';
import { TRENDING_ALL } from '../features/definitions.js';
import { readCovisitBatch, readTrending } from '../features/item-features.js';
import type { UserLongHorizon, UserRealtime } from '../features/user-features.js';
import { execPipeline } from '../redis/client.js';
import type { RedisKeys } from '../redis/keys.js';

/** Where a candidate came from, as bit flags (a candidate may come from several). */
export const SOURCE = { supplied: 1, covisit: 2, trending: 4, category: 8, fresh: 16 } as const;
export type CandidateSource = keyof typeof SOURCE;

export interface Candidate {
  itemId: string;
  /** An OR of SOURCE flags. */
  sources: number;
  /** Sum of co-visitation scores with the user's seeds. */
  covisit: number;
  /** The seed with the strongest co-visitation, for the reason text. */
  covisitSeed: string | null;
  /** Trending score (global or in its category, whichever is higher). */
  trending: number;
}

export const RECALL = {
  seeds: 10,
  perSeed: 20,
  trendingGlobal: 100,
  trendingPerCategory: 40,
  topCategories: 3,
  freshPerScope: 20,
} as const;

/**
 * Trending lists per scope, shared by every request of an instance for `ttlMs`; the last list
 * read stays available for a degraded feed while Redis is unreachable.
 */
export function createTrendingCache(redis: Redis, keys: RedisKeys, ttlMs = 1000) {
  const entries = new Map<string, { at: number; list: Promise<{ itemId: string; score: number }[]> }>();
  const lastGood = new Map<string, { itemId: string; score: number }[]>();
  return {
    get(scope: string | null, limit: number): Promise<{ itemId: string; score: number }[]> {
      const key = `${scope ?? TRENDING_ALL}:${limit}`;
      const hit = entries.get(key);
      const now = Date.now();
      if (hit && now - hit.at < ttlMs) return hit.list;
      const list = readTrending(redis, keys, scope, limit);
      entries.set(key, { at: now, list });
      list.then(
        (l) => lastGood.set(key, l),
        () => entries.delete(key),
      );
      return list;
    },
    /** The last trending list read successfully, however old (for degraded answers). */
    lastKnown(scope: string | null, limit: number) {
      return lastGood.get(`${scope ?? TRENDING_ALL}:${limit}`) ?? null;
    },
  };
}
export type TrendingCache = ReturnType<typeof createTrendingCache>;

/** The categories a user cares about most: short-term affinity, then 30-day shares, then declared. */
export function topCategories(user: UserRealtime, lt: UserLongHorizon, n: number): string[] {
  const out: string[] = [];
  const add = (c: string) => {
    if (out.length < n && !out.includes(c) && !c.startsWith('_')) out.push(c);
  };
  for (const a of user.affinity) if (a.score > 0) add(a.category);
  for (const p of lt.preferences) add(p.category);
  for (const c of user.interests) add(c);
  return out;
}

export async function recallCandidates(
  redis: Redis,
  keys: RedisKeys,
  trending: TrendingCache,
  user: UserRealtime,
  lt: UserLongHorizon,
  excluded: ReadonlySet<string>,
): Promise<Map<string, Candidate>> {
  const seeds = user.positiveItems.slice(0, RECALL.seeds).map((p) => p.itemId);
  const categories = topCategories(user, lt, RECALL.topCategories);
  const freshScopes = [TRENDING_ALL, ...categories];
  const freshRead = async () => {
    const p = redis.pipeline();
    for (const scope of freshScopes) p.zrange(keys.freshItems(scope), 0, RECALL.freshPerScope - 1, 'REV');
    return (await execPipeline(p)) as string[][];
  };
  const [covisits, global, perCategory, fresh] = await Promise.all([
    readCovisitBatch(redis, keys, seeds, RECALL.perSeed),
    trending.get(null, RECALL.trendingGlobal),
    Promise.all(categories.map((c) => trending.get(c, RECALL.trendingPerCategory))),
    freshRead(),
  ]);
  const out = new Map<string, Candidate>();
  const take = (itemId: string, source: CandidateSource) => {
    if (excluded.has(itemId)) return undefined;
    let c = out.get(itemId);
    if (!c) out.set(itemId, (c = { itemId, sources: 0, covisit: 0, covisitSeed: null, trending: 0 }));
    c.sources |= SOURCE[source];
    return c;
  };
  covisits.forEach((list, s) => {
    let best = 0;
    for (const { itemId, score } of list) {
      const c = take(itemId, 'covisit');
      if (!c) continue;
      c.covisit += score;
      if (score > best || c.covisitSeed === null) {
        best = score;
        c.covisitSeed = seeds[s] ?? null;
      }
    }
  });
  for (const { itemId, score } of global) {
    const c = take(itemId, 'trending');
    if (c) c.trending = Math.max(c.trending, score);
  }
  for (const list of perCategory)
    for (const { itemId, score } of list) {
      const c = take(itemId, 'category');
      if (c) c.trending = Math.max(c.trending, score);
    }
  for (const list of fresh) for (const itemId of list) take(itemId, 'fresh');
  return out;
}

/** A caller-supplied candidate list, as recall would describe it (hidden and excluded items removed). */
export function suppliedCandidates(itemIds: readonly string[], excluded: ReadonlySet<string>): Map<string, Candidate> {
  const out = new Map<string, Candidate>();
  for (const itemId of itemIds)
    if (!excluded.has(itemId) && !out.has(itemId))
      out.set(itemId, { itemId, sources: SOURCE.supplied, covisit: 0, covisitSeed: null, trending: 0 });
  return out;
}
