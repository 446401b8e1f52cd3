/**
 * The pure part of the stream worker: from a batch of decoded events (and the item categories the
 * shell read), the script calls to make, one per user. No I/O, so it is tested without Kafka.
 */
import { bucketStart, countField, UNKNOWN_CATEGORY, WINDOW_NAMES, WINDOWS } from '../features/definitions.js';
import type { RedisKeys } from '../redis/keys.js';
import type { BehaviorEvent } from './events.js';

export interface PositionedEvent {
  event: BehaviorEvent;
  offset: string;
}

export interface UserScriptCall {
  userId: string;
  keys: string[];
  args: (string | number)[];
}

export interface PlanOptions {
  keys: RedisKeys;
  partition: number;
  allowedLatenessMs: number;
  stateTtlSec: number;
  now: number;
}

/** When a bucket stops mattering: after its window has passed it by, plus the allowed lateness. */
function bucketTtlSec(bucket: number, lengthMs: number, bucketMs: number, latenessMs: number, now: number) {
  return Math.max(60, Math.ceil((bucket + bucketMs + lengthMs + latenessMs - now) / 1000));
}

export function planUserCalls(
  events: PositionedEvent[],
  categories: Map<string, string | null>,
  options: PlanOptions,
): UserScriptCall[] {
  const byUser = new Map<string, PositionedEvent[]>();
  for (const e of events) {
    const list = byUser.get(e.event.userId);
    if (list) list.push(e);
    else byUser.set(e.event.userId, [e]);
  }
  const calls: UserScriptCall[] = [];
  for (const [userId, list] of byUser) {
    const bucketKeys: string[] = [];
    const ttls: number[] = [];
    const index = new Map<string, number>();
    const eventArgs: (string | number)[] = [];
    for (const { event, offset } of list) {
      const category = categories.get(event.itemId) ?? UNKNOWN_CATEGORY;
      const indices: number[] = [];
      for (const name of WINDOW_NAMES) {
        const { lengthMs, bucketMs } = WINDOWS[name];
        const bucket = bucketStart(event.occurredAt, bucketMs);
        const key = options.keys.userBucket(userId, name, bucket);
        let idx = index.get(key);
        if (idx === undefined) {
          bucketKeys.push(key);
          ttls.push(bucketTtlSec(bucket, lengthMs, bucketMs, options.allowedLatenessMs, options.now));
          idx = bucketKeys.length;
          index.set(key, idx);
        }
        indices.push(idx);
      }
      eventArgs.push(
        offset,
        event.eventId,
        event.occurredAt,
        countField(category, event.action),
        indices.length,
        ...indices,
      );
    }
    calls.push({
      userId,
      keys: [options.keys.userState(userId), options.keys.userSeen(userId), ...bucketKeys],
      args: [
        options.partition,
        options.allowedLatenessMs,
        options.stateTtlSec,
        bucketKeys.length,
        ...ttls,
        ...eventArgs,
      ],
    });
  }
  return calls;
}
