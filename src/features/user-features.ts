import type { Redis } from 'ioredis';
import { execPipeline } from '../redis/client.js';
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
 * Window counts for several users in two pipelined round trips (their latest event times, then all
 * their buckets), whatever the number of users. Each user's windows end at their latest event
 * time, so they do not empty while the user is idle between requests; results are in input order.
 */
export async function readUserWindowsBatch(
  redis: Redis,
  keys: RedisKeys,
  userIds: readonly string[],
): Promise<UserWindows[]> {
  const marks = redis.pipeline();
  for (const userId of userIds) marks.hget(keys.userState(userId), 'wm');
  const latest = (await execPipeline(marks)).map((value) => (value === null ? null : Number(value)));
  const plans = userIds.map((userId, u) => {
    const end = latest[u] ?? Date.now();
    return { userId, end, windows: WINDOW_NAMES.map((window) => ({ window, buckets: windowBuckets(window, end) })) };
  });
  const read = redis.pipeline();
  for (const plan of plans) {
    for (const { window, buckets } of plan.windows)
      for (const b of buckets) read.hgetall(keys.userBucket(plan.userId, window, b));
  }
  const results = await execPipeline(read);
  let i = 0;
  return plans.map((plan, u) => ({
    userId: plan.userId,
    latestEventAt: latest[u] ?? null,
    windows: plan.windows.map(({ window, buckets }) => {
      const sums = new Map<string, number>();
      for (let j = 0; j < buckets.length; j++) {
        const hash = (results[i++] ?? {}) as Record<string, string>;
        for (const [field, value] of Object.entries(hash)) {
          sums.set(field, (sums.get(field) ?? 0) + Number(value));
        }
      }
      const counts = [...sums]
        .map(([field, count]) => {
          const [category = '', action = 'VIEW'] = field.split('|');
          return { category, action: action as Action, count };
        })
        .sort((a, b) => a.category.localeCompare(b.category) || a.action.localeCompare(b.action));
      return { window, endsAt: plan.end, counts };
    }),
  }));
}

/** One user's window counts (see readUserWindowsBatch). */
export async function readUserWindows(redis: Redis, keys: RedisKeys, userId: string): Promise<UserWindows> {
  const [windows] = await readUserWindowsBatch(redis, keys, [userId]);
  if (!windows) throw new Error('no result for the user');
  return windows;
}
