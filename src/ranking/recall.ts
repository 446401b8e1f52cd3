/**
 * Candidate recall when the caller supplies none: item neighbours of the user's engaged items (an
 * incremental item-kNN kept by the stream), trending (global and in the user's top categories)
 * and fresh items for exploration, minus what the user has seen or hidden and what the caller
 * excludes. A fixed number of Redis round trips, whatever the number of candidates. Supplied
 * candidates get the same neighbour scores, so a caller's list is ranked by the same evidence.
 */
import { NEIGHBOUR_ITEM_EXPONENT, TRENDING_ALL } from '../features/definitions.js';
import { readCovisitBatch } from '../features/item-features.js';
import type { UserLongHorizon, UserRealtime } from '../features/user-features.js';
import { execPipeline, type RedisClient, pipelineOf } from '../redis/client.js';
import type { RedisKeys } from '../core/keys.js';

/** Where a candidate came from, as bit flags (a candidate may come from several). */
export const SOURCE = { supplied: 1, neighbour: 2, trending: 4, category: 8, fresh: 16 } as const;
export type CandidateSource = keyof typeof SOURCE;

export interface Candidate {
  itemId: string;
  /** An OR of SOURCE flags. */
  sources: number;
  /**
   * Σ over the user's seeds of seedWeight × co-engagements(seed, item): the neighbour score before
   * it is divided by the item's own engagement (see `neighbourScore`, which needs the item loaded).
   */
  neighbour: number;
  /** The seed that contributed most, for the reason text. */
  neighbourSeed: string | null;
  /** Trending score (global or in its category, whichever is higher). */
  trending: number;
}

/**
 * Recall sizes. Chosen with `npm run eval` on two real rating logs: 30 seeds whose weight halves
 * about every 7 (0.9 per step: recent taste counts more), 100 neighbours for each of the 20
 * newest seeds and 20 for older ones (a third of the read of 50 × 100, and the same metrics),
 * and the best 200 neighbour candidates kept for ranking (keeping more changed no metric).
 */
export const RECALL = {
  seeds: 30,
  perSeed: 100,
  /** Seeds past this many newest read only `perOlderSeed` neighbours. */
  fullSeeds: 20,
  perOlderSeed: 20,
  seedDecay: 0.9,
  /** Seeds from the user's recent items (views included) when they engaged with nothing yet. */
  fallbackSeeds: 10,
  fallbackSeedWeight: 0.5,
  neighbourCandidates: 200,
  trendingGlobal: 100,
  trendingPerCategory: 40,
  topCategories: 3,
  freshPerScope: 20,
} as const;

type TrendingList = { itemId: string; score: number }[];

/** Scopes (category × limit bucket) one instance keeps trending lists for, least recently used dropped. */
export const TRENDING_CACHE_SCOPES = 1000;

/**
 * Reads are made for one of these sizes (the smallest that covers the request) and sliced, so
 * that requests with different `first` share one entry and one Redis read.
 */
const LIMIT_BUCKETS = [20, 50, 100, 200, 500, 1000] as const;
const limitBucket = (limit: number) => LIMIT_BUCKETS.find((b) => b >= limit) ?? limit;

/** A Map that forgets its least recently used key past `max` entries. */
function boundedMap<V>(max: number) {
  const map = new Map<string, V>();
  return {
    get(key: string): V | undefined {
      const value = map.get(key);
      if (value !== undefined) {
        map.delete(key);
        map.set(key, value);
      }
      return value;
    },
    set(key: string, value: V) {
      map.delete(key);
      map.set(key, value);
      for (const oldest of map.keys()) {
        if (map.size <= max) break;
        map.delete(oldest);
      }
    },
    delete: (key: string) => map.delete(key),
    get size() {
      return map.size;
    },
  };
}

/**
 * Trending lists per scope, shared by every request of an instance for `ttlMs`; the last list
 * read stays available for a degraded feed while Redis is unreachable. Scopes come from requests
 * (a category), so both maps are bounded.
 */
