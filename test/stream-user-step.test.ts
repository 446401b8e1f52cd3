/**
 * The user step's own bookkeeping, driven call by call. The per-(item, trending bucket) cap, with the
 * clock following event time so that the windows hash is pruned as in live traffic (at most once a
 * minute): the cap counts are fields of that hash, and pruning must drop them only once their bucket
 * can take no more events. The notes kept for a redelivery: in a key of their own, so that the state
 * hash stays compact, and taken over from the state hash where an earlier version kept them. The
 * windows as read, and the pattern buffer, across the change to action codes.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ACTIONS, type BehaviorEvent } from '../src/core/events.js';
import { redisKeys } from '../src/core/keys.js';
import { createRng } from '../src/core/random.js';
import {
  bucketStart,
  DEFAULT_ACTION_WEIGHTS,
  TRENDING,
  USER_ITEM_CAP,
  windowField,
} from '../src/features/definitions.js';
import { readUserRealtime } from '../src/features/user-features.js';
import { compilePatterns, planPatternCalls } from '../src/patterns/plan.js';
import { parsePatternRules } from '../src/patterns/rules.js';
import { scripts } from '../src/redis/scripts.js';
import { planUserCalls, type Contribution, type ItemInfo, type PositionedEvent } from '../src/streams/plan.js';
import { uniquePrefix } from './helpers.js';

const LATENESS = 120_000;
const prefix = uniquePrefix('user-step');
const keys = redisKeys(prefix);
const fence = { key: keys.streamEpoch('g'), epoch: 'caps-epoch' };
const items = new Map<string, ItemInfo>(['a', 'b', 'c'].map((id) => [id, { category: 'pets', tags: [] }]));

/** Plans the one user call for these events (all of one user) and runs it. */
async function runUserCall(
  events: PositionedEvent[],
  options: { partition: number; now: number; settledOffset?: string },
) {
  const [call] = planUserCalls(events, items, {
    keys,
    fence,
    allowedLatenessMs: LATENESS,
    weights: DEFAULT_ACTION_WEIGHTS,
    stateTtlSec: 3600,
    ...options,
  });
  if (!call) throw new Error('no call planned');
  return scripts.applyUser.run(redis, call.keys, call.args);
}

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

// One connection for the file; the stream epoch the fenced calls carry is held from the start.
let redis: Redis;
beforeAll(async () => {
  redis = new Redis(inject('redisUrl'));
  await redis.set(fence.key, fence.epoch);
});
afterAll(() => {
  redis?.disconnect();
});

describe("the user step's per-item cap, kept in the windows hash", () => {
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
        const reply = await runUserCall(batch, { partition: 0, now: clock });
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
      const { watermark } = await runUserCall(
        [{ event: { ...last, eventId: `${userId}-last` }, offset: String(events.length) }],
        { partition: 0, now: clock + 60_000 },
      );
      for (const field of await redis.hkeys(keys.userWindows(userId))) {
        const m = /^c:([0-9a-z]+)\|/.exec(field);
        if (m) expect((parseInt(m[1]!, 36) + 1) * TRENDING.bucketMs + LATENESS).toBeGreaterThan(watermark);
      }
      expect(await redis.keys(`${prefix}:{u:${userId}}:cap:*`)).toEqual([]);
    }
  });
});

