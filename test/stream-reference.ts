/**
 * An independent, brute-force model of the stream worker's windows: walk each user's events in
 * log order, drop the too-late ones and repeated eventIds, and count the rest per bucket.
 */
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { readUserWindowsBatch } from '../src/features/user-features.js';
import type { RedisKeys } from '../src/redis/keys.js';
import { ACTIONS, type Action, type BehaviorEvent } from '../src/streams/events.js';
import { WINDOW_NAMES, WINDOWS, type WindowName } from '../src/features/definitions.js';

export function referenceWindows(events: BehaviorEvent[], categoryOf: (itemId: string) => string, latenessMs: number) {
  const perUser = new Map<string, { wm: number; seen: Set<string>; counted: BehaviorEvent[] }>();
  for (const e of events) {
    const s = perUser.get(e.userId) ?? { wm: 0, seen: new Set<string>(), counted: [] };
    perUser.set(e.userId, s);
    if (e.occurredAt < s.wm - latenessMs) continue;
    if (s.seen.has(e.eventId)) continue;
    s.seen.add(e.eventId);
    s.counted.push(e);
    s.wm = Math.max(s.wm, e.occurredAt);
  }
  const result = new Map<string, { wm: number; windows: Record<WindowName, Record<string, number>> }>();
  for (const [userId, s] of perUser) {
    const windows = {} as Record<WindowName, Record<string, number>>;
    for (const name of WINDOW_NAMES) {
      const { lengthMs, bucketMs } = WINDOWS[name];
      const lastBucket = Math.floor(s.wm / bucketMs) * bucketMs;
      const from = lastBucket + bucketMs - lengthMs;
      const counts: Record<string, number> = {};
      for (const e of s.counted) {
        const b = Math.floor(e.occurredAt / bucketMs) * bucketMs;
        if (b >= from && b <= lastBucket) {
          const key = `${categoryOf(e.itemId)}|${e.action}`;
          counts[key] = (counts[key] ?? 0) + 1;
        }
      }
      windows[name] = counts;
    }
    result.set(userId, { wm: s.wm, windows });
  }
  return result;
}

/** A seeded pseudo-random generator (mulberry32), so failures reproduce. */
export function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random behaviour: per user, event times mostly increasing with jitter (some out of order within
 * the lateness bound, some far too late), and some events repeated with the same eventId.
 */
export function randomEvents(opts: {
  seed: number;
  users: string[];
  perUser: number;
  start: number;
  latenessMs: number;
  items: string[];
}) {
  const rand = rng(opts.seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)] as T;
  const events: BehaviorEvent[] = [];
  const clocks = new Map(opts.users.map((u) => [u, opts.start]));
  let n = 0;
  for (let i = 0; i < opts.users.length * opts.perUser; i++) {
    const userId = pick(opts.users);
    const clock = (clocks.get(userId) ?? opts.start) + Math.floor(rand() * 20_000);
    clocks.set(userId, clock);
    const r = rand();
    const occurredAt =
      r < 0.15
        ? clock - Math.floor(rand() * opts.latenessMs * 0.9) // out of order, within lateness
        : r < 0.2
          ? clock - opts.latenessMs - 1 - Math.floor(rand() * 600_000) // too late
          : clock;
    const previous = events.filter((e) => e.userId === userId);
    if (previous.length && rand() < 0.1) {
      events.push({ ...pick(previous), receivedAt: Date.now() }); // a client retry
      continue;
    }
    events.push({
      v: 1,
      eventId: `${opts.seed}-${n++}`,
      userId,
      itemId: pick(opts.items),
      action: pick(ACTIONS) as Action,
      occurredAt,
      receivedAt: Date.now(),
    });
  }
  return events;
}

/** Asserts that every user's windows in Redis equal the brute-force reference over `events`. */
export async function expectWindowsMatchReference(
  redis: Redis,
  keys: RedisKeys,
  events: BehaviorEvent[],
  categoryOf: (itemId: string) => string,
  latenessMs: number,
) {
  const reference = referenceWindows(events, categoryOf, latenessMs);
  const users = [...reference.keys()];
  const actual = await readUserWindowsBatch(redis, keys, users);
  users.forEach((userId, u) => {
    const ref = reference.get(userId)!;
    const got = actual[u]!;
    expect(got.latestEventAt, userId).toBe(ref.wm);
    for (const w of got.windows) {
      const counts = Object.fromEntries(w.counts.map((c) => [`${c.category}|${c.action}`, c.count]));
      expect(counts, `${userId} ${w.window}`).toEqual(ref.windows[w.window]);
    }
  });
}
