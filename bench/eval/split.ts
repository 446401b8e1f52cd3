/**
 * Per-user temporal split: models are fitted on each user's past and scored on what that user did
 * next, which is what a live feed faces (a random split would let models peek at the future).
 */
import { compareIds, compareRatings, type Rating } from './dataset.js';

export interface SplitOptions {
  /** Share of each eligible user's ratings held out, e.g. 0.2. */
  holdout: number;
  /** A rating >= this is a positive, e.g. 4. */
  positiveThreshold: number;
  /** Users with fewer ratings are train-only, e.g. 5. */
  minRatings: number;
}

export interface Split {
  /** Every rating not held out, globally time-ordered (time, user id, item id). */
  train: Rating[];
  /**
   * Per user: held-out positive item ids. Items the user also has in train are left out, since no
   * recommender may show them again. Users with none are absent.
   */
  test: Map<string, Set<string>>;
  /** Per user: every train item (any rating); never recommend these. */
  seen: Map<string, Set<string>>;
  /** Per user: train positives in time order (users with none are absent). */
  trainPositives: Map<string, Rating[]>;
  /** Per user: time of their last train rating. */
  cutoff: Map<string, number>;
}

/**
 * Per-user time-ordered split: each user's last `holdout` share of ratings (by time, ties by item
 * id, at least 1 and always leaving at least 1 in train) is held out.
 */
export function splitByUser(ratings: readonly Rating[], options: SplitOptions): Split {
  const { holdout, positiveThreshold, minRatings } = options;
  if (!(holdout >= 0 && holdout < 1)) throw new Error(`holdout must be in [0, 1), got ${holdout}`);

  const byUser = new Map<string, number[]>();
  ratings.forEach((r, i) => {
    const list = byUser.get(r.userId);
    if (list) list.push(i);
    else byUser.set(r.userId, [i]);
  });

  const heldOut = new Uint8Array(ratings.length);
  const test = new Map<string, Set<string>>();
  const seen = new Map<string, Set<string>>();
  const trainPositives = new Map<string, Rating[]>();
  const cutoff = new Map<string, number>();
  const at = (i: number) => ratings[i] as Rating;

  for (const [userId, indices] of byUser) {
    // Stable sort: identical (time, item) duplicates keep their input order.
    indices.sort((a, b) => at(a).at - at(b).at || compareIds(at(a).itemId, at(b).itemId));
    const n = indices.length;
    const held = n < minRatings || holdout === 0 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * holdout)));
    const trainCount = n - held;

    const seenItems = new Set<string>();
    const positives: Rating[] = [];
    for (let p = 0; p < trainCount; p++) {
      const r = at(indices[p] as number);
      seenItems.add(r.itemId);
      if (r.rating >= positiveThreshold) positives.push(r);
    }
    seen.set(userId, seenItems);
    cutoff.set(userId, at(indices[trainCount - 1] as number).at);
    if (positives.length > 0) trainPositives.set(userId, positives);

    const testItems = new Set<string>();
    for (let p = trainCount; p < n; p++) {
      const i = indices[p] as number;
      heldOut[i] = 1;
      const r = at(i);
      if (r.rating >= positiveThreshold && !seenItems.has(r.itemId)) testItems.add(r.itemId);
    }
    if (testItems.size > 0) test.set(userId, testItems);
  }

  const train = ratings.filter((_, i) => heldOut[i] === 0);
  if (!isSorted(train)) train.sort(compareRatings);
  return { train, test, seen, trainPositives, cutoff };
}

function isSorted(ratings: readonly Rating[]): boolean {
  for (let i = 1; i < ratings.length; i++) {
    if (compareRatings(ratings[i - 1] as Rating, ratings[i] as Rating) > 0) return false;
  }
  return true;
}

/**
 * Adds cold-start twins: for up to `count` test users (every k-th, so the choice is spread and
 * repeatable), a new user `cold.<id>` whose whole history is the real user's first `events`
 * train positives, rated just after the end of the log, and whose held-out positives are the
 * real user's. Every recommender then answers for someone it knows almost nothing about.
 * Returns the extended split and the twins' ids.
 */
export function withColdStartTwins(split: Split, count: number, events: number): { split: Split; cold: string[] } {
  const eligible = [...split.test.keys()].filter((u) => (split.trainPositives.get(u)?.length ?? 0) >= events).sort();
  const step = Math.max(1, Math.floor(eligible.length / Math.max(1, count)));
  const chosen = eligible.filter((_, i) => i % step === 0).slice(0, count);
  const end = (split.train.at(-1)?.at ?? 0) + 1000;
  const train = [...split.train];
  const test = new Map(split.test);
  const seen = new Map(split.seen);
  const trainPositives = new Map(split.trainPositives);
  const cutoff = new Map(split.cutoff);
  const cold: string[] = [];
  for (const u of chosen) {
    const twin = `cold.${u}`;
    const ratings = (split.trainPositives.get(u) ?? []).slice(0, events).map((r, i) => ({
      ...r,
      userId: twin,
      at: end + i * 1000,
    }));
    train.push(...ratings);
    trainPositives.set(twin, ratings);
    seen.set(twin, new Set(ratings.map((r) => r.itemId)));
    const held = new Set([...(split.test.get(u) ?? [])].filter((i) => !ratings.some((r) => r.itemId === i)));
    if (held.size === 0) continue;
    test.set(twin, held);
    cutoff.set(twin, ratings.at(-1)?.at ?? end);
    cold.push(twin);
  }
  return { split: { train, test, seen, trainPositives, cutoff }, cold };
}
