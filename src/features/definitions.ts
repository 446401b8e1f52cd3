/**
 * Every feature's definition, in one module that the stream worker, serving and training import,
 * so that what is trained on and what is served cannot drift apart.
 */
import { ACTIONS, type Action } from '../core/events.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/**
 * What one action says about interest. A share says more than a like, a like more than a click;
 * SKIP and HIDE ("not interested") count against the item and its category. Every feature that
 * mixes actions (affinity, popularity, trending, long-horizon preferences) uses these weights;
 * `ACTION_WEIGHTS` overrides them.
 */
export const DEFAULT_ACTION_WEIGHTS: Readonly<Record<Action, number>> = {
  VIEW: 0.5,
  CLICK: 1,
  LIKE: 3,
  COMMENT: 4,
  SHARE: 6,
  SKIP: -1,
  HIDE: -6,
};
export type ActionWeights = Readonly<Record<Action, number>>;

/** Parses `LIKE=3,SHARE=6` into a full weight table (unnamed actions keep their defaults). */
export function parseActionWeights(text: string): ActionWeights {
  const weights: Record<Action, number> = { ...DEFAULT_ACTION_WEIGHTS };
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, value] = part.split('=').map((s) => s.trim());
    if (!name || !(ACTIONS as readonly string[]).includes(name))
      throw new Error(`unknown action "${name ?? ''}" (expected one of ${ACTIONS.join(', ')})`);
    const n = Number(value);
    if (value === undefined || value === '' || !Number.isFinite(n) || Math.abs(n) > 1000)
      throw new Error(`weight of ${name} must be a number from -1000 to 1000, got "${value ?? ''}"`);
    weights[name as Action] = n;
  }
  return weights;
}

/**
 * Event-time windows over per-user (category, action) counts and per-item action counts. Each is
 * kept as buckets of `bucketMs`; the window's value is the sum of its last `length / bucketMs`
 * buckets, so the 5-minute window slides by 1 minute, as in the reference design.
 */
export const WINDOWS = {
  '5m': { lengthMs: 5 * MINUTE, bucketMs: MINUTE },
  '1h': { lengthMs: 60 * MINUTE, bucketMs: 5 * MINUTE },
} as const;
export type WindowName = keyof typeof WINDOWS;
export const WINDOW_NAMES = Object.keys(WINDOWS) as WindowName[];

/** Events older than the user's latest event time minus this are too late for the windows. */
export const DEFAULT_ALLOWED_LATENESS_MS = 2 * MINUTE;

/** The category used for events on items the catalogue does not know yet. */
export const UNKNOWN_CATEGORY = '_unknown';

/**
 * How far past the moment the API accepted it an event can move its user's watermark. The API
 * accepts event times up to EVENT_MAX_FUTURE_MS (5 minutes) ahead, for client clocks; without this
 * bound one such event would make the user's next, correctly timed events late for minutes.
 */
export const WATERMARK_MAX_AHEAD_MS = 30_000;

/**
 * Repeats saturate: per (user, item, trending bucket), only the user's first this many counted
 * events weigh on the item's popularity and trending and add co-engagements; the rest still count
 * in the user's own features and the item's totals and windows. One user liking an item 200 times
 * in 5 minutes moves it as much as three users liking it once.
 */
export const USER_ITEM_CAP = 3;

/**
 * The TTL of the stats and co-visitation keys of an item the catalogue does not hold: made-up ids
 * leave nothing long-lived (an item catalogued later gets the full TTLs on its next event).
 */
export const UNCATALOGUED_TTL_SEC = 3600;

/** Short-term interest: a user's weighted actions per category, halving every two hours. */
export const AFFINITY_HALF_LIFE_MS = 2 * HOUR;
/** An item's weighted actions, halving every six hours: its decayed popularity. */
export const POPULARITY_HALF_LIFE_MS = 6 * HOUR;
/**
 * Items a user touched (any action), newest first: "already seen", never recommended again while
 * kept. 1,000 so that heavy users are not shown again what they rated long ago (with 200, 3 % of
 * the feed entries in the MovieLens evaluation were items the user had already rated); a user
 * with fewer events costs only what they touched.
 */
export const RECENT_ITEMS_MAX = 1000;
/**
 * Engaged items kept per user (actions weighing at least `COVISIT_MIN_WEIGHT`: a click or more,
 * not a mere view), newest first: the seeds of neighbour recall.
 */
export const POSITIVE_ITEMS_MAX = 50;
/** "Not interested" items remembered per user; they are never recommended again while kept. */
export const HIDDEN_ITEMS_MAX = 1000;
export const HIDDEN_TTL_SEC = 180 * 24 * 3600;
/**
 * Item neighbours (co-engagement, an incremental item-kNN): when a user engages with an item (an
 * action weighing at least `COVISIT_MIN_WEIGHT`), each of their `COVISIT_MAX_PARTNERS` newest
 * other engaged items within `COVISIT_HORIZON_MS` and the new item count one more co-engagement
 * for each other. Counted across all users, and not only within a session, this is the
 * co-occurrence behind item-to-item cosine similarity (normalised at read time by how often each
 * item is engaged with). Each item keeps its `COVISIT_MAX_PER_ITEM` strongest partners (trimmed
 * every few additions). On real rating logs, 20 partners beat 5 and 10 (docs/relevance.md).
 */
