/**
 * An independent, brute-force model of the stream worker: walk each user's events in log order,
 * drop the too-late ones and repeated eventIds, and derive every feature from the rest: window
 * counts per bucket, decayed affinity, recent / positive / hidden items, co-visitation partners,
 * and the item and trending sums. A user's watermark is their latest event time, each event
 * moving it to at most its receivedAt + WATERMARK_MAX_AHEAD_MS; per (user, item, trending bucket)
 * only the first USER_ITEM_CAP counted events weigh on popularity and trending and find partners;
 * only catalogued items trend.
 */
import type { RedisClient } from '../src/redis/client.js';
import { expect } from 'vitest';
import {
  readCovisitBatch,
  readItemFeaturesBatch,
  readItemWindows,
  readTrending,
} from '../src/features/item-features.js';
import { readUserRealtimeBatch } from '../src/features/user-features.js';
import type { RedisKeys } from '../src/core/keys.js';
import { ACTIONS, type Action, type BehaviorEvent } from '../src/core/events.js';
import {
  AFFINITY_HALF_LIFE_MS,
  bucketStart,
  COVISIT_MAX_PARTNERS,
  COVISIT_MIN_WEIGHT,
  COVISIT_HORIZON_MS,
  DEFAULT_ACTION_WEIGHTS,
  POPULARITY_HALF_LIFE_MS,
  TRENDING,
  TRENDING_ALL,
  UNKNOWN_CATEGORY,
  USER_ITEM_CAP,
  WATERMARK_MAX_AHEAD_MS,
  WINDOW_NAMES,
  WINDOWS,
  type WindowName,
} from '../src/features/definitions.js';
import { randomSource } from '../src/core/random.js';

const W = DEFAULT_ACTION_WEIGHTS;

interface Counted {
  event: BehaviorEvent;
  category: string;
  partners: string[];
  /** Past the user's cap for the item in its trending bucket. */
  capped: boolean;
}

/** Counts in the buckets of a window ending with the bucket that holds `end`. */
function windowCounts(counted: Counted[], name: WindowName, end: number, field: (c: Counted) => string) {
  const { lengthMs, bucketMs } = WINDOWS[name];
  const lastBucket = bucketStart(end, bucketMs);
  const from = lastBucket + bucketMs - lengthMs;
  const counts: Record<string, number> = {};
  for (const c of counted) {
    const b = bucketStart(c.event.occurredAt, bucketMs);
    if (b >= from && b <= lastBucket) counts[field(c)] = (counts[field(c)] ?? 0) + 1;
  }
  return counts;
}

/** Sorted-set order, newest first: score descending, then member descending (as ZRANGE … REV). */
const newestFirst = (m: Map<string, number>) =>
  [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0));

