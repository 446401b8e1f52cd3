import type { Config } from '../config.js';
import { AppError, unavailable } from '../core/errors.js';
import {
  ACTIONS,
  encodeEvent,
  generateEventId,
  isValidId,
  MAX_INTERESTS,
  MAX_TAGS,
  type Action,
  type BehaviorEvent,
  type ItemEvent,
  type ProfileEvent,
} from '../core/events.js';
import type { IngestProducer, Produced } from '../streams/producer.js';
import type { Topics } from '../core/topics.js';
import type { RateLimiter } from './rate-limit.js';

/** One behaviour as a client reports it, before validation. */
export interface InteractionRequest {
  eventId?: string | null;
  userId: string;
  itemId: string;
  action: string;
  occurredAt?: Date | null;
}

export type InteractionOutcome =
  { ok: true; event: BehaviorEvent; produced: Produced } | { ok: false; error: AppError };

export interface Ingest {
  /**
   * Validates every entry; produces the valid ones to the behaviour topic (one coalesced batch) and
   * resolves when each is durable. Entries that fail validation are returned with their error and
   * write nothing. Throws (writing nothing) when the caller is over the rate limit.
   */
  recordInteractions(requests: InteractionRequest[], now?: number): Promise<InteractionOutcome[]>;
  upsertItems(items: ItemRequest[], now?: number): Promise<{ item: ItemEvent; produced: Produced }[]>;
  updateProfile(profile: { userId: string; interests: string[] }, now?: number): Promise<ProfileEvent>;
}

export interface ItemRequest {
  id: string;
  category?: string | null;
  tags?: string[] | null;
  authorId?: string | null;
  createdAt?: Date | null;
}

const bad = (message: string, field: string) => new AppError('BAD_USER_INPUT', message, { field });

const idRule = 'ids are 1-128 characters of A-Z, a-z, 0-9, "_", ".", ":" or "-"';

function checkId(value: unknown, field: string): string {
  if (!isValidId(value)) throw bad(`${field} is not a valid id (${idRule})`, field);
  return value;
}

/** Validation of one interaction: id formats, the action, and the event-time window. */
export function validateInteraction(request: InteractionRequest, limits: Config['ingest'], now: number): BehaviorEvent {
  const userId = checkId(request.userId, 'userId');
  const itemId = checkId(request.itemId, 'itemId');
  const eventId = request.eventId == null ? generateEventId() : checkId(request.eventId, 'eventId');
  if (!(ACTIONS as readonly string[]).includes(request.action)) {
    throw bad(`action must be one of ${ACTIONS.join(', ')}`, 'action');
  }
  const occurredAt = request.occurredAt == null ? now : request.occurredAt.getTime();
  if (!Number.isFinite(occurredAt)) throw bad('occurredAt is not a valid time', 'occurredAt');
  if (occurredAt > now + limits.maxFutureMs) {
    throw bad(`occurredAt is more than ${limits.maxFutureMs / 1000} s in the future`, 'occurredAt');
  }
  if (occurredAt < now - limits.maxAgeMs) {
    throw bad(`occurredAt is older than ${Math.round(limits.maxAgeMs / 3600_000)} h`, 'occurredAt');
  }
  return { v: 1, eventId, userId, itemId, action: request.action as Action, occurredAt, receivedAt: now };
}

function checkIdList(values: readonly unknown[] | null | undefined, field: string, max: number): string[] {
  const list = values ?? [];
  if (list.length > max) throw bad(`${field} has more than ${max} entries`, field);
  list.forEach((v, i) => checkId(v, `${field}[${i}]`));
  return [...new Set(list as string[])];
}

/**
 * Over the per-user limit: retryable when the bucket will refill enough, permanent when the
 * request asks for more events at once than the bucket ever holds.
 */
function rateLimited(userId: string, retryable: boolean, limits: Config['ingest']): AppError {
  const limit = `${limits.mutationsPerSec} mutations/s, ${limits.eventsPerSec} events/s per user, bursts of ${limits.mutationBurst} / ${limits.eventBurst}`;
  return retryable
    ? new AppError('RATE_LIMITED', `too many mutations or events for user ${userId}; slow down and retry`, {
        retryable: true,
        limit,
      })
    : new AppError(
        'RATE_LIMITED',
        `more events for user ${userId} in one request than the limit ever allows (${limits.eventBurst}); send fewer at once`,
        { retryable: false, limit },
      );
}

