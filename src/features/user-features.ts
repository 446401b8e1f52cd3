import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.js';
import type { Action } from '../streams/events.js';
import { WINDOW_NAMES, windowBuckets, type WindowName } from './definitions.js';

export interface WindowCount {
  category: string;
  action: Action;
  count: number;
}

export interface UserWindows {
  userId: string;
  /** The user's latest applied event time (epoch ms), or null before their first event. */
  latestEventAt: number | null;
  windows: { window: WindowName; endsAt: number; counts: WindowCount[] }[];
}

/**
 * A user's window counts as of `at` (default: their latest event time, so windows do not empty
 * while a user is idle between requests), read in one pipelined round trip.
 */
export async function readUserWindows(
  redis: Redis,
  keys: RedisKeys,
  userId: string,
  at?: number,
): Promise<UserWindows> {
  const wm = await redis.hget(keys.userState(userId), 'wm');
  const latest = wm === null ? null : Number(wm);
  const end = at ?? latest ?? Date.now();
  const plan = WINDOW_NAMES.map((window) => ({ window, buckets: windowBuckets(window, end) }));
  const read = redis.pipeline();
  for (const { window, buckets } of plan) for (const b of buckets) read.hgetall(keys.userBucket(userId, window, b));
  const results = (await read.exec()) ?? [];
  let i = 0;
  const windows = plan.map(({ window, buckets }) => {
    const sums = new Map<string, number>();
    for (let j = 0; j < buckets.length; j++) {
      const [error, hash] = results[i++] ?? [null, {}];
      if (error) throw error;
      for (const [field, value] of Object.entries(hash as Record<string, string>)) {
        sums.set(field, (sums.get(field) ?? 0) + Number(value));
      }
    }
    const counts = [...sums]
      .map(([field, count]) => {
        const [category = '', action = 'VIEW'] = field.split('|');
        return { category, action: action as Action, count };
      })
      .sort((a, b) => a.category.localeCompare(b.category) || a.action.localeCompare(b.action));
    return { window, endsAt: end, counts };
  });
  return { userId, latestEventAt: latest, windows };
}
