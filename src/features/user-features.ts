import { runPipeline, type PipelineSource } from '../redis/client.js';
import type { RedisKeys } from '../core/keys.js';
import type { Action } from '../core/events.js';
import {
  ACTION_CODES,
  activeTags,
  AFFINITY_HALF_LIFE_MS,
  decayedValue,
  WINDOW_NAMES,
  windowBuckets,
  windowField,
  type UserTag,
  type WindowName,
} from './definitions.js';

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

export interface TimedItem {
  itemId: string;
  at: number;
}

/** Everything the stream keeps for a user, as the ranking reads it. */
export interface UserRealtime extends UserWindows {
  /** Decayed weighted actions per category at `readAt`, strongest first (negative = disliked). */
  affinity: { category: string; score: number }[];
  /** Items the user acted on, newest first (their "already seen" list). */
  recentItems: TimedItem[];
  /** Items the user engaged with (a click or more), newest first: the seeds of neighbour recall. */
  positiveItems: TimedItem[];
  /** Items the user hid: never recommended to them again. */
  hiddenItems: string[];
  /** Declared interests (cold start). */
  interests: string[];
  /** Tags behaviour patterns set on the user that hold at `readAt`, by tag name. */
  tags: UserTag[];
  readAt: number;
}

export interface UserLongHorizon {
  userId: string;
  /** The batch run that wrote it, or null when no run covered this user. */
  version: string | null;
  computedAt: number | null;
  /** Share of the user's positive weight per category over the horizon, strongest first. */
  preferences: { category: string; share: number }[];
  /** Events per action over the horizon. */
  totals: { action: Action; count: number }[];
}

const pairs = (flat: string[]): TimedItem[] => {
  const out: TimedItem[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ itemId: flat[i] as string, at: Number(flat[i + 1]) });
  return out;
};

/** The tags hash as the pattern matcher writes it (`tag` → JSON); an unreadable entry is skipped. */
function decodeTags(hash: Record<string, string>): UserTag[] {
  const tags: UserTag[] = [];
  for (const [tag, json] of Object.entries(hash)) {
    try {
      const r = JSON.parse(json) as { s: number; u: number; r: string; why: string; ev?: string[] };
      tags.push({ tag, since: r.s, until: r.u, rule: r.r, reason: r.why, eventIds: Array.isArray(r.ev) ? r.ev : [] });
    } catch {
      /* not written by the matcher: not a tag */
    }
  }
  return tags;
}

const ACTION_OF_CODE: ReadonlyMap<string, Action> = new Map(
  Object.entries(ACTION_CODES).map(([action, code]) => [code, action as Action]),
);

/**
 * One window's counts from the user's windows hash (`<window>:<bucket index>|category|<action
 * code>`, or the action's name in fields written before the codes): the fields of the window's
 * buckets ending at `end`, summed into sorted (category, action) counts.
 */
function windowCounts(hash: Record<string, string>, window: WindowName, end: number): WindowCount[] {
  const wanted = new Set(windowBuckets(window, end).map((b) => windowField(window, b)));
  const sums = new Map<string, number>();
  for (const [field, value] of Object.entries(hash)) {
    const cut = field.indexOf('|');
    if (cut < 0 || !wanted.has(field.slice(0, cut))) continue;
    const last = field.lastIndexOf('|');
    const action = field.slice(last + 1);
    const key = `${field.slice(cut + 1, last)}|${ACTION_OF_CODE.get(action) ?? action}`;
    sums.set(key, (sums.get(key) ?? 0) + Number(value));
  }
  return [...sums]
    .map(([field, count]) => {
      const cut = field.lastIndexOf('|');
      return { category: field.slice(0, cut), action: field.slice(cut + 1) as Action, count };
    })
    .sort((a, b) => a.category.localeCompare(b.category) || a.action.localeCompare(b.action));
}

/** The affinity fields of a user's state (`a:<category>`, base `a:_b`) as `category` → sum, `_b` → base. */
function affinityOf(state: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries(state)) if (field.startsWith('a:')) out[field.slice(2)] = value;
  return out;
}

/**
 * Real-time features for several users in one pipelined round trip (their state, windows,
 * affinity, recent, hidden, declared interests and tags), whatever the number of users. Each user's windows end at their latest event time, so they do not empty while the user
 * is idle between requests; affinity decays to `readAt`. Results are in input order.
 */
export async function readUserRealtimeBatch(
  redis: PipelineSource,
  keys: RedisKeys,
  userIds: readonly string[],
  readAt = Date.now(),
): Promise<UserRealtime[]> {
  return (await readUsers(redis, keys, userIds, readAt, false)).map((u) => u.realtime);
}

/**
 * Real-time features and long-horizon preferences of several users in one pipelined round trip
 * (what ranking reads for its user), in input order.
 */
export async function readUserFeaturesBatch(
  redis: PipelineSource,
  keys: RedisKeys,
  userIds: readonly string[],
  readAt = Date.now(),
): Promise<{ realtime: UserRealtime; longHorizon: UserLongHorizon }[]> {
  return (await readUsers(redis, keys, userIds, readAt, true)).map(({ realtime, longHorizon }) => ({
    realtime,
    longHorizon: longHorizonOf(realtime.userId, longHorizon ?? {}),
  }));
}

