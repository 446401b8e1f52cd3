/**
 * One request's feed: recall (or the supplied candidates), features through the request's
 * DataLoaders, ONE model run over the whole candidate matrix, blending, diversity, exploration,
 * reasons, and the impression (with the feature rows the model saw) for training.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/client.js';
import { engagedCount } from '../core/events.js';
import type { ActionWeights } from '../features/definitions.js';
import { zeroTotals, type ItemFeatures } from '../features/item-features.js';
import {
  FEATURE_COUNT,
  interestShares,
  neighbourScoreOf,
  RANKING_FEATURES,
  userContext,
  createRowWriter,
  ITEM_ROW,
  ITEM_ROW_WIDTH,
  NEW_ITEM_AGE_MS,
  NO_CATEGORY,
} from '../features/ranking-features.js';
import type { Loaders } from '../loaders/index.js';
import type { RedisKeys } from '../core/keys.js';
import type { ImpressionEvent } from '../core/events.js';
import { arrangeRanked, blendOf, categoryCaps, rankedSource, type BlendSettings } from './blend.js';
import type { ModelChooser } from './model-arms.js';
import { createReasoner } from './reasons.js';
import {
  candidateAt,
  listOf,
  recallCandidates,
  RECALL,
  suppliedCandidates,
  type CandidateList,
  type CovisitReader,
  type TrendingCache,
} from './recall.js';

export interface RankRequest {
  userId: string;
  first: number;
  /** Re-rank these instead of recalling candidates. */
  candidates?: readonly string[] | null;
  /** Never return these. */
  exclude?: readonly string[] | null;
}

export interface FeedEntry {
  item: ItemFeatures;
  score: number;
  rank: number;
  reasons: string[];
}

export interface Feed {
  userId: string;
  items: FeedEntry[];
  modelVersion: string;
  computedAt: number;
  computeMs: number;
  /** True when personalisation was unavailable and this is a fallback (e.g. last known trending). */
  degraded: boolean;
  /** The experiment and arm whose model scored it; absent on a fallback feed. */
  experimentId?: string;
  arm?: string;
}

/** How one call treats its impression. */
export interface RankCallOptions {
  /**
   * False: do not log the impression, return it instead, for a caller that logs only what it
   * actually shows (the live feed ranks for several subscribers and may deliver nothing).
   */
  logImpression?: boolean;
}

/** A feed with the impression it makes (null for an empty feed, which shows nothing). */
export interface RankedFeed {
  feed: Feed;
  impression: ImpressionEvent | null;
}

/**
 * The impression of the first `count` items of a ranked feed, under an id of its own: every
 * delivery of a feed is one impression, so training never merges two screens into one.
 */
export function sliceImpression(impression: ImpressionEvent, count: number): ImpressionEvent {
  return { ...impression, impressionId: randomUUID(), items: impression.items.slice(0, count) };
}

/** Row `row` of a feature matrix as plain numbers (Array.from on a typed array iterates it value by value). */
function featureRow(matrix: Float32Array, row: number): number[] {
  const out: number[] = [];
  for (let f = row * FEATURE_COUNT, end = f + FEATURE_COUNT; f < end; f++) out.push(matrix[f]!);
  return out;
}

export interface RankerOptions {
  redis: RedisClient;
  keys: RedisKeys;
  /** The model of the user's experiment arm, read once per request. */
  models: ModelChooser;
  weights: ActionWeights;
  blend: BlendSettings;
  trending: TrendingCache;
  /** Co-visitation lists (an instance's short cache); read from Redis per request when absent. */
  covisit?: CovisitReader;
  /** Which categories each pattern tag is about (see tagCategories), for the feature and the reasons. */
  tagCategories?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Called with every computed feed's impression (the training data) unless a call says not to; must not throw. */
  onImpression?: (impression: ImpressionEvent) => void;
}

