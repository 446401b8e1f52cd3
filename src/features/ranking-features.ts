/**
 * The ranking model's input columns: one definition, used to build the matrix at serving time and
 * logged with every impression, so the training data is exactly what the model saw. A model file
 * carries this list; the server refuses one whose list differs.
 */
import type { Action } from '../core/events.js';
import { engagedCount } from '../core/events.js';
import { DAY, HOUR, NEIGHBOUR_ITEM_EXPONENT, type ActionWeights } from './definitions.js';
import type { PatternRule } from '../patterns/rules.js';
import type { ItemFeatures } from './item-features.js';
import type { UserRealtime } from './user-features.js';

export const RANKING_FEATURES = [
  'user_category_affinity',
  'user_category_affinity_share',
  'user_category_positive_5m',
  'user_category_negative_5m',
  'user_category_positive_1h',
  'user_category_negative_1h',
  'user_declared_interest',
  'user_activity_1h',
  'item_popularity',
  'item_engagement_rate',
  'user_item_expected_engagement',
  'item_negative_rate',
  'item_age_log_hours',
  'item_is_new',
  'item_neighbour_score',
  'item_engagement_log',
  'item_trending',
  'user_tag_category_match',
] as const;
export type RankingFeature = (typeof RANKING_FEATURES)[number];
export const FEATURE_COUNT = RANKING_FEATURES.length;
export const NEW_ITEM_AGE_MS = DAY;

const signedLog = (x: number) => Math.sign(x) * Math.log1p(Math.abs(x));
const NEGATIVE: ReadonlySet<Action> = new Set(['SKIP', 'HIDE']);

/**
 * What one request knows about its user, prepared once so that each candidate's row is a few
 * map look-ups: per-category affinity and window counts, declared interests, activity.
 */
export interface UserContext {
  affinity: Map<string, number>;
  positiveAffinitySum: number;
  windowCounts: Map<string, { pos5m: number; neg5m: number; pos1h: number; neg1h: number }>;
  interests: Set<string>;
  activity1h: number;
  /** Whether the user has any behaviour yet (cold start when false). */
  known: boolean;
  /** Categories the user's active pattern tags are about (a `pet_lover` tag: pets). */
  taggedCategories: Set<string>;
}

/**
 * Which categories each tag is about: the categories its rule's steps name. A tag whose rule
 * names none (e.g. "active commenter") is about no category in particular.
 */
export function tagCategories(rules: readonly PatternRule[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const rule of rules) {
    const set = out.get(rule.tag) ?? new Set<string>();
    for (const step of rule.steps) for (const c of step.categories ?? []) set.add(c);
    out.set(rule.tag, set);
  }
  return out;
}

export function userContext(
  user: UserRealtime,
  weights: ActionWeights,
  tags: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
): UserContext {
  const affinity = new Map(user.affinity.map((a) => [a.category, a.score]));
  const windowCounts: UserContext['windowCounts'] = new Map();
  let activity1h = 0;
  for (const w of user.windows) {
    for (const c of w.counts) {
      const entry = windowCounts.get(c.category) ?? { pos5m: 0, neg5m: 0, pos1h: 0, neg1h: 0 };
      windowCounts.set(c.category, entry);
      const negative = NEGATIVE.has(c.action);
      const positive = !negative && weights[c.action] > 0;
      if (w.window === '5m') {
        if (positive) entry.pos5m += c.count;
        if (negative) entry.neg5m += c.count;
      } else {
        if (positive) entry.pos1h += c.count;
        if (negative) entry.neg1h += c.count;
        activity1h += c.count;
      }
    }
  }
  return {
    affinity,
    positiveAffinitySum: user.affinity.reduce((s, a) => s + Math.max(0, a.score), 0),
    windowCounts,
    interests: new Set(user.interests),
    activity1h,
    known: user.latestEventAt !== null,
    taggedCategories: new Set(user.tags.flatMap((t) => [...(tags.get(t.tag) ?? [])])),
  };
}