describe("the user step's notes for a redelivery", () => {
  const T = bucketStart(Date.now() - 3600_000, TRENDING.bucketMs);
  const like = (userId: string, offset: number, itemId: string, at: number): PositionedEvent => ({
    event: { v: 1, eventId: `${userId}-${offset}`, userId, itemId, action: 'LIKE', occurredAt: at, receivedAt: at },
    offset: String(offset),
  });
  const apply = async (batch: PositionedEvent[], settledOffset?: string) => {
    return runUserCall(batch, { partition: 2, now: T + 3600_000, settledOffset });
  };
  const batch = (userId: string) => [
    like(userId, 10, 'a', T),
    like(userId, 11, 'b', T + 1000),
    like(userId, 12, 'c', T + 2000),
  ];

  it('are kept beside the state hash, which stays compact, and hand a redelivered batch what it handed before', async () => {
    const first = await apply(batch('n1'));
    expect(first.contributions.map((c) => [c.offset, c.partners])).toEqual([
      ['10', []],
      ['11', ['a']],
      ['12', ['b', 'a']],
    ]);
    expect(await redis.object('ENCODING', keys.userState('n1'))).toBe('listpack');
    expect(await redis.hkeys(keys.userState('n1'))).not.toContain('pend:2');
    expect(await redis.get(keys.userPending('n1', 2))).toBe('10=;11=a;12=b,a');
    expect(await redis.ttl(keys.userPending('n1', 2))).toBeGreaterThan(0);

    const again = await apply(batch('n1'), '9');
    expect([again.counted, again.replayed]).toEqual([0, 3]);
    expect(again.rehanded).toEqual(first.contributions);

    // The next batch, once the first is known to be applied, keeps only its own notes.
    await apply([like('n1', 13, 'a', T + 3000)], '12');
    expect(await redis.get(keys.userPending('n1', 2))).toBe('13=c,b');
  });

  it("name a run of the previous note's partners by position, and hand back the full lists", async () => {
    const likes = Array.from({ length: 6 }, (_, i) => like('n3', 10 + i, `item-${i + 1}`, T + i * 1000));
    const first = await apply(likes);
    expect(first.contributions.map((c) => c.partners.length)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await redis.get(keys.userPending('n3', 2))).toBe(
      '10=;11=item-1;12=item-2,^1-1;13=item-3,^1-2;14=item-4,^1-3;15=item-5,^1-4',
    );
    expect((await apply(likes, '9')).rehanded).toEqual(first.contributions);

    // Redelivered with one event more, the first two settled: the notes left are written anew.
    const more = [...likes, like('n3', 16, 'item-7', T + 6000)];
    const again = await apply(more, '11');
    expect(again.rehanded).toEqual(first.contributions);
    expect(await redis.get(keys.userPending('n3', 2))).toBe(
      '12=item-2,item-1;13=item-3,^1-2;14=item-4,^1-3;15=item-5,^1-4;16=item-6,^1-5',
    );
    expect((await apply(more, '11')).rehanded).toEqual([...first.contributions.slice(2), ...again.contributions]);
  });

  it('are taken over from the state hash where an earlier version kept them', async () => {
    const first = await apply(batch('n2'));
    const notes = await redis.get(keys.userPending('n2', 2));
    await redis.del(keys.userPending('n2', 2));
    await redis.hset(keys.userState('n2'), 'pend:2', notes ?? '');

    const again = await apply(batch('n2'), '9');
    expect(again.rehanded).toEqual(first.contributions);

    // Redelivered with one event more, the second step not yet known to have run: nothing is lost.
    await apply([...batch('n2'), like('n2', 13, 'a', T + 3000)], '9');
    expect(await redis.hkeys(keys.userState('n2'))).not.toContain('pend:2');
    expect(await redis.get(keys.userPending('n2', 2))).toBe('10=;11=a;12=b,a;13=c,b');
  });
});

describe("the user's category affinity", () => {
  it('lives in the state hash, and is taken over from the hash of its own where an earlier version kept it', async () => {
    const T = Date.now() - 60_000;
    const apply = (events: PositionedEvent[]) => runUserCall(events, { partition: 2, now: T + 60_000 });
    const like = (userId: string, offset: number, at: number): PositionedEvent => ({
      offset: String(offset),
      event: {
        v: 1,
        eventId: `${userId}-${offset}`,
        userId,
        itemId: 'a',
        action: 'LIKE',
        occurredAt: at,
        receivedAt: at,
      },
    });
    const weight = DEFAULT_ACTION_WEIGHTS.LIKE;

    await apply([like('aff-new', 1, T)]);
    expect(await redis.exists(keys.userAffinity('aff-new'))).toBe(0);
    const state = await redis.hgetall(keys.userState('aff-new'));
    expect([Number(state['a:_b']), Number(state['a:pets'])]).toEqual([T, weight]);
    expect(await redis.object('ENCODING', keys.userState('aff-new'))).toBe('listpack');
    const read = await readUserRealtime(redis, keys, 'aff-new', T);
    expect(read.affinity).toEqual([{ category: 'pets', score: weight }]);

    // As an earlier version left it: a hash of its own (flag `a`), and nothing in the state.
    await redis.hset(keys.userState('aff-old'), { 'off:2': '0', wm: String(T), fk: 'sa' });
    await redis.hset(keys.userAffinity('aff-old'), { _b: String(T), pets: '2', news: '1' });
    await redis.expire(keys.userAffinity('aff-old'), 3600);
    const before = await readUserRealtime(redis, keys, 'aff-old', T);
    expect(before.affinity).toEqual([
      { category: 'pets', score: 2 },
      { category: 'news', score: 1 },
    ]);
    await apply([like('aff-old', 1, T)]);
    expect(await redis.exists(keys.userAffinity('aff-old'))).toBe(0);
    const after = await readUserRealtime(redis, keys, 'aff-old', T);
    expect(after.affinity).toEqual([
      { category: 'pets', score: 2 + weight },
      { category: 'news', score: 1 },
    ]);
    expect((await redis.hget(keys.userState('aff-old'), 'fk')) ?? '').not.toContain('a');
  });
});