export function referenceFeatures(events: BehaviorEvent[], categoryOf: (itemId: string) => string, latenessMs: number) {
  const perUser = new Map<
    string,
    {
      wm: number;
      seen: Set<string>;
      counted: Counted[];
      pos: Map<string, number>;
      recent: Map<string, number>;
      hidden: Map<string, number>;
      caps: Map<string, number>;
    }
  >();
  for (const e of events) {
    const s = perUser.get(e.userId) ?? {
      wm: 0,
      seen: new Set<string>(),
      counted: [],
      pos: new Map<string, number>(),
      recent: new Map<string, number>(),
      hidden: new Map<string, number>(),
      caps: new Map<string, number>(),
    };
    perUser.set(e.userId, s);
    if (e.occurredAt < s.wm - latenessMs) continue;
    if (s.seen.has(e.eventId)) continue;
    s.seen.add(e.eventId);
    const partners: string[] = [];
    const t = e.occurredAt;
    const capKey = `${e.itemId}|${bucketStart(t, TRENDING.bucketMs)}`;
    const used = (s.caps.get(capKey) ?? 0) + 1;
    s.caps.set(capKey, used);
    const capped = used > USER_ITEM_CAP;
    if (W[e.action] >= COVISIT_MIN_WEIGHT) {
      for (const [item, at] of capped ? [] : newestFirst(s.pos)) {
        if (at > t + COVISIT_HORIZON_MS || at < t - COVISIT_HORIZON_MS || item === e.itemId) continue;
        if (partners.length < COVISIT_MAX_PARTNERS) partners.push(item);
      }
      s.pos.set(e.itemId, Math.max(s.pos.get(e.itemId) ?? -Infinity, t));
    }
    s.recent.set(e.itemId, Math.max(s.recent.get(e.itemId) ?? -Infinity, t));
    if (e.action === 'HIDE') s.hidden.set(e.itemId, Math.max(s.hidden.get(e.itemId) ?? -Infinity, t));
    s.counted.push({ event: e, category: categoryOf(e.itemId), partners, capped });
    s.wm = Math.max(s.wm, Math.min(t, e.receivedAt + WATERMARK_MAX_AHEAD_MS));
  }
  const users = new Map<
    string,
    {
      wm: number;
      windows: Record<WindowName, Record<string, number>>;
      affinity: (at: number) => Record<string, number>;
      recent: string[];
      hidden: string[];
    }
  >();
  const allCounted: Counted[] = [];
  for (const [userId, s] of perUser) {
    allCounted.push(...s.counted);
    const windows = {} as Record<WindowName, Record<string, number>>;
    for (const name of WINDOW_NAMES)
      windows[name] = windowCounts(s.counted, name, s.wm, (c) => `${c.category}|${c.event.action}`);
    users.set(userId, {
      wm: s.wm,
      windows,
      affinity: (at) => {
        const sums: Record<string, number> = {};
        for (const c of s.counted)
          sums[c.category] =
            (sums[c.category] ?? 0) + W[c.event.action] * 2 ** ((c.event.occurredAt - at) / AFFINITY_HALF_LIFE_MS);
        return sums;
      },
      recent: newestFirst(s.recent).map(([item]) => item),
      hidden: newestFirst(s.hidden)
        .map(([item]) => item)
        .sort(),
    });
  }
  const items = new Map<string, { counted: Counted[]; covisit: Map<string, number> }>();
  const itemOf = (id: string) => {
    let it = items.get(id);
    if (!it) items.set(id, (it = { counted: [], covisit: new Map() }));
    return it;
  };
  for (const c of allCounted) {
    itemOf(c.event.itemId).counted.push(c);
    for (const p of c.partners) {
      const a = itemOf(c.event.itemId).covisit;
      a.set(p, (a.get(p) ?? 0) + 1);
      const b = itemOf(p).covisit;
      b.set(c.event.itemId, (b.get(c.event.itemId) ?? 0) + 1);
    }
  }
  const trending = (scope: string, at: number) => {
    const last = bucketStart(at, TRENDING.bucketMs);
    const sums: Record<string, number> = {};
    for (const c of allCounted) {
      if (c.capped || c.category === UNKNOWN_CATEGORY) continue;
      if (scope !== TRENDING_ALL && c.category !== scope) continue;
      const age = (last - bucketStart(c.event.occurredAt, TRENDING.bucketMs)) / TRENDING.bucketMs;
      if (age < 0 || age >= TRENDING.horizonBuckets) continue;
      sums[c.event.itemId] = (sums[c.event.itemId] ?? 0) + W[c.event.action] * 2 ** (-age / TRENDING.halfLifeBuckets);
    }
    return sums;
  };
  const latest = Math.max(0, ...allCounted.map((c) => c.event.occurredAt));
  return { users, items, trending, latest };
}

/**
 * Random behaviour: per user, event times mostly increasing with jitter (some out of order within
 * the lateness bound, some far too late), and some events repeated with the same eventId. Returns
 * the events in log order and each user's clock (the latest on-time event time).
 */
export function randomBehaviour(opts: {
  seed: number;
  users: string[];
  perUser: number;
  start: number;
  latenessMs: number;
  items: readonly string[];
  /** The actions to draw from (repeat one to make it likelier); every action by default. */
  actions?: readonly Action[];
  /** Largest gap between one user's consecutive events. */
  maxStepMs?: number;
  /** How far beyond the lateness bound a too-late event may be. */
  tooLateSpreadMs?: number;
}) {
  const rand = randomSource(opts.seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)] as T;
  const events: BehaviorEvent[] = [];
  const clocks = new Map(opts.users.map((u) => [u, opts.start]));
  const byUser = new Map<string, BehaviorEvent[]>();
  let n = 0;
  for (let i = 0; i < opts.users.length * opts.perUser; i++) {
    const userId = pick(opts.users);
    const clock = (clocks.get(userId) ?? opts.start) + Math.floor(rand() * (opts.maxStepMs ?? 20_000));
    clocks.set(userId, clock);
    const r = rand();
    const occurredAt =
      r < 0.15
        ? clock - Math.floor(rand() * opts.latenessMs * 0.9) // out of order, within lateness
        : r < 0.2
          ? clock - opts.latenessMs - 1 - Math.floor(rand() * (opts.tooLateSpreadMs ?? 600_000)) // too late
          : r < 0.22
            ? clock + Math.floor(rand() * 300_000) // a client clock ahead, as far as the API accepts
            : clock;
    const previous = byUser.get(userId) ?? [];
    byUser.set(userId, previous);
    let e: BehaviorEvent;
    if (previous.length && rand() < 0.1) {
      e = { ...pick(previous), receivedAt: clock }; // a client retry
    } else {
      e = {
        v: 1,
        eventId: `${opts.seed}-${n++}`,
        userId,
        itemId: pick(opts.items),
        action: pick(opts.actions ?? ACTIONS),
        occurredAt,
        receivedAt: clock, // the API accepts it at the user's clock
      };
    }
    previous.push(e);
    events.push(e);
  }
  return { events, clocks };
}

