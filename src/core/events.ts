/**
 * The event contracts on Kafka, version 1: one encoder and one strict decoder per record type. The
 * API encodes; the stream worker decodes, and sends what does not decode to the dead-letter topic.
 */

import { randomBytes } from 'node:crypto';
import { isRecord } from './records.js';

export const EVENT_SCHEMA_VERSION = 1;

export const ACTIONS = ['VIEW', 'CLICK', 'LIKE', 'COMMENT', 'SHARE', 'SKIP', 'HIDE'] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * Engagement: the actions that make an impression a positive training label and that count as an
 * item's engagements (the normaliser of its neighbour scores). A view is exposure, not engagement.
 */
export const ENGAGED_ACTIONS: readonly Action[] = ['CLICK', 'LIKE', 'COMMENT', 'SHARE'];
const ENGAGED: ReadonlySet<string> = new Set(ENGAGED_ACTIONS);
export const isEngaged = (action: Action): boolean => ENGAGED.has(action);

/**
 * How often an item was engaged with, from its per-action totals: the ENGAGED_ACTIONS summed
 * (written out, as ranking calls it several times per candidate).
 */
export const engagedCount = (totals: Readonly<Record<Action, number>>) =>
  totals.CLICK + totals.LIKE + totals.COMMENT + totals.SHARE;

/** Ids of users, items, events and categories: 1–128 of `[A-Za-z0-9_.:-]`. */
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
export const isValidId = (value: unknown): value is string => typeof value === 'string' && ID_PATTERN.test(value);

/**
 * The eventId the API gives an interaction its client sent without one: 12 random bytes in
 * base64url, 16 characters (a valid id). 96 random bits make a repeat among a trillion ids less than a
 * one-in-100,000 chance, and a repeat only matters within one user's dedupe window; a UUID's 36
 * characters, held per event in the user's dedupe set, pattern buffer and match log, more than
 * doubled the bytes per active user (the buffer and the log outgrew Redis' compact encoding).
 */
export const generateEventId = (): string => randomBytes(12).toString('base64url');

/** One user action on one item. Keyed by userId on the behaviour topic. */
export interface BehaviorEvent {
  v: 1;
  /** Client-supplied or generated; the idempotency key the stream worker dedupes on. */
  eventId: string;
  userId: string;
  itemId: string;
  action: Action;
  /** Event time, epoch ms: when the user did it. */
  occurredAt: number;
  /** When the API accepted it, epoch ms. */
  receivedAt: number;
}

/** An item's catalogue entry. Keyed by itemId on the compacted catalogue topic. */
export interface ItemEvent {
  v: 1;
  itemId: string;
  category: string | null;
  tags: string[];
  authorId: string | null;
  /** When it was published, epoch ms; null when the publisher did not say (its age is unknown). */
  createdAt: number | null;
  updatedAt: number;
}

/** A user's declared interests (categories), for cold start. Keyed by userId, compacted. */
export interface ProfileEvent {
  v: 1;
  userId: string;
  interests: string[];
  updatedAt: number;
}

export class DecodeError extends Error {
  override name = 'DecodeError';
}

export const encodeEvent = (event: BehaviorEvent | ItemEvent | ProfileEvent | ImpressionEvent): Buffer =>
  Buffer.from(JSON.stringify(event));

function parseObject(raw: Buffer | string | null): Record<string, unknown> {
  if (raw === null) throw new DecodeError('empty record value');
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    throw new DecodeError('value is not JSON');
  }
  if (!isRecord(value)) throw new DecodeError('value is not a JSON object');
  const obj = value;
  if (obj.v !== EVENT_SCHEMA_VERSION) throw new DecodeError(`unsupported schema version ${JSON.stringify(obj.v)}`);
  return obj;
}

const id = (obj: Record<string, unknown>, field: string): string => {
  const value = obj[field];
  if (!isValidId(value)) throw new DecodeError(`${field} is not a valid id`);
  return value;
};
const time = (obj: Record<string, unknown>, field: string): number => {
  const value = obj[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new DecodeError(`${field} is not an epoch-ms integer`);
  return value;
};
const optionalId = (obj: Record<string, unknown>, field: string): string | null =>
  obj[field] === null || obj[field] === undefined ? null : id(obj, field);
const idList = (obj: Record<string, unknown>, field: string, max: number): string[] => {
  const value = obj[field];
  if (!Array.isArray(value) || value.length > max || !value.every(isValidId))
    throw new DecodeError(`${field} is not a list of ids`);
  return value;
};

export function decodeBehavior(raw: Buffer | string | null): BehaviorEvent {
  const obj = parseObject(raw);
  const action = obj.action;
  if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action))
    throw new DecodeError('unknown action');
  return {
    v: 1,
    eventId: id(obj, 'eventId'),
    userId: id(obj, 'userId'),
    itemId: id(obj, 'itemId'),
    action: action as Action,
    occurredAt: time(obj, 'occurredAt'),
    receivedAt: time(obj, 'receivedAt'),
  };
}

