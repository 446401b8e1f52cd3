/**
 * Experiment attribution, the pure part: which records of a Kafka batch matter (impressions that
 * name an experiment arm; CLICK, LIKE and HIDE events) and the one script call that applies the
 * batch (`redis/scripts.ts`, `attribute`). Nothing here talks to Kafka or Redis, so it is tested on plain values.
 */
import { abShard, type RedisKeys } from '../core/keys.js';
import type { AttributeArgs, AttributeKeys, ScriptCall } from '../redis/scripts.js';
import { decodeBehavior, DecodeError, isValidId, type Action } from '../core/events.js';
import { isRecord } from '../core/records.js';

/** What attribution counts, per experiment, arm and model version. */
export const ARM_COUNTS = ['feeds', 'impressions', 'clicks', 'likes', 'hides'] as const;
export type ArmCount = (typeof ARM_COUNTS)[number];

/** The behaviour attribution cares about, with its flag on the impression it is credited to. */
const FLAGS: Partial<Record<Action, 'c' | 'l' | 'h'>> = { CLICK: 'c', LIKE: 'l', HIDE: 'h' };

/** A click may carry an event time this much before the impression's serving time (client clocks). */
export const CLOCK_SKEW_MS = 5000;

/**
 * Shown items remembered per user for attribution: the newest this many (by serving time). A user
 * served feeds of arbitrary candidates cannot grow their entry without bound; an item shown this
 * many items ago is, in practice, no longer what a click answers.
 */
export const SHOWN_ITEMS_MAX = 1000;

export interface AttributedImpression {
  offset: string;
  userId: string;
  servedAt: number;
  experimentId: string;
  arm: string;
  modelVersion: string;
  itemIds: string[];
}

export interface AttributedEvent {
  offset: string;
  userId: string;
  itemId: string;
  occurredAt: number;
  eventId: string;
  flag: 'c' | 'l' | 'h';
}

const validPart = (v: unknown): v is string => isValidId(v);

/**
 * An impression that can be attributed, or null: impressions logged before experiments existed,
 * or with fields that do not decode, are passed over (their offset still counts as done).
 */
export function decodeAttributedImpression(value: Buffer | null, offset: string): AttributedImpression | null {
  let obj: unknown;
  try {
    obj = JSON.parse(String(value));
  } catch {
    return null;
  }
  if (!isRecord(obj) || obj.v !== 1 || !Array.isArray(obj.items)) return null;
  const { userId, servedAt, experimentId, arm, modelVersion } = obj;
  if (!isValidId(userId) || typeof servedAt !== 'number' || !Number.isSafeInteger(servedAt)) return null;
  if (!validPart(experimentId) || !validPart(arm) || !validPart(modelVersion)) return null;
  const itemIds = obj.items.flatMap((item) => (isRecord(item) && isValidId(item.itemId) ? [item.itemId] : []));
  return { offset, userId, servedAt, experimentId, arm, modelVersion, itemIds };
}

/** A CLICK, LIKE or HIDE, or null for every other record (other actions, undecodable ones). */
export function decodeAttributedEvent(value: Buffer | null, offset: string): AttributedEvent | null {
  try {
    const e = decodeBehavior(value);
    const flag = FLAGS[e.action];
    return flag
      ? { offset, userId: e.userId, itemId: e.itemId, occurredAt: e.occurredAt, eventId: e.eventId, flag }
      : null;
  } catch (error) {
    if (error instanceof DecodeError) return null;
    throw error;
  }
}

/** The counts field of one (experiment, arm, version, kind). Ids cannot contain `|`. */
export const countField = (experimentId: string, arm: string, version: string, kind: ArmCount) =>
  `${experimentId}|${arm}|${version}|${kind}`;

export type AttributionCall = ScriptCall<AttributeKeys, AttributeArgs>;

export interface AttributionSettings {
  keys: RedisKeys;
  windowMs: number;
}

/** Records grouped by their user's attribution shard (abShard), shards in ascending order. */
function byShard<R extends { userId: string }>(records: readonly R[]): [shard: number, records: R[]][] {
  const shards = new Map<number, R[]>();
  for (const r of records) {
    const shard = abShard(r.userId);
    const list = shards.get(shard);
    if (list) list.push(r);
    else shards.set(shard, [r]);
  }
  return [...shards].sort((a, b) => a[0] - b[0]);
}

/** Each user's pair of keys once; records refer to the pair by its index. */
function userKeys(settings: AttributionSettings, shard: number) {
  const users: { shown: string; pending: string }[] = [];
  const index = new Map<string, number>();
  const keys: AttributeKeys = { offsets: settings.keys.abOffsets(shard), counts: settings.keys.abCounts(shard), users };
  return {
    keys,
    of(userId: string): number {
      let i = index.get(userId);
      if (i === undefined) {
        i = users.length;
        index.set(userId, i);
        users.push({ shown: settings.keys.abShown(userId), pending: settings.keys.abPending(userId) });
      }
      return i;
    },
  };
}

function header(settings: AttributionSettings, progressField: string, lastOffset: string) {
  // Entries outlive the window a little, so a click at its very end still finds its impression.
  const ttlMs = settings.windowMs + 60_000;
  return {
    progressField,
    lastOffset,
    windowMs: settings.windowMs,
    ttlMs,
    skewMs: CLOCK_SKEW_MS,
    shownMax: SHOWN_ITEMS_MAX,
  };
}

/**
 * The script calls for one batch of impressions, one per shard of users it holds; `lastOffset` is
 * the batch's last record, attributable or not. Each shard guards its own progress, so a shard
 * absent from a batch simply stays behind until its next record.
 */
export function planImpressions(
  records: readonly AttributedImpression[],
  progressField: string,
  lastOffset: string,
  settings: AttributionSettings,
): AttributionCall[] {
  return byShard(records).map(([shard, list]) => {
    const users = userKeys(settings, shard);
    const impressions = list.map((r) => ({
      offset: r.offset,
      user: users.of(r.userId),
      servedAt: r.servedAt,
      group: `${r.experimentId}|${r.arm}|${r.modelVersion}`,
      itemIds: r.itemIds,
    }));
    return { keys: users.keys, args: { ...header(settings, progressField, lastOffset), kind: 'i', impressions } };
  });
}

/** The script calls for one batch of behaviour, one per shard of users it holds. */
export function planEvents(
  records: readonly AttributedEvent[],
  progressField: string,
  lastOffset: string,
  settings: AttributionSettings,
): AttributionCall[] {
  return byShard(records).map(([shard, list]) => {
    const users = userKeys(settings, shard);
    const events = list.map((r) => ({
      offset: r.offset,
      user: users.of(r.userId),
      occurredAt: r.occurredAt,
      itemId: r.itemId,
      flag: r.flag,
      eventId: r.eventId,
    }));
    return { keys: users.keys, args: { ...header(settings, progressField, lastOffset), kind: 'b', events } };
  });
}

export interface CountedDelta {
  experimentId: string;
  arm: string;
  version: string;
  kind: ArmCount;
  count: number;
}

/** The counts the script added, as typed deltas, for the Prometheus counters. */
export function parseCounted(added: readonly { field: string; count: number }[]): CountedDelta[] {
  const out: CountedDelta[] = [];
  for (const { field, count } of added) {
    const [experimentId = '', arm = '', version = '', kind = ''] = field.split('|');
    const armCount = ARM_COUNTS.find((c) => c === kind);
    if (armCount) out.push({ experimentId, arm, version, kind: armCount, count });
  }
  return out;
}