/**
 * How much of the user's interest each category holds: the larger of its share of their positive
 * short-term affinity and of their 30-day activity.
 */
export function interestShares(user: UserContext, longHorizon: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map(longHorizon);
  if (user.positiveAffinitySum > 0)
    for (const [category, score] of user.affinity)
      if (score > 0) out.set(category, Math.max(out.get(category) ?? 0, score / user.positiveAffinitySum));
  return out;
}

/** Per-candidate signals that come from recall rather than from the item's own stats. */
export interface CandidateSignals {
  /** Item-to-item evidence, already divided by the item's own engagement (`neighbourScore`). */
  neighbour: number;
  trending: number;
}

/**
 * Item-to-item evidence for a candidate: the seeds' co-engagement sum (recall's `neighbour`)
 * divided by the candidate's own engagements^α, so an item is not recommended merely for being
 * engaged with by everyone.
 */
export const neighbourScore = (recalled: { neighbour: number }, item: ItemFeatures) =>
  neighbourScoreOf(recalled.neighbour, engagedCount(item.totals));

/** `neighbourScore` from recall's evidence and the item's engagement count. */
export const neighbourScoreOf = (neighbour: number, engaged: number) =>
  neighbour / Math.max(1, engaged) ** NEIGHBOUR_ITEM_EXPONENT;

/** The user-side columns of a row: they depend only on the candidate's category. */
interface CategoryColumns {
  affinity: number;
  share: number;
  pos5m: number;
  neg5m: number;
  pos1h: number;
  neg1h: number;
  interest: number;
  activity: number;
  tagged: number;
}

function categoryColumns(user: UserContext, category: string): CategoryColumns {
  const affinity = user.affinity.get(category) ?? 0;
  const counts = user.windowCounts.get(category);
  return {
    affinity,
    share: user.positiveAffinitySum > 0 ? Math.max(0, affinity) / user.positiveAffinitySum : 0,
    pos5m: counts?.pos5m ?? 0,
    neg5m: counts?.neg5m ?? 0,
    pos1h: counts?.pos1h ?? 0,
    neg1h: counts?.neg1h ?? 0,
    interest: user.interests.has(category) ? 1 : 0,
    activity: Math.log1p(user.activity1h),
    tagged: user.taggedCategories.has(category) ? 1 : 0,
  };
}

/**
 * What ranking reads of an item, as ITEM_ROW_WIDTH numbers side by side (`writeItemRow`): whether
 * the catalogue holds it, the counts behind its columns, its popularity, its creation time (NaN
 * when unknown) and its category's code (`categoryCode`). The item cache keeps one such row per
 * item in one typed array and copies a request's rows into one array (ItemCache.readRows), so the
 * loop over hundreds of candidates reads one dense array rather than hundreds of item objects
 * spread over the heap, each with its totals and boxed numbers elsewhere again.
 */
export const ITEM_ROW = {
  known: 0,
  engaged: 1,
  negative: 2,
  views: 3,
  popularity: 4,
  createdAt: 5,
  category: 6,
} as const;
/** Seven numbers, padded to eight: 64 bytes, one cache line per item. */
export const ITEM_ROW_WIDTH = 8;

/**
 * An item row's category code: an index into the item cache's category names (0 and up), the
 * item has no category, or its category has no code (the names are full): read it from the item.
 */
export const NO_CATEGORY = -1;
export const UNCODED_CATEGORY = -2;

/** Writes `item`'s row (see ITEM_ROW) into `out` at `offset`; `categoryCode` is its category's code, if it has one. */
export function writeItemRow(item: ItemFeatures, out: Float64Array, offset: number, categoryCode = UNCODED_CATEGORY) {
  const t = item.totals;
  out[offset + ITEM_ROW.known] = item.known ? 1 : 0;
  out[offset + ITEM_ROW.engaged] = engagedCount(t);
  out[offset + ITEM_ROW.negative] = t.SKIP + t.HIDE;
  out[offset + ITEM_ROW.views] = t.VIEW;
  out[offset + ITEM_ROW.popularity] = item.popularity;
  out[offset + ITEM_ROW.createdAt] = item.createdAt ?? Number.NaN;
  out[offset + ITEM_ROW.category] = item.category === null ? NO_CATEGORY : categoryCode;
  out[offset + ITEM_ROW_WIDTH - 1] = 0; // the padding
}