export function createRanker(options: RankerOptions) {
  const { redis, keys, trending } = options;

  /** A feed for `request`; its impression is logged unless `logImpression: false` (then see `ranked`). */
  async function rank(loaders: Loaders, request: RankRequest, call: RankCallOptions = {}): Promise<Feed> {
    return (await ranked(loaders, request, call)).feed;
  }

  /** The feed and its impression, logged unless `logImpression: false`. */
  async function ranked(
    loaders: Loaders,
    request: RankRequest,
    { logImpression = true }: RankCallOptions = {},
  ): Promise<RankedFeed> {
    const started = performance.now();
    const at = loaders.readAt;
    const { userId, first } = request;
    const { realtime: user, longHorizon: lt } = await loaders.user.load(userId);
    const excluded = new Set<string>([...user.hiddenItems, ...(request.exclude ?? [])]);
    const deps = {
      redis,
      keys,
      trending,
      covisit: options.covisit,
      // Seeds' engagement counts come through the request's item loader (and the item cache).
      engagement: async (ids: readonly string[]) => (await loaders.items(ids)).map((it) => engagedCount(it.totals)),
    };
    let recalled: CandidateList;
    if (request.candidates) {
      recalled = await suppliedCandidates(
        deps,
        user,
        request.candidates,
        excluded,
        trending.get(null, RECALL.trendingGlobal),
      );
    } else {
      for (const r of user.recentItems) excluded.add(r.itemId);
      recalled = listOf(await recallCandidates(deps, user, lt, excluded));
    }
    const { items: loaded, rows, categories: categoryNames } = await loaders.itemRows(recalled.itemIds);
    // Only catalogued items are recommended: ids seen only in behaviour (made up or not yet
    // upserted) reach recall through co-engagement or a caller's list, never a feed. `kept[i]`
    // is where candidate i is in `recalled` (and its item row in `rows`).
    const items: ItemFeatures[] = [];
    const kept: number[] = [];
    for (let i = 0; i < loaded.length; i++) {
      if (rows[i * ITEM_ROW_WIDTH + ITEM_ROW.known] === 0) continue;
      kept.push(i);
      items.push(loaded[i]!);
    }
    const count = items.length;
    const { model, arm, experimentId } = options.models.forUser(userId);
    const feedWith = (entries: FeedEntry[]): Feed => ({
      userId,
      items: entries,
      modelVersion: model.version,
      computedAt: at,
      computeMs: performance.now() - started,
      degraded: false,
      experimentId,
      arm,
    });
    if (count === 0) return { feed: feedWith([]), impression: null };

    // Per candidate, in typed arrays: no object per candidate, and no item object read either:
    // what ranking needs of an item is in its row (ITEM_ROW), and what the steps after the model
    // need (its category, its age) is copied from there.
    const context = userContext(user, options.weights, options.tagCategories);
    const writeRow = createRowWriter(context);
    const engaged = new Float64Array(count);
    const neighbours = new Float64Array(count);
    const categories: (string | null)[] = new Array<string | null>(count);
    const fresh = new Uint8Array(count);
    const matrix = new Float32Array(count * FEATURE_COUNT);
    const signals = { neighbour: 0, trending: 0 };
    let bestNeighbour = 0;
    for (let i = 0; i < count; i++) {
      const r = kept[i]!;
      const row = r * ITEM_ROW_WIDTH;
      engaged[i] = rows[row + ITEM_ROW.engaged]!;
      const code = rows[row + ITEM_ROW.category]!;
      const category = code >= 0 ? categoryNames[code]! : code === NO_CATEGORY ? null : (items[i]!.category ?? null);
      categories[i] = category;
      const createdAt = rows[row + ITEM_ROW.createdAt]!;
      fresh[i] = at - createdAt < NEW_ITEM_AGE_MS ? 1 : 0; // false for NaN (no creation time)
      const neighbour = neighbourScoreOf(recalled.neighbour[r]!, engaged[i]!);
      neighbours[i] = neighbour;
      bestNeighbour = Math.max(bestNeighbour, neighbour);
      signals.neighbour = neighbour;
      signals.trending = recalled.trending[r]!;
      writeRow(matrix, i * FEATURE_COUNT, rows, row, category, signals, at);
    }
    const modelScores = await model.score(matrix, count);

    const shares = new Map(lt.preferences.map((p) => [p.category, p.share]));
    const hasLongHorizon = shares.size > 0;
    let bestModel = 0;
    for (let i = 0; i < count; i++) bestModel = Math.max(bestModel, modelScores[i] ?? 0);
    const scores = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const category = categories[i];
      scores[i] = blendOf(
        bestModel > 0 ? (modelScores[i] ?? 0) / bestModel : 0,
        hasLongHorizon,
        hasLongHorizon && category ? (shares.get(category) ?? 0) : 0,
        bestNeighbour > 0,
        bestNeighbour > 0 ? neighbours[i]! / bestNeighbour : 0,
        options.blend,
      );
    }
    const isFresh = (i: number) => fresh[i] === 1;
    const idOf = (i: number) => recalled.itemIds[kept[i]!]!;
    // compareScored over the arrays: blended score, neighbour evidence, engagement, then id.
    const compare = (a: number, b: number): number => {
      const d = scores[b]! - scores[a]! || neighbours[b]! - neighbours[a]! || engaged[b]! - engaged[a]!;
      if (d) return d;
      const x = idOf(a);
      const y = idOf(b);
      return x < y ? -1 : x > y ? 1 : 0;
    };
    const caps = categoryCaps(interestShares(context, shares), first, options.blend);
    const { picks, exploration } = arrangeRanked(
      rankedSource(count, compare, isFresh),
      { category: (i) => categories[i] ?? null, fresh: isFresh },
      first,
      options.blend,
      caps,
    );
    const reasonsFor = createReasoner(user, lt, at, options.tagCategories);
    const feed = feedWith(
      picks.map((p, r) => ({
        item: items[p]!,
        score: scores[p]!,
        rank: r + 1,
        reasons: reasonsFor(items[p]!, candidateAt(recalled, kept[p]!), exploration.has(p)),
      })),
    );
    const impression: ImpressionEvent = {
      v: 1,
      impressionId: randomUUID(),
      userId,
      servedAt: at,
      modelVersion: model.version,
      experimentId,
      arm,
      featureNames: [...RANKING_FEATURES],
      items: picks.map((p, r) => ({
        itemId: idOf(p),
        rank: r + 1,
        score: scores[p]!,
        modelScore: modelScores[p] ?? 0,
        exploration: exploration.has(p),
        features: featureRow(matrix, p),
      })),
    };
    if (logImpression) options.onImpression?.(impression);
    return { feed, impression };
  }

  /** Logs an impression `ranked` returned unlogged (the same sink as every other feed's). */
  function logImpression(impression: ImpressionEvent): void {
    options.onImpression?.(impression);
  }

  /**
   * The feed when Redis cannot be read: the last trending list this instance saw, clearly
   * flagged, with no personal data; null when there is none.
   */
  function degradedFeed(userId: string, first: number): Feed | null {
    const last = trending.lastKnown(null, RECALL.trendingGlobal);
    if (!last || last.length === 0) return null;
    const now = Date.now();
    return {
      userId,
      items: last.slice(0, first).map((t, r) => ({
        item: {
          itemId: t.itemId,
          known: false,
          category: null,
          tags: [],
          authorId: null,
          createdAt: null,
          popularity: 0,
          totals: zeroTotals(),
          longHorizonScore: 0,
        },
        score: t.score,
        rank: r + 1,
        reasons: ['popular recently (personalisation is unavailable right now)'],
      })),
      modelVersion: 'fallback:trending',
      computedAt: now,
      computeMs: 0,
      degraded: true,
    };
  }

  return { rank, ranked, logImpression, degradedFeed };
}

export type Ranker = ReturnType<typeof createRanker>;
