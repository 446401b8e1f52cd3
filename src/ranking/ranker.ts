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
  neighbourScore,
  RANKING_FEATURES,
  userContext,
  writeFeatureRow,
  NEW_ITEM_AGE_MS,
} from '../features/ranking-features.js';
import type { Loaders } from '../loaders/index.js';
import type { RedisKeys } from '../core/keys.js';
import type { ImpressionEvent } from '../core/events.js';
import { arrangeFeed, blendScore, categoryCaps, compareScored, type BlendSettings, type Scored } from './blend.js';
import type { ModelChooser } from './model-arms.js';
import { createReasoner } from './reasons.js';
import {
  recallCandidates,
  RECALL,
  suppliedCandidates,
  type Candidate,
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
    const [user, lt] = await Promise.all([loaders.userRealtime.load(userId), loaders.userLongHorizon.load(userId)]);
    const excluded = new Set<string>([...user.hiddenItems, ...(request.exclude ?? [])]);
    const deps = {
      redis,
      keys,
      trending,
      covisit: options.covisit,
      // Seeds' engagement counts come through the request's item loader (and the item cache).
      engagement: async (ids: readonly string[]) => (await loaders.items(ids)).map((it) => engagedCount(it.totals)),
    };
    let candidates: Map<string, Candidate>;
    if (request.candidates) {
      const [supplied, global] = await Promise.all([
        suppliedCandidates(deps, user, request.candidates, excluded),
        trending.get(null, RECALL.trendingGlobal),
      ]);
      candidates = supplied;
      for (const { itemId, score } of global) {
        const c = candidates.get(itemId);
        if (c) c.trending = score;
      }
    } else {
      for (const r of user.recentItems) excluded.add(r.itemId);
      candidates = await recallCandidates(deps, user, lt, excluded);
    }
    const recalled = [...candidates.values()];
    const loaded = await loaders.items(recalled.map((c) => c.itemId));
    // Only catalogued items are recommended: ids seen only in behaviour (made up or not yet
    // upserted) reach recall through co-engagement or a caller's list, never a feed.
    const list: Candidate[] = [];
    const items: ItemFeatures[] = [];
    for (let i = 0; i < loaded.length; i++) {
      const it = loaded[i]!;
      if (!it.known) continue;
      list.push(recalled[i]!);
      items.push(it);
    }
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
    if (list.length === 0) return { feed: feedWith([]), impression: null };

    const context = userContext(user, options.weights, options.tagCategories);
    const neighbours = list.map((c, i) => neighbourScore(c, items[i]!));
    const matrix = new Float32Array(list.length * FEATURE_COUNT);
    const signals = { neighbour: 0, trending: 0 };
    list.forEach((c, i) => {
      signals.neighbour = neighbours[i]!;
      signals.trending = c.trending;
      writeFeatureRow(matrix, i * FEATURE_COUNT, context, items[i]!, signals, at);
    });
    const modelScores = await model.score(matrix, list.length);

    const shares = new Map(lt.preferences.map((p) => [p.category, p.share]));
    const hasLongHorizon = shares.size > 0;
    const bestNeighbour = Math.max(0, ...neighbours);
    let bestModel = 0;
    for (let i = 0; i < list.length; i++) bestModel = Math.max(bestModel, modelScores[i] ?? 0);
    const scored: Scored[] = list.map((c, i) => {
      const item = items[i]!;
      const share = hasLongHorizon ? (item.category ? (shares.get(item.category) ?? 0) : 0) : null;
      return {
        index: i,
        category: item.category,
        score: blendScore(
          {
            model: bestModel > 0 ? (modelScores[i] ?? 0) / bestModel : 0,
            longHorizon: share,
            neighbour: bestNeighbour > 0 ? neighbours[i]! / bestNeighbour : null,
          },
          options.blend,
        ),
        fresh: item.createdAt !== null && at - item.createdAt < NEW_ITEM_AGE_MS,
        neighbour: neighbours[i]!,
        engaged: engagedCount(item.totals),
        itemId: c.itemId,
      };
    });
    scored.sort(compareScored);
    const caps = categoryCaps(interestShares(context, shares), first, options.blend);
    const { picks, exploration } = arrangeFeed(scored, first, options.blend, caps);
    const reasonsFor = createReasoner(user, lt, at, options.tagCategories);
    const feed = feedWith(
      picks.map((p, r) => ({
        item: items[p.index]!,
        score: p.score,
        rank: r + 1,
        reasons: reasonsFor(items[p.index]!, list[p.index]!, exploration.has(p.index)),
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
        itemId: list[p.index]!.itemId,
        rank: r + 1,
        score: p.score,
        modelScore: modelScores[p.index] ?? 0,
        exploration: exploration.has(p.index),
        features: Array.from(matrix.subarray(p.index * FEATURE_COUNT, (p.index + 1) * FEATURE_COUNT)),
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