export const MAX_TAGS = 32;
export const MAX_INTERESTS = 32;

export function decodeItem(raw: Buffer | string | null): ItemEvent {
  const obj = parseObject(raw);
  return {
    v: 1,
    itemId: id(obj, 'itemId'),
    category: optionalId(obj, 'category'),
    tags: idList(obj, 'tags', MAX_TAGS),
    authorId: optionalId(obj, 'authorId'),
    createdAt: obj.createdAt === null || obj.createdAt === undefined ? null : time(obj, 'createdAt'),
    updatedAt: time(obj, 'updatedAt'),
  };
}

export function decodeProfile(raw: Buffer | string | null): ProfileEvent {
  const obj = parseObject(raw);
  return {
    v: 1,
    userId: id(obj, 'userId'),
    interests: idList(obj, 'interests', MAX_INTERESTS),
    updatedAt: time(obj, 'updatedAt'),
  };
}

/**
 * A served feed, with the feature rows the model saw for each entry: joined with the interactions
 * that followed, it is the ranking model's training data, point-in-time correct by construction.
 * Keyed by userId on the impressions topic.
 */
export interface ImpressionEvent {
  v: 1;
  impressionId: string;
  userId: string;
  servedAt: number;
  modelVersion: string;
  /** Column names of `features`, in order (the model's feature list). */
  featureNames: string[];
  items: {
    itemId: string;
    rank: number;
    /** The blended score the feed was ordered by. */
    score: number;
    /** The model's own output (click probability). */
    modelScore: number;
    /** True when the item held an exploration slot. */
    exploration: boolean;
    features: number[];
  }[];
  /** The experiment arm the user was in, when one ran. */
  arm?: string;
  /** The experiment that assigned the arm (arms of different experiments are not comparable). */
  experimentId?: string;
}

const finite = (obj: Record<string, unknown>, field: string): number => {
  const value = obj[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new DecodeError(`${field} is not a number`);
  return value;
};

/**
 * A logged impression, checked as far as training relies on it: ids, times, one feature row per
 * item with one value per feature name. Extra fields pass through untouched.
 */
export function decodeImpression(raw: Buffer | string | null): ImpressionEvent {
  const obj = parseObject(raw);
  const { featureNames, items } = obj;
  if (!Array.isArray(featureNames) || !featureNames.every((n): n is string => typeof n === 'string'))
    throw new DecodeError('featureNames is not a list of names');
  if (!Array.isArray(items)) throw new DecodeError('items is not a list');
  const width = featureNames.length;
  const decoded = items.map((value: unknown, i): ImpressionEvent['items'][number] => {
    if (!isRecord(value)) throw new DecodeError(`items[${i}] is not an object`);
    const features = value.features;
    if (!Array.isArray(features) || features.length !== width || !features.every((f) => typeof f === 'number'))
      throw new DecodeError(`items[${i}].features is not ${width} numbers`);
    return {
      itemId: id(value, 'itemId'),
      rank: finite(value, 'rank'),
      score: finite(value, 'score'),
      modelScore: typeof value.modelScore === 'number' ? value.modelScore : 0,
      exploration: value.exploration === true,
      features: features,
    };
  });
  return {
    v: 1,
    impressionId: typeof obj.impressionId === 'string' ? obj.impressionId : '',
    userId: id(obj, 'userId'),
    servedAt: time(obj, 'servedAt'),
    modelVersion: typeof obj.modelVersion === 'string' ? obj.modelVersion : '',
    featureNames,
    items: decoded,
    ...(typeof obj.arm === 'string' ? { arm: obj.arm } : {}),
    ...(typeof obj.experimentId === 'string' ? { experimentId: obj.experimentId } : {}),
  };
}

/** The decoded record, or null when it does not decode (readers that skip what they cannot use). */
export function decodeOrSkip<T>(decode: (raw: Buffer | string | null) => T, raw: Buffer | string | null): T | null {
  try {
    return decode(raw);
  } catch (error) {
    if (error instanceof DecodeError) return null;
    throw error;
  }
}
