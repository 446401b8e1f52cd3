/**
 * Experiment attribution, the pure part: which records of a Kafka batch matter (impressions that
 * name an experiment arm; CLICK, LIKE and HIDE events) and the arguments of the one script call
 * that applies the batch. Nothing here talks to Kafka or Redis, so it is tested on plain values.
 */
import type { RedisKeys } from '../core/keys.js';
import { decodeBehavior, DecodeError, isValidId, type Action } from '../core/events.js';
import { isRecord } from '../core/records.js';

/** What attribution counts, per experiment, arm and model version. */
export const ARM_COUNTS = ['feeds', 'impressions', 'clicks', 'likes', 'hides'] as const;
export type ArmCount = (typeof ARM_COUNTS)[number];

/** The behaviour attribution cares about, with its flag on the impression it is credited to. */
const FLAGS: Partial<Record<Action, 'c' | 'l' | 'h'>> = { CLICK: 'c', LIKE: 'l', HIDE: 'h' };

/** A click may carry an event time this much before the impression's serving time (client clocks). */
export const CLOCK_SKEW_MS = 5000;

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

export interface AttributionCall {
  keys: string[];
  argv: string[];
}

export interface AttributionSettings {
  keys: RedisKeys;
  windowMs: number;
}

/** Each user's pair of keys once; records refer to the pair by the index of its first key (1-based). */
function userKeys(settings: AttributionSettings) {
  const keys = [settings.keys.abOffsets(), settings.keys.abCounts()];
  const index = new Map<string, number>();
  return {
    keys,
    of(userId: string): string {
      let i = index.get(userId);
      if (i === undefined) {
        i = keys.length + 1;
        index.set(userId, i);
        keys.push(settings.keys.abShown(userId), settings.keys.abPending(userId));
      }
      return String(i);
    },
  };
}

function header(settings: AttributionSettings, progressField: string, lastOffset: string, kind: 'i' | 'b') {
  // Entries outlive the window a little, so a click at its very end still finds its impression.
  const ttl = settings.windowMs + 60_000;
  return [progressField, lastOffset, String(settings.windowMs), String(ttl), String(CLOCK_SKEW_MS), kind];
}

/** The script call for one batch of impressions; `lastOffset` is the batch's last record, attributable or not. */
export function planImpressions(
  records: readonly AttributedImpression[],
  progressField: string,
  lastOffset: string,
  settings: AttributionSettings,
): AttributionCall {
  const users = userKeys(settings);
  const argv = header(settings, progressField, lastOffset, 'i');
  for (const r of records) {
    argv.push(
      r.offset,
      users.of(r.userId),
      String(r.servedAt),
      `${r.experimentId}|${r.arm}|${r.modelVersion}`,
      String(r.itemIds.length),
      ...r.itemIds,
    );
  }
  return { keys: users.keys, argv };
}

/** The script call for one batch of behaviour. */
export function planEvents(
  records: readonly AttributedEvent[],
  progressField: string,
  lastOffset: string,
  settings: AttributionSettings,
): AttributionCall {
  const users = userKeys(settings);
  const argv = header(settings, progressField, lastOffset, 'b');
  for (const r of records) argv.push(r.offset, users.of(r.userId), String(r.occurredAt), r.itemId, r.flag, r.eventId);
  return { keys: users.keys, argv };
}

export interface CountedDelta {
  experimentId: string;
  arm: string;
  version: string;
  kind: ArmCount;
  count: number;
}

/** The script's reply (`field, n, field, n, …`) as typed deltas, for the Prometheus counters. */
export function parseCounted(reply: readonly (string | number)[]): CountedDelta[] {
  const out: CountedDelta[] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const [experimentId = '', arm = '', version = '', kind = ''] = String(reply[i]).split('|');
    if (!(ARM_COUNTS as readonly string[]).includes(kind)) continue;
    out.push({ experimentId, arm, version, kind: kind as ArmCount, count: Number(reply[i + 1]) });
  }
  return out;
}