export function createTrendingCache(
  read: (scope: string | null, limit: number) => Promise<TrendingList>,
  { ttlMs = 1000, maxScopes = TRENDING_CACHE_SCOPES }: { ttlMs?: number; maxScopes?: number } = {},
) {
  const entries = boundedMap<{ at: number; list: Promise<TrendingList> }>(maxScopes);
  const lastGood = boundedMap<TrendingList>(maxScopes);
  const keyOf = (scope: string | null, limit: number) => `${scope ?? TRENDING_ALL}:${limitBucket(limit)}`;
  return {
    async get(scope: string | null, limit: number): Promise<TrendingList> {
      const key = keyOf(scope, limit);
      const hit = entries.get(key);
      const now = Date.now();
      let list: Promise<TrendingList>;
      if (hit && now - hit.at < ttlMs) list = hit.list;
      else {
        list = read(scope, limitBucket(limit));
        entries.set(key, { at: now, list });
        list.then(
          (l) => lastGood.set(key, l),
          () => entries.delete(key),
        );
      }
      return (await list).slice(0, limit);
    },
    /** The last trending list read successfully, however old (for degraded answers). */
    lastKnown(scope: string | null, limit: number) {
      return lastGood.get(keyOf(scope, limit))?.slice(0, limit) ?? null;
    },
    /** What the cache holds now (for tests and diagnostics). */
    size: () => ({ scopes: entries.size, lastKnown: lastGood.size }),
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

/** The user's recall seeds with their weights, strongest evidence first. */
export function recallSeeds(user: UserRealtime): { itemId: string; weight: number }[] {
  const engaged = user.positiveItems.slice(0, RECALL.seeds);
  if (engaged.length > 0) return engaged.map((p, r) => ({ itemId: p.itemId, weight: RECALL.seedDecay ** r }));
  const hidden = new Set(user.hiddenItems);
  return user.recentItems
    .filter((r) => !hidden.has(r.itemId))
    .slice(0, RECALL.fallbackSeeds)
    .map((p, r) => ({ itemId: p.itemId, weight: RECALL.fallbackSeedWeight * RECALL.seedDecay ** r }));
}

/** Engagements (a click or more) an item has had: the normaliser of its neighbour scores. */
export type EngagementCounts = (itemIds: readonly string[]) => Promise<number[]>;

export interface NeighbourEvidence {
  score: number;
  /** The seed that contributed most. */
  seed: string;
  best: number;
}

/**
 * Folds the seeds' neighbour lists into per-item evidence: each co-engagement counts with its
 * seed's weight divided by the seed's own engagement^(1−α), the recall half of a cosine.
 */
export function foldNeighbours(
  seeds: readonly { itemId: string; weight: number }[],
  lists: readonly (readonly { itemId: string; score: number }[])[],
  seedEngagement: readonly number[],
): Map<string, NeighbourEvidence> {
  const out = new Map<string, NeighbourEvidence>();
  lists.forEach((list, s) => {
    const seed = seeds[s];
    if (!seed) return;
    const w = seed.weight / Math.max(1, seedEngagement[s] ?? 0) ** (1 - NEIGHBOUR_ITEM_EXPONENT);
    for (const { itemId, score } of list) {
      const add = w * score;
      const entry = out.get(itemId);
      if (!entry) out.set(itemId, { score: add, seed: seed.itemId, best: add });
      else {
        entry.score += add;
        if (add > entry.best) {
          entry.best = add;
          entry.seed = seed.itemId;
        }
      }
    }
  });
  return out;
}

/** The neighbour lists of the user's seeds and the seeds' engagement, read in parallel and folded. */
async function neighbourScores(deps: RecallDeps, user: UserRealtime): Promise<Map<string, NeighbourEvidence>> {
  const seeds = recallSeeds(user);
  const ids = seeds.map((s) => s.itemId);
  const limits = ids.map((_, r) => (r < RECALL.fullSeeds ? RECALL.perSeed : RECALL.perOlderSeed));
  const lists = deps.covisit ? deps.covisit(ids, limits) : readCovisitBatch(deps.redis, deps.keys, ids, limits);
  const [read, counts] = await Promise.all([lists, deps.engagement(ids)]);
  return foldNeighbours(seeds, read, counts);
}

/** Co-visitation lists of several items, each cut to its limit (e.g. an instance's CovisitCache). */
export type CovisitReader = (
  itemIds: readonly string[],
  limits: readonly number[],
) => Promise<{ itemId: string; score: number }[][]>;

export interface RecallDeps {
  redis: RedisClient;
  keys: RedisKeys;
  trending: TrendingCache;
  engagement: EngagementCounts;
  /** Where co-visitation lists come from; read from Redis on every call when absent. */
  covisit?: CovisitReader;
}

export async function recallCandidates(
  deps: RecallDeps,
  user: UserRealtime,
  lt: UserLongHorizon,
  excluded: ReadonlySet<string>,
): Promise<Map<string, Candidate>> {
  const { redis, keys, trending } = deps;
  const categories = topCategories(user, lt, RECALL.topCategories);
  const freshScopes = [TRENDING_ALL, ...categories];
  const freshRead = async () => {
    const p = pipelineOf(redis);
    for (const scope of freshScopes) p.zrange(keys.freshItems(scope), 0, RECALL.freshPerScope - 1, 'REV');
    return (await execPipeline(p)) as string[][];
  };
  const [neighbours, global, perCategory, fresh] = await Promise.all([
    neighbourScores(deps, user),
    trending.get(null, RECALL.trendingGlobal),
    Promise.all(categories.map((c) => trending.get(c, RECALL.trendingPerCategory))),
    freshRead(),
  ]);
  const out = new Map<string, Candidate>();
  const take = (itemId: string, source: CandidateSource) => {
    if (excluded.has(itemId)) return undefined;
    let c = out.get(itemId);
    if (!c) out.set(itemId, (c = candidateOf(itemId, neighbours)));
    c.sources |= SOURCE[source];
    return c;
  };
  const strongest = [...neighbours.entries()].filter(([itemId]) => !excluded.has(itemId));
  strongest.sort((a, b) => b[1].score - a[1].score || (a[0] < b[0] ? -1 : 1));
  for (const [itemId] of strongest.slice(0, RECALL.neighbourCandidates)) take(itemId, 'neighbour');
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

/** A candidate with no sources yet, carrying whatever neighbour evidence the user's seeds give it. */
function candidateOf(itemId: string, neighbours: ReadonlyMap<string, NeighbourEvidence>): Candidate {
  const n = neighbours.get(itemId);
  return { itemId, sources: 0, neighbour: n?.score ?? 0, neighbourSeed: n?.seed ?? null, trending: 0 };
}

/**
 * Candidates as parallel arrays, one entry per candidate in recall order: what the ranker reads,
 * without an object per candidate (a caller may send hundreds). `candidateAt` gives the object
 * form of one, for the few that reach a feed. The typed arrays may be longer than `itemIds`.
 */
export interface CandidateList {
  itemIds: string[];
  /** An OR of SOURCE flags per candidate. */
  sources: Uint8Array;
  /** Σ seedWeight × co-engagements, as `Candidate.neighbour`. */
  neighbour: Float64Array;
  neighbourSeed: (string | null)[];
  trending: Float64Array;
}

/** An empty CandidateList with room for `size` candidates. */
const candidateList = (size: number): CandidateList => ({
  itemIds: [],
  sources: new Uint8Array(size),
  neighbour: new Float64Array(size),
  neighbourSeed: [],
  trending: new Float64Array(size),
});

/** The candidates of a recall Map as a CandidateList, in the Map's order. */
export function listOf(candidates: ReadonlyMap<string, Candidate>): CandidateList {
  const out = candidateList(candidates.size);
  for (const c of candidates.values()) {
    const i = out.itemIds.length;
    out.itemIds.push(c.itemId);
    out.sources[i] = c.sources;
    out.neighbour[i] = c.neighbour;
    out.neighbourSeed.push(c.neighbourSeed);
    out.trending[i] = c.trending;
  }
  return out;
}

/** Candidate `i` of a list in object form. */
export const candidateAt = (list: CandidateList, i: number): Candidate => ({
  itemId: list.itemIds[i]!,
  sources: list.sources[i]!,
  neighbour: list.neighbour[i]!,
  neighbourSeed: list.neighbourSeed[i]!,
  trending: list.trending[i]!,
});

/**
 * A caller-supplied candidate list, as recall would describe it (hidden and excluded items
 * removed, each id once, in the caller's order), with the same neighbour scores recall would
 * give each item and the global trending score of those trending now.
 */
export async function suppliedCandidates(
  deps: RecallDeps,
  user: UserRealtime,
  itemIds: readonly string[],
  excluded: ReadonlySet<string>,
  trendingGlobal: Promise<TrendingList>,
): Promise<CandidateList> {
  const [neighbours, global] = await Promise.all([neighbourScores(deps, user), trendingGlobal]);
  const out = candidateList(itemIds.length);
  /** Where each id is in `out`. */
  const at = new Map<string, number>();
  const checkExcluded = excluded.size > 0;
  for (const itemId of itemIds) {
    if ((checkExcluded && excluded.has(itemId)) || at.has(itemId)) continue;
    const i = out.itemIds.length;
    at.set(itemId, i);
    const n = neighbours.size > 0 ? neighbours.get(itemId) : undefined;
    out.itemIds.push(itemId);
    out.sources[i] = SOURCE.supplied;
    out.neighbourSeed.push(n ? n.seed : null);
    if (n) out.neighbour[i] = n.score;
  }
  for (const { itemId, score } of global) {
    const i = at.get(itemId);
    if (i !== undefined) out.trending[i] = score;
  }
  return out;
}