describe("the user's windows hash as read", () => {
  it('sums fields naming the action by its code and by its name (written before the codes), and reads no cap count', async () => {
    const at = bucketStart(Date.now(), TRENDING.bucketMs) - 3600_000;
    const prefix5m = windowField('5m', bucketStart(at, 60_000));
    const prefix1h = windowField('1h', bucketStart(at, 300_000));
    await redis.hset(keys.userState('w1'), 'wm', at);
    await redis.hset(keys.userWindows('w1'), {
      [`${prefix5m}|pets|LIKE`]: 2,
      [`${prefix5m}|pets|l`]: 3,
      [`${prefix5m}|pets|h`]: 1,
      [`${prefix1h}|news|v`]: 4,
      [`c:${Math.floor(at / TRENDING.bucketMs).toString(36)}|pet-1`]: 7,
    });
    const features = await readUserRealtime(redis, keys, 'w1');
    expect(features.windows.map((w) => [w.window, w.counts])).toEqual([
      [
        '5m',
        [
          { category: 'pets', action: 'HIDE', count: 1 },
          { category: 'pets', action: 'LIKE', count: 5 },
        ],
      ],
      ['1h', [{ category: 'news', action: 'VIEW', count: 4 }]],
    ]);
  });
});

describe('the pattern buffer across the change to action codes and short offsets', () => {
  it('matches events buffered by an earlier version (action names, zero-padded offsets) with new ones', async () => {
    const patterns = compilePatterns(
      parsePatternRules(
        JSON.stringify({
          rules: [
            {
              id: 'clicker',
              description: 'Three pet clicks in a row.',
              steps: [
                { action: ['CLICK'], category: ['pets'] },
                { action: ['CLICK'], category: ['pets'] },
                { action: ['CLICK'], category: ['pets'] },
              ],
              contiguity: 'strict',
              within: '1m',
              tag: 'clicker',
              tagTtl: '1h',
              reason: '{count} pet clicks',
            },
          ],
        }),
        'test',
      ),
    );
    const T = Date.now() - 60_000;
    // Two clicks buffered the earlier way, as if an earlier version had applied offsets 1 and 2.
    await redis.zadd(
      keys.userPatternEvents('p1'),
      T,
      '0000000000001|old-1|CLICK|pets|',
      T + 1000,
      '0000000000002|old-2|CLICK|pets|',
    );
    await redis.hset(keys.userPatternState('p1'), { 'off:5': 2, wm: T + 1000 });
    const click = (offset: string, eventId: string, at: number): Contribution => ({
      offset,
      userId: 'p1',
      eventId,
      itemId: 'a',
      category: 'pets',
      tags: [],
      action: 'CLICK',
      occurredAt: at,
      weight: 1,
      partners: [],
      capped: false,
      clock: at,
    });
    const [call] = planPatternCalls([click('3', 'new-3', T + 2000)], {
      keys,
      fence,
      partition: 5,
      allowedLatenessMs: LATENESS,
      stateTtlSec: 3600,
      now: T + 2000,
      patterns,
    });
    if (!call) throw new Error('no call planned');
    expect(call.args.events[0]?.member).toBe('13|new-3|c|pets|');
    const reply = await scripts.matchPatterns.run(redis, call.keys, call.args);
    expect(reply?.fired).toEqual(['clicker']);
    const features = await readUserRealtime(redis, keys, 'p1', T + 2000);
    expect(features.tags.map((t) => [t.tag, t.eventIds])).toEqual([['clicker', ['old-1', 'old-2', 'new-3']]]);
  });
});