export const COVISIT_HORIZON_MS = 30 * DAY;
export const COVISIT_MAX_PARTNERS = 20;
export const COVISIT_MIN_WEIGHT = 1;
export const COVISIT_MAX_PER_ITEM = 200;
/**
 * How much an item's own engagement count discounts a co-engagement when neighbours are scored:
 * the seed side is divided by n_seed^(1−α) and the candidate by n_item^α (α = 0.5 is plain
 * cosine). Slightly below 0.5 favours well-liked neighbours a little; 0.4 was best on both
 * evaluation logs.
 */
export const NEIGHBOUR_ITEM_EXPONENT = 0.4;
export const COVISIT_TTL_SEC = 14 * 24 * 3600;
/**
 * Trending: weighted actions per item in 5-minute buckets, global and per category. The score
 * at read time sums the last hour of buckets, each halved per `TRENDING_HALF_LIFE_BUCKETS`
 * buckets of age, so velocity now counts more than an hour ago.
 */
export const TRENDING = { bucketMs: 5 * MINUTE, horizonBuckets: 12, halfLifeBuckets: 3 } as const;
export const TRENDING_ALL = '_all';
/**
 * Long-lived keys (user state, recent items, affinity, item stats, co-visitation) get their TTL
 * when they appear and have it renewed at most this often: activity keeps them alive without a
 * TTL write per event.
 */
export const TTL_REFRESH_MS = HOUR;
/** Newest catalogue items kept per scope, for the exploration slot of recall. */
export const FRESH_ITEMS_MAX = 500;
/** The daily batch's horizon for long-horizon preferences and totals. */
export const LONG_HORIZON_MS = 30 * DAY;

export const bucketStart = (time: number, bucketMs: number) => Math.floor(time / bucketMs) * bucketMs;

/** The bucket starts that make up a window ending with the bucket that holds `at`. */
export function windowBuckets(window: WindowName, at: number): number[] {
  const { lengthMs, bucketMs } = WINDOWS[window];
  const last = bucketStart(at, bucketMs);
  const n = lengthMs / bucketMs;
  return Array.from({ length: n }, (_, i) => last - (n - 1 - i) * bucketMs);
}

/**
 * The prefix of a user's window field (keys.userWindows) for the bucket starting at `bucket`: the
 * window, then the bucket index (start / bucket length) in base 36.
 */
export const windowField = (window: WindowName, bucket: number) =>
  `${window}:${(bucket / WINDOWS[window].bucketMs).toString(36)}`;

/**
 * How a user's window fields (`<prefix>|category|<code>`) and pattern buffer members name the
 * action: one character each, and fixed, since stored fields and members are read with it. (Those
 * written before the codes name the action.)
 */
export const ACTION_CODES: Readonly<Record<Action, string>> = {
  VIEW: 'v',
  CLICK: 'c',
  LIKE: 'l',
  COMMENT: 'm',
  SHARE: 's',
  SKIP: 'k',
  HIDE: 'h',
};

/** The trending buckets that count at `at`, newest first, with their decay weights. */
export function trendingBuckets(at: number): { bucket: number; weight: number }[] {
  const last = bucketStart(at, TRENDING.bucketMs);
  return Array.from({ length: TRENDING.horizonBuckets }, (_, age) => ({
    bucket: last - age * TRENDING.bucketMs,
    weight: 2 ** (-age / TRENDING.halfLifeBuckets),
  }));
}

/** Field name of a (category, action) counter inside a bucket hash. */
export const countField = (category: string, action: Action) => `${category}|${action}`;

/**
 * Decayed sums are stored as Σ w·2^((t − base)/halfLife) beside their `base` (the `_b` field),
 * which makes adding an out-of-order event exact and order-free; this is the value at `at`.
 */
export const decayedValue = (stored: number, base: number, at: number, halfLifeMs: number) =>
  stored * 2 ** ((base - at) / halfLifeMs);

/**
 * Behaviour patterns (src/patterns, rules in `patterns.json`): the events a user's pattern state
 * holds at most (beyond the time bound, the oldest go first), and the matches remembered per user
 * for explanations.
 */
export const PATTERN_BUFFER_MAX = 128;
export const PATTERN_MATCH_LOG_MAX = 100;

/** A tag a behaviour pattern set on a user: a feature of its own, active from `since` to `until`. */
export interface UserTag {
  tag: string;
  /** Event time the current activation started (overlapping matches extend one activation). */
  since: number;
  /** Event time of the latest match's last event plus the rule's tag TTL. */
  until: number;
  /** The rule whose match set `until`. */
  rule: string;
  /** That rule's reason, filled in from the match ("3 pet videos in a row"). */
  reason: string;
  /** The events of that match, in event-time order. */
  eventIds: string[];
}

/** The user's tags that hold at `at` (epoch ms), by tag name: what ranking and training read. */
export function activeTags(user: { tags: readonly UserTag[] }, at: number): UserTag[] {
  return user.tags.filter((t) => t.until > at).sort((a, b) => a.tag.localeCompare(b.tag));
}

/** The explanation a feed shows for a tag: `tagged pet lover: 3 pet videos in a row`. */
export const tagReasonText = (tag: Pick<UserTag, 'tag' | 'reason'>) =>
  `tagged ${tag.tag.replaceAll('_', ' ')}: ${tag.reason}`;
