/**
 * Per-user token buckets, one for mutations and one for events. They live in this API instance
 * (behind a load balancer the effective limit is per instance), so recording behaviour never
 * depends on Redis being up. The map is bounded: idle users' buckets are dropped.
 *
 * A bucket holds up to its burst and refills at its rate. The event burst is at least the largest
 * batch (config.ts checks it), so a full `recordInteractions` batch for one user always fits an
 * idle bucket; the mutation burst is at least one, so a rate below one per second still lets a
 * mutation through now and then.
 */
export interface RateLimits {
  mutationsPerSec: number;
  eventsPerSec: number;
  mutationBurst: number;
  eventBurst: number;
  maxUsers?: number;
}

/**
 * `retryable: false` when the demand exceeds what a full bucket holds: waiting never helps, the
 * caller must send fewer events at once.
 */
export type RateDecision = { ok: true } | { ok: false; userId: string; retryable: boolean };

export interface RateLimiter {
  /**
   * Takes one mutation token and `events` event tokens for every listed user, or, when any of
   * them is over their limit, takes nothing from anyone and says who.
   */
  take(demands: Iterable<readonly [userId: string, events: number]>, now?: number): RateDecision;
}

interface Bucket {
  mutations: number;
  events: number;
  at: number;
}

export function createRateLimiter(limits: RateLimits): RateLimiter {
  const buckets = new Map<string, Bucket>();
  const maxUsers = limits.maxUsers ?? 100_000;
  const mutationBurst = Math.max(1, limits.mutationBurst);
  const eventBurst = Math.max(1, limits.eventBurst);

  /** The user's bucket refilled to `now`, marked most recently used. */
  const refilled = (userId: string, now: number): Bucket => {
    let bucket = buckets.get(userId);
    if (bucket) {
      buckets.delete(userId); // re-insert below: Map order doubles as least-recently-used order
      const elapsed = Math.max(0, (now - bucket.at) / 1000);
      bucket.mutations = Math.min(mutationBurst, bucket.mutations + elapsed * limits.mutationsPerSec);
      bucket.events = Math.min(eventBurst, bucket.events + elapsed * limits.eventsPerSec);
      bucket.at = now;
    } else {
      bucket = { mutations: mutationBurst, events: eventBurst, at: now };
      for (const oldest of buckets.keys()) {
        if (buckets.size < maxUsers) break;
        buckets.delete(oldest);
      }
    }
    buckets.set(userId, bucket);
    return bucket;
  };

  return {
    take(demands, now = Date.now()) {
      const plan: [Bucket, number][] = [];
      for (const [userId, events] of demands) {
        if (events > eventBurst) return { ok: false, userId, retryable: false };
        const bucket = refilled(userId, now);
        if (bucket.mutations < 1 || bucket.events < events) return { ok: false, userId, retryable: true };
        plan.push([bucket, events]);
      }
      // Every user fits: only now is anything taken.
      for (const [bucket, events] of plan) {
        bucket.mutations -= 1;
        bucket.events -= events;
      }
      return { ok: true };
    },
  };
}
