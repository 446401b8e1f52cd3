/**
 * The per-(item, trending bucket) cap of the user step, with the clock following event time so that
 * the windows hash is pruned as in live traffic (at most once a minute): the cap counts are fields
 * of that hash, and pruning must drop them only once their bucket can take no more events.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ACTIONS, type BehaviorEvent } from '../src/core/events.js';
import { redisKeys } from '../src/core/keys.js';
import { createRng } from '../src/core/random.js';
import { bucketStart, DEFAULT_ACTION_WEIGHTS, TRENDING, USER_ITEM_CAP } from '../src/features/definitions.js';
import { scripts } from '../src/redis/scripts.js';
import { planUserCalls, type ItemInfo, type PositionedEvent } from '../src/streams/plan.js';
import { uniquePrefix } from './helpers.js';

const LATENESS = 120_000;
const prefix = uniquePrefix('caps');
const keys = redisKeys(prefix);
const fence = { key: keys.streamEpoch('g'), epoch: 'caps-epoch' };
const items = new Map<string, ItemInfo>(['a', 'b', 'c'].map((id) => [id, { category: 'pets', tags: [] }]));

/** One user's events in log order: mostly moving on by up to 40 s, some up to 3 minutes late. */
function userEvents(seed: number, userId: string, start: number): BehaviorEvent[] {
  const rng = createRng(seed, 'caps', userId);
  let t = start;
  return Array.from({ length: 400 }, (_, i) => {
    t += rng.int(0, 40_000);
    const at = rng.bernoulli(0.15) ? t - rng.int(0, 180_000) : t;
    return {
      v: 1,
      eventId: `${userId}-e${i}`,
      userId,
      itemId: rng.pick(['a', 'b', 'c']),
      action: rng.pick(ACTIONS),
      occurredAt: at,
      receivedAt: at,
    };
  });
}

/** Which events count and which of those are capped: lateness against the watermark, no pruning. */
function reference(events: BehaviorEvent[]) {
  let wm = 0;
  const caps = new Map<string, number>();
  return events.map((e) => {
    if (e.occurredAt < wm - LATENESS) return 'late';
    const key = `${e.itemId}|${bucketStart(e.occurredAt, TRENDING.bucketMs)}`;
    const used = (caps.get(key) ?? 0) + 1;
    caps.set(key, used);
    wm = Math.max(wm, e.occurredAt);
    return used > USER_ITEM_CAP ? 'capped' : 'counted';
  });
}

describe("the user step's per-item cap, kept in the windows hash", () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(inject('redisUrl'));
    await redis.set(fence.key, fence.epoch);
  });
  afterAll(() => {
    redis?.disconnect();
  });

  it('caps exactly as a reference that never forgets, while pruning counts of buckets that can take no more events', async () => {
    const start = bucketStart(Date.now() - 6 * 3600_000, TRENDING.bucketMs);
    for (const seed of [1, 2, 3]) {
      const userId = `u${seed}`;
      const events = userEvents(seed, userId, start);
      const expected = reference(events);
      const rng = createRng(seed, 'caps-batches');
      const outcome = new Map<string, string>();
      let fieldsSeen = 0;
      let maxCapFields = 0;
      let clock = start;
      for (let i = 0; i < events.length;) {
        const batch: PositionedEvent[] = events
          .slice(i, i + rng.int(1, 9))
          .map((event, j) => ({ event, offset: String(i + j) }));
        i += batch.length;
        clock = Math.max(clock, ...batch.map((p) => p.event.occurredAt)) + 1000;
        const [call] = planUserCalls(batch, items, {
          keys,
          fence,
          partition: 0,
          allowedLatenessMs: LATENESS,
          weights: DEFAULT_ACTION_WEIGHTS,
          stateTtlSec: 3600,
          now: clock,
        });
        if (!call) throw new Error('no call planned');
        const reply = await scripts.applyUser.run(redis, call.keys, call.args);
        for (const c of reply.contributions) outcome.set(c.offset, c.capped ? 'capped' : 'counted');
        const capFields = (await redis.hkeys(keys.userWindows(userId))).filter((f) => f.startsWith('c:'));
        fieldsSeen += capFields.length;
        maxCapFields = Math.max(maxCapFields, capFields.length);
      }
      expect(events.map((_, i) => outcome.get(String(i)) ?? 'late')).toEqual(expected);
      expect(expected.filter((o) => o === 'capped').length, 'the stream exercises the cap').toBeGreaterThan(20);
      expect(fieldsSeen).toBeGreaterThan(0);
      // Six hours of events over three items: without pruning there would be far more counts.
      expect(maxCapFields).toBeLessThanOrEqual(3 * 4);

      // One more call a minute later prunes: what is left is of buckets that can still take events.
      const last = events.at(-1)!;
      const [call] = planUserCalls(
        [{ event: { ...last, eventId: `${userId}-last` }, offset: String(events.length) }],
        items,
        {
          keys,
          fence,
          partition: 0,
          allowedLatenessMs: LATENESS,
          weights: DEFAULT_ACTION_WEIGHTS,
          stateTtlSec: 3600,
          now: clock + 60_000,
        },
      );
      if (!call) throw new Error('no call planned');
      const { watermark } = await scripts.applyUser.run(redis, call.keys, call.args);
      for (const field of await redis.hkeys(keys.userWindows(userId))) {
        const m = /^c:([0-9a-z]+)\|/.exec(field);
        if (m) expect((parseInt(m[1]!, 36) + 1) * TRENDING.bucketMs + LATENESS).toBeGreaterThan(watermark);
      }
      expect(await redis.keys(`${prefix}:{u:${userId}}:cap:*`)).toEqual([]);
    }
  });
});
