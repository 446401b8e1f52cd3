/**
 * Every feature's definition, in one module that the stream worker, serving and training import,
 * so that what is trained on and what is served cannot drift apart.
 */
import type { Action } from '../streams/events.js';

export const MINUTE = 60_000;

/**
 * Event-time windows over per-user (category, action) counts. Each is kept as buckets of
 * `bucketMs`; the window's value is the sum of its last `length / bucketMs` buckets, so the 5-minute
 * window slides by 1 minute, as in the reference design.
 */
export const WINDOWS = {
  '5m': { lengthMs: 5 * MINUTE, bucketMs: MINUTE },
  '1h': { lengthMs: 60 * MINUTE, bucketMs: 5 * MINUTE },
} as const;
export type WindowName = keyof typeof WINDOWS;
export const WINDOW_NAMES = Object.keys(WINDOWS) as WindowName[];

/** Events older than the user's latest event time minus this are too late for the windows. */
export const DEFAULT_ALLOWED_LATENESS_MS = 2 * MINUTE;

/** The category used for events on items the catalogue does not know yet. */
export const UNKNOWN_CATEGORY = '_unknown';

export const bucketStart = (time: number, bucketMs: number) => Math.floor(time / bucketMs) * bucketMs;

/** The bucket starts that make up a window ending with the bucket that holds `at`. */
export function windowBuckets(window: WindowName, at: number): number[] {
  const { lengthMs, bucketMs } = WINDOWS[window];
  const last = bucketStart(at, bucketMs);
  const n = lengthMs / bucketMs;
  return Array.from({ length: n }, (_, i) => last - (n - 1 - i) * bucketMs);
}

/** Field name of a (category, action) counter inside a bucket hash. */
export const countField = (category: string, action: Action) => `${category}|${action}`;