/** randomBehaviour's events over every action. */
export const randomEvents = (opts: Parameters<typeof randomBehaviour>[0]) => randomBehaviour(opts).events;

/** Within a relative tolerance: decayed sums are floating point, summed in another order. */
function expectClose(actual: Record<string, number>, expected: Record<string, number>, label: string) {
  expect(Object.keys(actual).sort(), label).toEqual(Object.keys(expected).sort());
  for (const [k, v] of Object.entries(expected)) {
    const a = actual[k] ?? NaN;
    expect(Math.abs(a - v), `${label} ${k}: ${a} vs ${v}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(v)));
  }
}

/**
 * Asserts that every user's, item's and trending scope's features in Redis equal the brute-force
 * reference over `events`.
 */
export async function expectFeaturesMatchReference(
  redis: RedisClient,
  keys: RedisKeys,
  events: BehaviorEvent[],
  categoryOf: (itemId: string) => string,
  latenessMs: number,
  /** `users`: the users' own features only (their next feed's), not items, co-visitation or trending. */
  only?: 'users',
) {
  const reference = referenceFeatures(events, categoryOf, latenessMs);
  const at = reference.latest;
  const userIds = [...reference.users.keys()];
  const actual = await readUserRealtimeBatch(redis, keys, userIds, at);
  userIds.forEach((userId, u) => {
    const ref = reference.users.get(userId)!;
    const got = actual[u]!;
    expect(got.latestEventAt, userId).toBe(ref.wm);
    for (const w of got.windows) {
      const counts = Object.fromEntries(w.counts.map((c) => [`${c.category}|${c.action}`, c.count]));
      expect(counts, `${userId} ${w.window}`).toEqual(ref.windows[w.window]);
    }
    expectClose(
      Object.fromEntries(got.affinity.map((a) => [a.category, a.score])),
      ref.affinity(at),
      `${userId} affinity`,
    );
    expect(
      got.recentItems.map((r) => r.itemId),
      `${userId} recent`,
    ).toEqual(ref.recent);
    expect([...got.hiddenItems].sort(), `${userId} hidden`).toEqual(ref.hidden);
  });
  if (only === 'users') return { users: userIds.length };

  const itemIds = [...reference.items.keys()];
  const stats = await readItemFeaturesBatch(redis, keys, itemIds, at);
  const covisits = await readCovisitBatch(redis, keys, itemIds, 1000);
  for (const [i, itemId] of itemIds.entries()) {
    const ref = reference.items.get(itemId)!;
    const totals: Record<string, number> = {};
    for (const c of ref.counted) totals[c.event.action] = (totals[c.event.action] ?? 0) + 1;
    const got = stats[i]!;
    expect(Object.fromEntries(Object.entries(got.totals).filter(([, n]) => n > 0)), `${itemId} totals`).toEqual(totals);
    const popularity = ref.counted.reduce(
      (sum, c) =>
        c.capped ? sum : sum + W[c.event.action] * 2 ** ((c.event.occurredAt - at) / POPULARITY_HALF_LIFE_MS),
      0,
    );
    expectClose({ pop: got.popularity }, { pop: popularity }, `${itemId} popularity`);
    expect(Object.fromEntries(covisits[i]!.map((c) => [c.itemId, c.score])), `${itemId} co-visits`).toEqual(
      Object.fromEntries(ref.covisit),
    );
    const windows = await readItemWindows(redis, keys, itemId, at);
    for (const w of windows) {
      const counts = Object.fromEntries(w.counts.map((c) => [c.action, c.count]));
      expect(counts, `${itemId} ${w.window}`).toEqual(windowCounts(ref.counted, w.window, at, (c) => c.event.action));
    }
  }

  const scopes = new Set([
    TRENDING_ALL,
    ...[...reference.items.values()].flatMap((it) => it.counted.map((c) => c.category)),
  ]);
  for (const scope of scopes) {
    if (scope === UNKNOWN_CATEGORY) continue;
    const got = await readTrending(redis, keys, scope === TRENDING_ALL ? null : scope, 1000, at);
    const expected = Object.fromEntries(Object.entries(reference.trending(scope, at)).filter(([, v]) => v > 1e-12));
    expectClose(Object.fromEntries(got.map((g) => [g.itemId, g.score])), expected, `trending ${scope}`);
  }
  // What was compared, so a test can show the comparison was not empty.
  return {
    users: userIds.length,
    items: itemIds.length,
    coVisits: [...reference.items.values()].reduce((n, it) => n + it.covisit.size, 0),
    hidden: [...reference.users.values()].reduce((n, u) => n + u.hidden.length, 0),
    trendingScopes: scopes.size,
  };
}