/** The one pipeline behind both: each user's real-time features and, when asked, their raw long-horizon hash. */
async function readUsers(
  redis: PipelineSource,
  keys: RedisKeys,
  userIds: readonly string[],
  readAt: number,
  withLongHorizon: boolean,
): Promise<{ realtime: UserRealtime; longHorizon: Record<string, string> | undefined }[]> {
  const head = await runPipeline(redis, (first) => {
    for (const userId of userIds) {
      first.hgetall(keys.userState(userId));
      first.zrange(keys.userRecent(userId), 0, -1, 'REV', 'WITHSCORES');
      first.zrange(keys.userPositive(userId), 0, -1, 'REV', 'WITHSCORES');
      first.zrange(keys.userHidden(userId), 0, -1);
      first.hget(keys.userProfile(userId), 'interests');
      first.hgetall(keys.userTags(userId));
      first.hgetall(keys.userWindows(userId));
      if (withLongHorizon) first.hgetall(keys.userLongHorizon(userId));
    }
  });
  const PER_USER = withLongHorizon ? 8 : 7;
  const states = userIds.map((_, u) => head[u * PER_USER] as Record<string, string>);
  const affinities = states.map(affinityOf);
  // Affinity is a part of the state; a user with no event since an earlier version kept it in a
  // hash of its own (state flag `a`) still has it there, read in a second round trip.
  const legacy = userIds.flatMap((userId, u) =>
    states[u]!['a:_b'] === undefined && states[u]!.fk?.includes('a') ? [{ userId, u }] : [],
  );
  if (legacy.length) {
    const hashes = (await runPipeline(redis, (read) => {
      for (const { userId } of legacy) read.hgetall(keys.userAffinity(userId));
    })) as Record<string, string>[];
    legacy.forEach(({ u }, j) => (affinities[u] = hashes[j] ?? {}));
  }
  return userIds.map((userId, u) => {
    const [, recent, positive, hidden, interests, tags, windows, longHorizon] = head.slice(
      u * PER_USER,
      (u + 1) * PER_USER,
    ) as [
      Record<string, string>,
      string[],
      string[],
      string[],
      string | null,
      Record<string, string>,
      Record<string, string>,
      Record<string, string> | undefined,
    ];
    const aff = affinities[u]!;
    const wm = states[u]!.wm;
    const latest = wm === undefined ? null : Number(wm);
    const end = latest ?? readAt;
    const base = Number(aff._b ?? readAt);
    const affinity = Object.entries(aff)
      .filter(([field]) => field !== '_b')
      .map(([category, stored]) => ({
        category,
        score: decayedValue(Number(stored), base, readAt, AFFINITY_HALF_LIFE_MS),
      }))
      .sort((a, b) => b.score - a.score || a.category.localeCompare(b.category));
    const realtime: UserRealtime = {
      userId,
      latestEventAt: latest,
      windows: WINDOW_NAMES.map((window) => ({ window, endsAt: end, counts: windowCounts(windows, window, end) })),
      affinity,
      recentItems: pairs(recent),
      positiveItems: pairs(positive),
      hiddenItems: hidden,
      interests: interests ? interests.split(',').filter(Boolean) : [],
      tags: activeTags({ tags: decodeTags(tags) }, readAt),
      readAt,
    };
    return { realtime, longHorizon };
  });
}

/** One user's real-time features (see readUserRealtimeBatch). */
export async function readUserRealtime(redis: PipelineSource, keys: RedisKeys, userId: string, readAt?: number) {
  const [features] = await readUserRealtimeBatch(redis, keys, [userId], readAt);
  if (!features) throw new Error('no result for the user');
  return features;
}

/** Long-horizon preferences written by the daily batch, for several users in one round trip. */
export async function readUserLongHorizonBatch(
  redis: PipelineSource,
  keys: RedisKeys,
  userIds: readonly string[],
): Promise<UserLongHorizon[]> {
  const hashes = (await runPipeline(redis, (read) => {
    for (const userId of userIds) read.hgetall(keys.userLongHorizon(userId));
  })) as Record<string, string>[];
  return userIds.map((userId, u) => longHorizonOf(userId, hashes[u] ?? {}));
}

/** A user's long-horizon hash as the daily batch writes it (`c:<category>` shares, `n:<action>` totals). */
function longHorizonOf(userId: string, hash: Record<string, string>): UserLongHorizon {
  const preferences: UserLongHorizon['preferences'] = [];
  const totals: UserLongHorizon['totals'] = [];
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith('c:')) preferences.push({ category: field.slice(2), share: Number(value) });
    else if (field.startsWith('n:')) totals.push({ action: field.slice(2) as Action, count: Number(value) });
  }
  preferences.sort((a, b) => b.share - a.share || a.category.localeCompare(b.category));
  totals.sort((a, b) => a.action.localeCompare(b.action));
  return {
    userId,
    version: hash._v ?? null,
    computedAt: hash._at ? Number(hash._at) : null,
    preferences,
    totals,
  };
}
