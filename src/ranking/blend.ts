/**
 * From model scores to a feed: blend the real-time model with long-horizon preferences and the
 * item-to-item evidence of what the user engaged with (each relative to the request's best
 * candidate, so no part's scale can swamp the others), keep the
 * feed diverse without throwing away what the user evidently likes (a category may fill at most
 * K slots, or its share of the user's interest if that is more), and give really new items an
 * exploration slot. Pure functions over arrays.
 */
export interface BlendSettings {
  /** Weight of the model's real-time score (the reference design's 0.6). */
  realtime: number;
  /** Weight of the user's 30-day preference for the item's category (the reference design's 0.4). */
  longHorizon: number;
  /** Weight of the item-to-item evidence from the user's engaged items (collaborative part). */
  neighbour: number;
  /**
   * At most this many items of one category in the feed, unless the user's interest share in the
   * category is larger (see `categoryCaps`).
   */
  maxPerCategory: number;
  /** Share of the feed reserved for fresh items (created within a day), 0 to turn off. */
  explorationShare: number;
}

export interface Scored {
  index: number;
  category: string | null;
  score: number;
  fresh: boolean;
  /** Item-to-item evidence, then engagement: the tie-breaks when blended scores are equal. */
  neighbour: number;
  engaged: number;
  itemId: string;
}

/** One candidate's parts, each in [0, 1]; null where the user has no data for that part. */
export interface BlendParts {
  /** The model's score relative to the best candidate's in this request. */
  model: number;
  /** The user's 30-day share of the item's category; null without long-horizon data. */
  longHorizon: number | null;
  /** The item's neighbour evidence relative to the strongest candidate's; null without any. */
  neighbour: number | null;
}

/**
 * The weighted mean of the parts that exist: a part the user has no data for (no daily batch
 * yet, nothing engaged with yet) drops out and the others keep their relative weights, instead of
 * every score shrinking by that part's weight.
 */
export function blendScore(parts: BlendParts, s: BlendSettings): number {
  let sum = s.realtime * parts.model;
  let weight = s.realtime;
  if (parts.longHorizon !== null && s.longHorizon > 0) {
    sum += s.longHorizon * parts.longHorizon;
    weight += s.longHorizon;
  }
  if (parts.neighbour !== null && s.neighbour > 0) {
    sum += s.neighbour * parts.neighbour;
    weight += s.neighbour;
  }
  return weight > 0 ? sum / weight : parts.model;
}

/**
 * Best first: blended score, then neighbour evidence, then engagement, then id. A model that cannot
 * separate two candidates (equal or saturated scores) leaves the decision to the evidence.
 */
export function compareScored(a: Scored, b: Scored): number {
  return (
    b.score - a.score ||
    b.neighbour - a.neighbour ||
    b.engaged - a.engaged ||
    (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0)
  );
}

/** No category's cap is raised past this share of the feed: a feed is never one category alone. */
export const MAX_CATEGORY_SHARE = 0.5;

/**
 * Per-category caps for a feed of `first`: `maxPerCategory`, raised for a category to its share
 * of the user's interest (rounded up, at most `MAX_CATEGORY_SHARE` of the feed), so that a user
 * who mostly watches dramas still gets mostly dramas while the rest of the feed stays varied.
 */
export function categoryCaps(
  shares: ReadonlyMap<string, number>,
  first: number,
  s: BlendSettings,
): Map<string, number> {
  const caps = new Map<string, number>();
  for (const [category, share] of shares) {
    const cap = Math.ceil(first * Math.min(MAX_CATEGORY_SHARE, Math.max(0, share)));
    if (cap > s.maxPerCategory) caps.set(category, cap);
  }
  return caps;
}

/**
 * The top `first` of `scored` (sorted by score, highest first), with at most `maxPerCategory` per
 * category while other items remain, and `floor(first × explorationShare)` (at least one when the
 * share is positive) fresh items placed at evenly spaced ranks if the ranking left them out.
 * Returns the chosen entries in feed order and which of them hold exploration slots.
 */
export function arrangeFeed(
  scored: Scored[],
  first: number,
  s: BlendSettings,
  caps: ReadonlyMap<string, number> = new Map(),
): { picks: Scored[]; exploration: Set<number> } {
  const perCategory = new Map<string, number>();
  const picks: Scored[] = [];
  const deferred: Scored[] = [];
  for (const c of scored) {
    if (picks.length >= first) break;
    const key = c.category ?? `#${c.index}`;
    const n = perCategory.get(key) ?? 0;
    if (n >= (caps.get(key) ?? s.maxPerCategory)) {
      deferred.push(c);
      continue;
    }
    perCategory.set(key, n + 1);
    picks.push(c);
  }
  // Too few categories to fill the feed under the cap: fill with the best of the rest.
  for (const c of deferred) if (picks.length < first) picks.push(c);

  const exploration = new Set<number>();
  const slots = s.explorationShare > 0 ? Math.max(1, Math.floor(first * s.explorationShare)) : 0;
  const chosen = new Set(picks.map((p) => p.index));
  const freshIn = picks.filter((p) => p.fresh).length;
  const freshOut = scored.filter((c) => c.fresh && !chosen.has(c.index));
  const add = Math.min(slots - freshIn, freshOut.length, picks.length);
  if (add > 0 && picks.length > 0) {
    // Replace the lowest-ranked non-fresh picks, then move the newcomers to evenly spaced ranks.
    const newcomers = freshOut.slice(0, add);
    let removed = 0;
    for (let i = picks.length - 1; i >= 0 && removed < add; i--)
      if (!picks[i]!.fresh) {
        picks.splice(i, 1);
        removed++;
      }
    const step = Math.max(1, Math.floor((picks.length + newcomers.length) / (newcomers.length + 1)));
    newcomers.slice(0, removed).forEach((n, k) => {
      picks.splice(Math.min(picks.length, step * (k + 1) - 1), 0, n);
      exploration.add(n.index);
    });
  }
  return { picks, exploration };
}
