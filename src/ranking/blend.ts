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
  return blendOf(
    parts.model,
    parts.longHorizon !== null,
    parts.longHorizon ?? 0,
    parts.neighbour !== null,
    parts.neighbour ?? 0,
    s,
  );
}

/**
 * `blendScore` with each optional part as a flag and a number, for a loop over hundreds of
 * candidates (a part that is a number or null is stored boxed, one allocation per candidate).
 */
export function blendOf(
  model: number,
  hasLongHorizon: boolean,
  longHorizon: number,
  hasNeighbour: boolean,
  neighbour: number,
  s: BlendSettings,
): number {
  let sum = s.realtime * model;
  let weight = s.realtime;
  if (hasLongHorizon && s.longHorizon > 0) {
    sum += s.longHorizon * longHorizon;
    weight += s.longHorizon;
  }
  if (hasNeighbour && s.neighbour > 0) {
    sum += s.neighbour * neighbour;
    weight += s.neighbour;
  }
  return weight > 0 ? sum / weight : model;
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
 * Candidates in ranking order, taken one at a time: the feed needs its first few dozen, not all
 * of them sorted.
 */
export interface RankedSource {
  /** The best candidate not taken yet, or -1 when none is left. */
  next(): number;
  /** The best `k` fresh candidates not taken yet (by `next`), best first. */
  freshLeft(k: number): number[];
}

/** What `arrangeRanked` needs to know of a candidate, by index. */
export interface RankedFacts {
  category(c: number): string | null;
  fresh(c: number): boolean;
}

/**
 * `arrangeFeed` over candidate indices in ranking order (see there): the top `first` under the
 * per-category caps, then the exploration slots. Reads only as far into `source` as the feed
 * needs. Returns the chosen indices in feed order and those holding exploration slots.
 */
export function arrangeRanked(
  source: RankedSource,
  facts: RankedFacts,
  first: number,
  s: BlendSettings,
  caps: ReadonlyMap<string, number> = new Map(),
): { picks: number[]; exploration: Set<number> } {
  const perCategory = new Map<string, number>();
  const picks: number[] = [];
  const deferred: number[] = [];
  while (picks.length < first) {
    const c = source.next();
    if (c < 0) break;
    const category = facts.category(c);
    // A candidate without a category is a category of its own (caps never name one).
    const n = category === null ? 0 : (perCategory.get(category) ?? 0);
    if (n >= (category === null ? s.maxPerCategory : (caps.get(category) ?? s.maxPerCategory))) {
      deferred.push(c);
      continue;
    }
    if (category !== null) perCategory.set(category, n + 1);
    picks.push(c);
  }
  // Too few categories to fill the feed under the cap: fill with the best of the rest.
  for (const c of deferred) if (picks.length < first) picks.push(c);

  const exploration = new Set<number>();
  const slots = s.explorationShare > 0 ? Math.max(1, Math.floor(first * s.explorationShare)) : 0;
  let freshIn = 0;
  for (const p of picks) if (facts.fresh(p)) freshIn++;
  const wanted = Math.min(slots - freshIn, picks.length);
  if (wanted <= 0) return { picks, exploration };
  // Fresh candidates left out, best first: those deferred and not filled in come before every
  // candidate never taken from the source.
  const chosen = new Set(picks);
  const newcomers: number[] = [];
  for (const c of deferred) if (newcomers.length < wanted && facts.fresh(c) && !chosen.has(c)) newcomers.push(c);
  if (newcomers.length < wanted) newcomers.push(...source.freshLeft(wanted - newcomers.length));
  const add = newcomers.length;
  if (add > 0) {
    // Replace the lowest-ranked non-fresh picks, then move the newcomers to evenly spaced ranks.
    let removed = 0;
    for (let i = picks.length - 1; i >= 0 && removed < add; i--)
      if (!facts.fresh(picks[i]!)) {
        picks.splice(i, 1);
        removed++;
      }
    const step = Math.max(1, Math.floor((picks.length + add) / (add + 1)));
    for (let k = 0; k < removed; k++) {
      const n = newcomers[k]!;
      picks.splice(Math.min(picks.length, step * (k + 1) - 1), 0, n);
      exploration.add(n);
    }
  }
  return { picks, exploration };
}

/**
 * A `RankedSource` over `count` candidates ordered by `compare` (negative: the first goes first),
 * which must be a strict total order: a binary heap, so taking the best k of n costs
 * O(n + k log n) comparisons instead of a full sort.
 */
export function rankedSource(
  count: number,
  compare: (a: number, b: number) => number,
  fresh: (c: number) => boolean,
): RankedSource {
  const heap = new Int32Array(count);
  for (let i = 0; i < count; i++) heap[i] = i;
  let size = count;
  const down = (from: number) => {
    let i = from;
    const c = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      const best = r < size && compare(heap[r]!, heap[l]!) < 0 ? r : l;
      if (compare(heap[best]!, c) >= 0) break;
      heap[i] = heap[best]!;
      i = best;
    }
    heap[i] = c;
  };
  for (let i = (size >> 1) - 1; i >= 0; i--) down(i);
  return {
    next() {
      if (size === 0) return -1;
      const top = heap[0]!;
      heap[0] = heap[--size]!;
      if (size > 0) down(0);
      return top;
    },
    freshLeft(k) {
      const left: number[] = [];
      for (let i = 0; i < size; i++) if (fresh(heap[i]!)) left.push(heap[i]!);
      return left.sort(compare).slice(0, k);
    },
  };
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
  let taken = 0;
  const source: RankedSource = {
    next: () => (taken < scored.length ? taken++ : -1),
    freshLeft(k) {
      const left: number[] = [];
      for (let i = taken; i < scored.length && left.length < k; i++) if (scored[i]!.fresh) left.push(i);
      return left;
    },
  };
  const facts: RankedFacts = { category: (c) => scored[c]!.category, fresh: (c) => scored[c]!.fresh };
  const { picks, exploration } = arrangeRanked(source, facts, first, s, caps);
  return {
    picks: picks.map((c) => scored[c]!),
    exploration: new Set([...exploration].map((c) => scored[c]!.index)),
  };
}
