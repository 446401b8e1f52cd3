/**
 * The stream worker's notice on the user-changed channel: which users' features it has just
 * applied. API instances drop those users' cached feeds and push refreshed feeds to their live
 * subscribers. One encoder for the worker, one decoder for the hub.
 */
import { isRecord } from './records.js';

export interface UserChangedNotice {
  users: string[];
  /** When the worker published the notice, epoch ms. */
  at: number;
  /** receivedAt[i]: when the API accepted users[i]'s earliest event of the batch (null if unknown). */
  receivedAt?: (number | null)[];
  /**
   * tags[i]: the tags the batch set (`+tag`) or withdrew (`-tag`) for users[i], comma-separated, or
   * null when only their behaviour features changed. A push caused by a tag names it.
   */
  tags?: (string | null)[];
}

export const encodeUserChanged = (notice: UserChangedNotice): string => JSON.stringify(notice);

/** The notice, or an error naming what is wrong; a missing `at` reads as `now`. */
export function decodeUserChanged(message: string, now = Date.now()): UserChangedNotice {
  const value: unknown = JSON.parse(message);
  if (!isRecord(value)) throw new Error('not an object');
  const { users, at, receivedAt, tags } = value;
  if (!Array.isArray(users) || !users.every((u): u is string => typeof u === 'string'))
    throw new Error('users is not a list');
  return {
    users,
    at: typeof at === 'number' ? at : now,
    receivedAt: Array.isArray(receivedAt) ? receivedAt.map((t) => (typeof t === 'number' ? t : null)) : undefined,
    tags: Array.isArray(tags) ? tags.map((t) => (typeof t === 'string' && t ? t : null)) : undefined,
  };
}
