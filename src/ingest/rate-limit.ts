/**
 * Per-user token buckets, one for mutations and one for events. They live in this API instance
 * (behind a load balancer the effective limit is per instance), so recording behaviour never
 * depends on Redis being up. The map is bounded: idle users' buckets are dropped.
 */
export interface RateLimiter {
  /** Takes `events` event tokens and one mutation token for `userId`, or returns false (taking nothing). */
  take(userId: string, events: number, now?: number): boolean;
}

interface Bucket {
  mutations: number;
  events: number;
  at: number;
}

export function createRateLimiter(limits: {
  mutationsPerSec: number;
  eventsPerSec: number;
  maxUsers?: number;
}): RateLimiter {
  const buckets = new Map<string, Bucket>();
  const maxUsers = limits.maxUsers ?? 100_000;
  const burstMutations = limits.mutationsPerSec;
  const burstEvents = limits.eventsPerSec;
  return {
    take(userId, events, now = Date.now()) {
      let bucket = buckets.get(userId);
      if (bucket) {
        buckets.delete(userId); // re-insert below: Map order doubles as least-recently-used order
        const elapsed = (now - bucket.at) / 1000;
        bucket.mutations = Math.min(burstMutations, bucket.mutations + elapsed * limits.mutationsPerSec);
        bucket.events = Math.min(burstEvents, bucket.events + elapsed * limits.eventsPerSec);
        bucket.at = now;
      } else {
        bucket = { mutations: burstMutations, events: burstEvents, at: now };
        if (buckets.size >= maxUsers) {
          const oldest = buckets.keys().next().value;
          if (oldest !== undefined) buckets.delete(oldest);
        }
      }
      buckets.set(userId, bucket);
      if (bucket.mutations < 1 || bucket.events < events) return false;
      bucket.mutations -= 1;
      bucket.events -= events;
      return true;
    },
  };
}
