/**
 * "Every feed may have changed": a cause that makes each API instance re-rank all the users it has
 * live feed subscribers for, spread over time (see `refreshAll` in src/live/hub.ts). Model and
 * experiment swaps are noticed by each instance itself; jobs outside the API (the daily
 * long-horizon batch) announce theirs on the feed-refresh channel with the notice below. One
 * encoder for the jobs, one decoder for the hub.
 */
import { isRecord } from './records.js';

/** Causes that concern every user at once. */
export const REFRESH_TRIGGERS = ['model', 'experiment', 'batch'] as const;
export type RefreshTrigger = (typeof REFRESH_TRIGGERS)[number];

/** Why every feed is refreshed, as subscribers are told it (`trigger` and `triggerDetail`). */
export interface FeedRefreshCause {
  trigger: RefreshTrigger;
  /** For people: the model version now served, the experiment revision, the batch run. */
  detail?: string;
}

/**
 * The notice on the feed-refresh channel. Only `batch`: a model or experiment change reaches each
 * instance through the model registry, and an instance must re-rank only once it serves the new
 * models, which only it knows.
 */
export interface FeedRefreshNotice {
  trigger: 'batch';
  detail?: string;
  /** When the job published it, epoch ms. */
  at: number;
}

/** Longest `detail` accepted: it is shown to every subscriber. */
export const MAX_REFRESH_DETAIL = 200;

export const encodeFeedRefresh = (notice: FeedRefreshNotice): string => JSON.stringify(notice);

/** The notice, or an error naming what is wrong with it. */
export function decodeFeedRefresh(message: string): FeedRefreshNotice {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    throw new Error('not JSON');
  }
  if (!isRecord(value)) throw new Error('not an object');
  const { trigger, detail, at } = value;
  if (trigger !== 'batch') throw new Error(`trigger ${JSON.stringify(trigger)} is not "batch"`);
  if (typeof at !== 'number' || !Number.isFinite(at) || at <= 0) throw new Error('at is not an epoch-ms time');
  if (detail !== undefined && detail !== null) {
    if (typeof detail !== 'string') throw new Error('detail is not a string');
    if (detail.length > MAX_REFRESH_DETAIL) throw new Error(`detail is longer than ${MAX_REFRESH_DETAIL} characters`);
    if (detail.trim()) return { trigger, detail: detail.trim(), at };
  }
  return { trigger, at };
}