/** Writes one candidate's row into `out` at `offset`. */
export function writeFeatureRow(
  out: Float32Array,
  offset: number,
  user: UserContext,
  item: ItemFeatures,
  signals: CandidateSignals,
  at: number,
) {
  const row = new Float64Array(ITEM_ROW_WIDTH);
  writeItemRow(item, row, 0);
  writeRow(out, offset, categoryColumns(user, item.category ?? ''), row, 0, signals, at);
}

/**
 * `writeFeatureRow` for the many candidates of one request, from their item rows (ITEM_ROW): the
 * user-side columns are worked out once per category, on its first candidate, so a row costs one
 * look-up for its user side (by the category's code when it has one) instead of one per column.
 */
export function createRowWriter(user: UserContext) {
  const byCategory = new Map<string, CategoryColumns>();
  const byCode: (CategoryColumns | undefined)[] = [];
  const columnsOf = (category: string | null) => {
    const name = category ?? '';
    let columns = byCategory.get(name);
    if (columns === undefined) byCategory.set(name, (columns = categoryColumns(user, name)));
    return columns;
  };
  /**
   * Writes the feature row of the item whose row is at `r` in `rows`, into `out` at `offset`;
   * `category` is the item's category (what its code stands for).
   */
  return (
    out: Float32Array,
    offset: number,
    rows: Float64Array,
    r: number,
    category: string | null,
    signals: CandidateSignals,
    at: number,
  ) => {
    const code = rows[r + ITEM_ROW.category]!;
    let columns: CategoryColumns;
    if (code >= 0) columns = byCode[code] ??= columnsOf(category);
    else columns = columnsOf(category);
    writeRow(out, offset, columns, rows, r, signals, at);
  };
}

function writeRow(
  out: Float32Array,
  offset: number,
  c: CategoryColumns,
  rows: Float64Array,
  r: number,
  signals: CandidateSignals,
  at: number,
) {
  const engaged = rows[r + ITEM_ROW.engaged]!;
  const negative = rows[r + ITEM_ROW.negative]!;
  const exposures = Math.max(rows[r + ITEM_ROW.views]!, engaged + negative);
  const createdAt = rows[r + ITEM_ROW.createdAt]!;
  const age = Number.isNaN(createdAt) ? null : Math.max(0, at - createdAt);
  out[offset] = c.affinity;
  out[offset + 1] = c.share;
  out[offset + 2] = c.pos5m;
  out[offset + 3] = c.neg5m;
  out[offset + 4] = c.pos1h;
  out[offset + 5] = c.neg1h;
  out[offset + 6] = c.interest;
  out[offset + 7] = c.activity;
  out[offset + 8] = signedLog(rows[r + ITEM_ROW.popularity]!);
  const engagementRate = (engaged + 1) / (exposures + 10);
  out[offset + 9] = engagementRate;
  // The user's interest in the item's category times how engaging the item is: the shape of
  // "would this person engage with this item", which a linear model cannot form from the two.
  out[offset + 10] = c.share * engagementRate;
  out[offset + 11] = (negative + 1) / (exposures + 10);
  out[offset + 12] = age === null ? Math.log1p((30 * DAY) / HOUR) : Math.log1p(age / HOUR);
  out[offset + 13] = age !== null && age < NEW_ITEM_AGE_MS ? 1 : 0;
  out[offset + 14] = Math.log1p(signals.neighbour);
  out[offset + 15] = Math.log1p(engaged);
  out[offset + 16] = signedLog(signals.trending);
  out[offset + 17] = c.tagged;
}