/**
 * A failed produce as the client must see it: retryable UNAVAILABLE, carrying the eventIds the
 * retry has to reuse (the server generates those the client left out, and the stream dedupes by
 * them): `eventId` for a single interaction, `eventIds` by input position (null where the entry was
 * rejected) for a batch.
 */
function withEventIds(
  error: unknown,
  events: BehaviorEvent | (InteractionOutcome | BehaviorEvent)[] | undefined,
): AppError {
  const cause = error instanceof AppError && error.code === 'UNAVAILABLE' ? error : undefined;
  const message = cause?.message.replace(/; retry$/, '') ?? 'Kafka did not acknowledge the write';
  if (events === undefined || !Array.isArray(events))
    return unavailable(`${message}; retry with the same eventId`, { ...cause?.details, eventId: events?.eventId });
  const eventIds = events.map((o) => ('ok' in o ? null : o.eventId));
  return unavailable(`${message}; retry with the same eventIds (extensions.eventIds, by input position)`, {
    ...cause?.details,
    eventIds,
  });
}

export function createIngest(deps: {
  producer: IngestProducer;
  topics: Topics;
  limits: Config['ingest'];
  rateLimiter: RateLimiter;
}): Ingest {
  const { producer, topics, limits, rateLimiter } = deps;
  return {
    async recordInteractions(requests, now = Date.now()) {
      if (requests.length > limits.maxBatch) {
        throw new AppError('BAD_USER_INPUT', `at most ${limits.maxBatch} interactions per request`, {
          field: 'inputs',
          limit: limits.maxBatch,
        });
      }
      const outcomes: (InteractionOutcome | BehaviorEvent)[] = requests.map((request) => {
        try {
          return validateInteraction(request, limits, now);
        } catch (error) {
          if (error instanceof AppError) return { ok: false, error };
          throw error;
        }
      });
      const valid = outcomes.filter((o): o is BehaviorEvent => !('ok' in o));
      const perUser = new Map<string, number>();
      for (const e of valid) perUser.set(e.userId, (perUser.get(e.userId) ?? 0) + 1);
      const decision = rateLimiter.take(perUser, now);
      if (!decision.ok) throw rateLimited(decision.userId, decision.retryable, limits);
      let produced: Produced[];
      try {
        produced = await producer.send(
          valid.map((event) => ({ topic: topics.behavior, key: event.userId, value: encodeEvent(event) })),
        );
      } catch (error) {
        throw withEventIds(error, requests.length === 1 ? valid[0] : outcomes);
      }
      let next = 0;
      return outcomes.map((o) => {
        if ('ok' in o) return o;
        const p = produced[next++];
        if (!p) throw new AppError('INTERNAL_SERVER_ERROR', 'producer returned fewer acknowledgements than records');
        return { ok: true, event: o, produced: p };
      });
    },

    async upsertItems(requests, now = Date.now()) {
      if (requests.length > limits.maxBatch) {
        throw new AppError('BAD_USER_INPUT', `at most ${limits.maxBatch} items per request`, { field: 'inputs' });
      }
      const items = requests.map((r, i): ItemEvent => {
        const at = (field: string) => `inputs[${i}].${field}`;
        const createdAt = r.createdAt == null ? null : r.createdAt.getTime();
        if (createdAt !== null && (!Number.isFinite(createdAt) || createdAt > now + limits.maxFutureMs)) {
          throw bad('createdAt must be a valid time, not in the future', at('createdAt'));
        }
        return {
          v: 1,
          itemId: checkId(r.id, at('id')),
          category: r.category == null ? null : checkId(r.category, at('category')),
          tags: checkIdList(r.tags, at('tags'), MAX_TAGS),
          authorId: r.authorId == null ? null : checkId(r.authorId, at('authorId')),
          createdAt,
          updatedAt: now,
        };
      });
      const produced = await producer.send(
        items.map((item) => ({ topic: topics.items, key: item.itemId, value: encodeEvent(item) })),
      );
      return items.map((item, i) => ({ item, produced: produced[i] as Produced }));
    },

    async updateProfile(profile, now = Date.now()) {
      const event: ProfileEvent = {
        v: 1,
        userId: checkId(profile.userId, 'userId'),
        interests: checkIdList(profile.interests, 'interests', MAX_INTERESTS),
        updatedAt: now,
      };
      const decision = rateLimiter.take([[event.userId, 0]], now);
      if (!decision.ok) throw rateLimited(event.userId, decision.retryable, limits);
      await producer.send([{ topic: topics.profiles, key: event.userId, value: encodeEvent(event) }]);
      return event;
    },
  };
}
