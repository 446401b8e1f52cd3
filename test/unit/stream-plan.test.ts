import { describe, expect, it } from 'vitest';
import type { Action, BehaviorEvent } from '../../src/core/events.js';
import { redisKeys } from '../../src/core/keys.js';
import { createRng } from '../../src/core/random.js';
import { DEFAULT_ACTION_WEIGHTS, windowField, type ActionWeights } from '../../src/features/definitions.js';
import type { ScriptArg } from '../../src/redis/lua.js';
import { scripts } from '../../src/redis/scripts.js';
import {
  orderContributions,
  planItemCalls,
  planTrendingCalls,
  planUserCalls,
  userContributions,
  type Contribution,
  type ItemInfo,
  type PlanOptions,
  type PositionedEvent,
} from '../../src/streams/plan.js';

// Constants written out by hand (not imported) so that a changed definition shows up here.
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** A multiple of five minutes (300,000 × 5,666,667): the start of a 1-minute and a 5-minute bucket. */
const T0 = 1_700_000_100_000;
const LATENESS = 2 * MINUTE;
const PARTITION = 3;
/** The windows as the definitions give them: length and bucket width. */
const WINDOW_SPEC = {
  '5m': { lengthMs: 5 * MINUTE, bucketMs: MINUTE },
  '1h': { lengthMs: HOUR, bucketMs: 5 * MINUTE },
};
const TRENDING_BUCKET_MS = 5 * MINUTE;
const TRENDING_HORIZON_MS = 12 * TRENDING_BUCKET_MS;
const TTL_FLOOR_SEC = 60;
const CAP_TTL_FLOOR_SEC = 600;
/** How the user's window fields name actions: one fixed character each. */
const ACTION_CODES: Record<string, string> = {
  VIEW: 'v',
  CLICK: 'c',
  LIKE: 'l',
  COMMENT: 'm',
  SHARE: 's',
  SKIP: 'k',
  HIDE: 'h',
};

const keys = redisKeys('t');

const fence = { key: keys.streamEpoch('g'), epoch: 'e-1' };

const options = (over: Partial<PlanOptions> = {}): PlanOptions => ({
  keys,
  fence,
  partition: PARTITION,
  allowedLatenessMs: LATENESS,
  weights: DEFAULT_ACTION_WEIGHTS,
  stateTtlSec: 7 * 24 * 3600,
  now: T0 + 2 * MINUTE,
  ...over,
});

const ev = (offset: number, userId: string, itemId: string, action: Action, occurredAt: number): PositionedEvent => {
  const event: BehaviorEvent = {
    v: 1,
    eventId: `e${offset}`,
    userId,
    itemId,
    action,
    occurredAt,
    receivedAt: occurredAt,
  };
  return { event, offset: String(offset) };
};

const catalogue = new Map<string, ItemInfo>([
  ['i1', { category: 'pets', tags: ['cute', 'dog', 'long'] }],
  ['i2', { category: 'news', tags: ['cute'] }],
  ['i4', { category: null, tags: ['dog'] }],
]);

/** Offsets 100…105 on partition 3, three users, one item the catalogue does not know (i9). */
const batch: PositionedEvent[] = [
  ev(100, 'u1', 'i1', 'CLICK', T0 + 10 * SECOND),
  ev(101, 'u2', 'i2', 'LIKE', T0 + 20 * SECOND),
  ev(102, 'u1', 'i2', 'VIEW', T0 + 70 * SECOND),
  ev(103, 'u3', 'i9', 'SKIP', T0 + 5 * MINUTE + SECOND),
  ev(104, 'u1', 'i1', 'SHARE', T0 + 30 * SECOND),
  ev(105, 'u2', 'i4', 'HIDE', T0 - 1),
];

const contribution = (over: Partial<Contribution> & Pick<Contribution, 'offset' | 'itemId'>): Contribution => ({
  userId: 'u1',
  eventId: `e${over.offset}`,
  category: 'pets',
  tags: [],
  action: 'LIKE',
  occurredAt: T0,
  weight: 3,
  partners: [],
  capped: false,
  ...over,
  clock: over.clock ?? over.occurredAt ?? T0,
});

/** The numbers of an ARGV slice, for walking an encoded call the way its script does. */
const n = (value: ScriptArg | undefined) => Number(value);

/**
 * Reads an encoded apply-user call back as the script's header lays it out: the fixed ARGV, then
 * per event its fields.
 */
function readApplyUser(argv: ScriptArg[]) {
  const events: {
    offset: string;
    eventId: string;
    receivedAt: number;
    category: string;
    action: string;
    actionCode: string;
    weight: number;
    tags: string;
    cap: string;
    windows: string[];
  }[] = [];
  let i = 20;
  while (i < argv.length) {
    const k = n(argv[i + 11]);
    events.push({
      offset: String(argv[i]),
      eventId: String(argv[i + 1]),
      receivedAt: n(argv[i + 3]),
      category: String(argv[i + 5]),
      action: String(argv[i + 6]),
      actionCode: String(argv[i + 7]),
      weight: n(argv[i + 8]),
      tags: String(argv[i + 9]),
      cap: String(argv[i + 10]),
      windows: argv.slice(i + 12, i + 12 + k).map(String),
    });
    i += 12 + k;
  }
  return { capBucketMs: n(argv[19]), events, end: i };
}

/** A random batch: a few users and items, offsets ascending, event times scattered over two hours. */
function randomBatch(seed: number): { events: PositionedEvent[]; now: number } {
  const rng = createRng(seed, 'stream-plan');
  const actions: Action[] = ['VIEW', 'CLICK', 'LIKE', 'COMMENT', 'SHARE', 'SKIP', 'HIDE'];
  const count = rng.int(1, 40);
  let offset = 1000;
  const events = Array.from({ length: count }, () =>
    ev(
      (offset += rng.int(1, 4)),
      `u${rng.int(0, 5)}`,
      `i${rng.int(0, 8)}`,
      rng.pick(actions),
      T0 + rng.int(-2 * HOUR, 2 * HOUR),
    ),
  );
  return { events, now: T0 + rng.int(-HOUR, 3 * HOUR) };
}

describe('the user step plan', () => {
  const calls = planUserCalls(batch, catalogue, options());
  const byUser = (userId: string) => {
    const call = calls.find((c) => c.userId === userId);
    if (!call) throw new Error(`no call for ${userId}`);
    return call;
  };

  it('makes one call per user, in the order users first appear in the batch', () => {
    expect(calls.map((c) => c.userId)).toEqual(['u1', 'u2', 'u3']);
  });

  it("keeps a user's events in log order, with the offsets the script guards on and the partition", () => {
    expect(byUser('u1').args.events.map((e) => e.offset)).toEqual(['100', '102', '104']);
    expect(byUser('u2').args.events.map((e) => e.offset)).toEqual(['101', '105']);
    expect(byUser('u1').args.events.map((e) => e.eventId)).toEqual(['e100', 'e102', 'e104']);
    for (const call of calls) {
      expect(call.args.partition).toBe(PARTITION);
      expect(call.args.allowedLatenessMs).toBe(LATENESS);
      expect(call.args.now).toBe(T0 + 2 * MINUTE);
    }
  });

  it("addresses only the user's own keys, all under the user's hash tag", () => {
    const call = byUser('u2');
    expect(call.keys.state).toBe('t:{u:u2}:state');
    for (const key of [
      call.keys.state,
      call.keys.seen,
      call.keys.recent,
      call.keys.positive,
      call.keys.hidden,
      call.keys.affinity,
      call.keys.windows,
      call.keys.pending,
    ])
      expect(key.startsWith('t:{u:u2}:')).toBe(true);
  });

  /** The window field prefix of the bucket holding `t`. */
  const field = (name: '5m' | '1h', t: number) => {
    const { bucketMs } = WINDOW_SPEC[name];
    return `${name}:${Math.floor(t / bucketMs).toString(36)}`;
  };

  /** The cap field prefix of the trending bucket holding `t`. */
  const capField = (t: number) => `c:${Math.floor(t / TRENDING_BUCKET_MS).toString(36)}`;

  it("names each event's window fields and cap field in the user's windows hash", () => {
    const call = byUser('u1');
    // 100 (T0+10s) and 104 (T0+30s) share both buckets; 102 (T0+70s) is the next minute, same 5
    // minutes. All three share the cap fields of the trending bucket T0.
    expect(call.keys.windows).toBe('t:{u:u1}:win');
    expect(call.args.events.map((e) => e.windows)).toEqual([
      [field('5m', T0), field('1h', T0)],
      [field('5m', T0 + MINUTE), field('1h', T0)],
      [field('5m', T0), field('1h', T0)],
    ]);
    expect(call.args.events.map((e) => e.cap)).toEqual([capField(T0), capField(T0), capField(T0)]);
    // now = T0+2m, lateness 2m: the windows hash lives until the 1-hour window has passed its
    // newest bucket (start + width + length) plus the lateness, counted from now, and at least as
    // long as a cap field matters: while its trending bucket can take events, and 10 minutes.
    expect(call.args.windowsTtlSec).toBe((5 * MINUTE + HOUR + LATENESS - 2 * MINUTE) / SECOND); // 3900
    expect(call.args.windowSpec).toBe('5m:60000:300000,1h:300000:3600000');
    expect(call.args.capBucketMs).toBe(TRENDING_BUCKET_MS);
  });

  it("names no window `c`, the cap fields' prefix", () => {
    const names = byUser('u1')
      .args.windowSpec.split(',')
      .map((w) => w.split(':')[0]);
    expect(names).toEqual(Object.keys(WINDOW_SPEC));
    expect(names).not.toContain('c');
  });

  it('an event just before a bucket boundary lands in the previous bucket of both windows and of the caps', () => {
    const call = byUser('u2');
    // 101 at T0+20s; 105 at T0−1ms: the minute and the five minutes before T0.
    expect(call.args.events.map((e) => e.windows)).toEqual([
      [field('5m', T0), field('1h', T0)],
      [field('5m', T0 - 1), field('1h', T0 - 1)],
    ]);
    expect(field('5m', T0 - 1)).not.toBe(field('5m', T0));
    expect(field('1h', T0 - 1)).not.toBe(field('1h', T0));
    expect(call.args.events.map((e) => e.cap)).toEqual([capField(T0), capField(T0 - 1)]);
    expect(capField(T0 - 1)).not.toBe(capField(T0));
  });

  it('rounds a TTL up to the whole second and never sets one below the floor', () => {
    // A day-old event: its windows need nothing, but its cap field is kept for the cap's floor.
    const [late] = planUserCalls([ev(7, 'u1', 'i1', 'LIKE', T0 - 24 * HOUR)], catalogue, options({ now: T0 }));
    expect(late?.args.windowsTtlSec).toBe(CAP_TTL_FLOOR_SEC);

    const [justAfter] = planUserCalls([ev(7, 'u1', 'i1', 'LIKE', T0)], catalogue, options({ now: T0 + 1 }));
    // 3,900,000 ms − 1 ms rounds up to 3,900 s.
    expect(justAfter?.args.windowsTtlSec).toBe((5 * MINUTE + HOUR + LATENESS) / SECOND);
  });

  it('weighs each event with the action weights it is given', () => {
    const weights: ActionWeights = { ...DEFAULT_ACTION_WEIGHTS, CLICK: 7, VIEW: 0.25, SHARE: 11 };
    const [u1] = planUserCalls(batch, catalogue, options({ weights }));
    expect(u1?.args.events.map((e) => [e.action, e.weight])).toEqual([
      ['CLICK', 7],
      ['VIEW', 0.25],
      ['SHARE', 11],
    ]);
    const defaults = planUserCalls(batch, catalogue, options());
    expect(defaults.flatMap((c) => c.args.events.map((e) => e.weight))).toEqual([1, 0.5, 6, 3, -6, -1]);
  });

  it('counts events on items without a catalogue category under the unknown category', () => {
    expect(byUser('u1').args.events.map((e) => e.category)).toEqual(['pets', 'news', 'pets']);
    expect(byUser('u2').args.events.map((e) => e.category)).toEqual(['news', '_unknown']); // i4: category null
    expect(byUser('u3').args.events.map((e) => e.category)).toEqual(['_unknown']); // i9: not in the catalogue
  });

  it('carries only the item tags the pattern rules look at, and none without rules', () => {
    expect(calls.flatMap((c) => c.args.events.map((e) => e.tags))).toEqual([[], [], [], [], [], []]);
    const tagged = planUserCalls(batch, catalogue, options({ tagFilter: new Set(['dog', 'cute']) }));
    expect(tagged.flatMap((c) => c.args.events.map((e) => [e.itemId, e.tags]))).toEqual([
      ['i1', ['cute', 'dog']],
      ['i2', ['cute']],
      ['i1', ['cute', 'dog']],
      ['i2', ['cute']],
      ['i4', ['dog']],
      ['i9', []],
    ]);
  });

  it('plans nothing for an empty batch', () => {
    expect(planUserCalls([], catalogue, options())).toEqual([]);
  });

  it('encodes to the layout of apply-user.lua: the fixed ARGV, then each event', () => {
    for (const call of planUserCalls(batch, catalogue, options({ tagFilter: new Set(['dog']) }))) {
      const encodedKeys = scripts.applyUser.keys(call.keys);
      const argv = scripts.applyUser.argv(call.args);
      expect(encodedKeys).toHaveLength(9);
      expect([encodedKeys[0], argv[0]]).toEqual([fence.key, fence.epoch]);
      expect(encodedKeys[7]).toBe(call.keys.windows);
      expect(encodedKeys[8]).toBe(`t:{u:${call.userId}}:pend:${PARTITION}`);
      expect(argv.slice(14, 19)).toEqual([30 * SECOND, 3, '-1', call.args.windowsTtlSec, call.args.windowSpec]);
      const read = readApplyUser(argv);
      expect(read.capBucketMs).toBe(TRENDING_BUCKET_MS);
      expect(read.end).toBe(argv.length);
      expect(read.events.map((e) => e.offset)).toEqual(call.args.events.map((e) => e.offset));
      for (const [i, e] of read.events.entries()) {
        const planned = call.args.events[i];
        expect(e.eventId).toBe(planned?.eventId);
        expect(e.category).toBe(planned?.category);
        expect(e.weight).toBe(planned?.weight);
        expect(e.tags).toBe(planned?.tags.join(','));
        expect(e.receivedAt).toBe(planned?.receivedAt);
        expect([e.action, e.actionCode]).toEqual([planned?.action, ACTION_CODES[planned?.action ?? '']]);
        const t = planned?.occurredAt ?? NaN;
        expect(e.cap).toBe(`c:${Math.floor(t / TRENDING_BUCKET_MS).toString(36)}`);
        expect(e.windows).toEqual([
          `5m:${Math.floor(t / MINUTE).toString(36)}`,
          `1h:${Math.floor(t / (5 * MINUTE)).toString(36)}`,
        ]);
      }
    }
  });

  it('holds on random batches: grouping, log order, one bucket per window, TTLs covering windows, caps and lateness', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const { events, now } = randomBatch(seed);
      const planned = planUserCalls(events, catalogue, options({ now }));
      const users = [...new Set(events.map((e) => e.event.userId))];
      expect(planned.map((c) => c.userId)).toEqual(users);
      for (const call of planned) {
        const own = events.filter((e) => e.event.userId === call.userId);
        expect(call.args.events.map((e) => e.offset)).toEqual(own.map((e) => e.offset));
        const ttl = call.args.windowsTtlSec;
        expect(Number.isInteger(ttl)).toBe(true);
        expect(ttl).toBeGreaterThanOrEqual(TTL_FLOOR_SEC);
        for (const e of call.args.events) {
          const expected = Object.entries(WINDOW_SPEC).map(
            ([name, { bucketMs }]) => `${name}:${Math.floor(e.occurredAt / bucketMs).toString(36)}`,
          );
          expect(e.windows).toEqual(expected);
          // The windows hash outlives every bucket the call writes, until its window has passed it.
          for (const [name, spec] of Object.entries(WINDOW_SPEC)) {
            const start = Math.floor(e.occurredAt / spec.bucketMs) * spec.bucketMs;
            expect(now + ttl * SECOND, name).toBeGreaterThanOrEqual(start + spec.lengthMs + LATENESS);
          }
          // ... and its cap field while its trending bucket can take events, and at least 10 minutes.
          const trending = Math.floor(e.occurredAt / TRENDING_BUCKET_MS);
          expect(e.cap).toBe(`c:${trending.toString(36)}`);
          expect(now + ttl * SECOND).toBeGreaterThanOrEqual((trending + 1) * TRENDING_BUCKET_MS + LATENESS);
          expect(ttl).toBeGreaterThanOrEqual(CAP_TTL_FLOOR_SEC);
        }
      }
    }
  });
});

describe('contributions handed from the user step to the second step', () => {
  it("takes the reply's rows as the user's contributions, with typed actions", () => {
    const rows = [
      {
        offset: '12',
        itemId: 'i1',
        category: 'pets',
        action: 'LIKE',
        occurredAt: T0,
        weight: 3,
        partners: ['i2'],
        eventId: 'e12',
        capped: false,
        clock: T0,
        tags: ['cute'],
      },
      // A row written before rows carried the eventId and tags.
      {
        offset: '13',
        itemId: 'i2',
        category: 'news',
        action: 'VIEW',
        occurredAt: T0,
        weight: 0.5,
        partners: [],
        eventId: '',
        tags: [],
        capped: false,
        clock: T0,
      },
    ];
    expect(userContributions(rows, 'u7')).toEqual([
      { ...rows[0], userId: 'u7', action: 'LIKE' },
      { ...rows[1], userId: 'u7', action: 'VIEW' },
    ]);
  });

  it('refuses a row whose action the service does not know', () => {
    const row = {
      offset: '1',
      itemId: 'i1',
      category: 'c',
      action: 'POKE',
      occurredAt: T0,
      weight: 1,
      partners: [],
      eventId: 'e1',
      tags: [],
      capped: false,
      clock: T0,
    };
    expect(() => userContributions([row], 'u1')).toThrow(/unknown action "POKE"/);
  });

  it('orders contributions by numeric offset, one per offset, whatever order they come in', () => {
    const offsets = ['10', '9', '100', '11', '2', '9007199254740993', '9007199254740992'];
    const sorted = ['2', '9', '10', '11', '100', '9007199254740992', '9007199254740993'];
    const all = offsets.map((offset) => contribution({ offset, itemId: `i${offset}` }));
    const rng = createRng(7, 'order');
    for (let round = 0; round < 50; round++) {
      const shuffled = rng.shuffle([...all]);
      expect(orderContributions(shuffled).map((c) => c.offset)).toEqual(sorted);
    }
    // A redelivered batch hands back what it left plus what it counted now: one entry per offset.
    const twice = orderContributions([...all, ...all.slice(0, 3)]);
    expect(twice.map((c) => c.offset)).toEqual(sorted);
  });
});

describe('the item step plan', () => {
  const contributions = [
    contribution({
      offset: '10',
      itemId: 'i1',
      action: 'LIKE',
      weight: 3,
      occurredAt: T0 + 10 * SECOND,
      partners: ['i2', 'i3'],
    }),
    contribution({
      offset: '11',
      userId: 'u2',
      itemId: 'i2',
      category: 'news',
      action: 'CLICK',
      weight: 1,
      occurredAt: T0 + 6 * MINUTE,
    }),
    contribution({ offset: '12', itemId: 'i1', action: 'VIEW', weight: 0.5, occurredAt: T0 + 50 * SECOND }),
  ];
  const calls = planItemCalls([{ partition: PARTITION, contributions }], options());
  const byItem = (itemId: string) => {
    const call = calls.find((c) => c.keys.stats === keys.itemStats(itemId));
    if (!call) throw new Error(`no call for ${itemId}`);
    return call;
  };

  it('makes one call per item an event touched, its own or as a co-visitation partner', () => {
    expect(calls.map((c) => c.keys.stats)).toEqual(['t:{i:i1}:stats', 't:{i:i2}:stats', 't:{i:i3}:stats']);
    for (const call of calls) {
      const tag = /^t:\{i:[^}]+\}/.exec(call.keys.stats)?.[0] ?? '?';
      for (const key of [call.keys.covisit, call.keys.meta]) expect(key.startsWith(`${tag}:`)).toBe(true);
      expect(call.args.partitions).toEqual([PARTITION]);
    }
  });

  it("counts an item's own events in its window fields, with their actions and weights", () => {
    const i1 = byItem('i1');
    const w = windowField;
    expect(i1.args.contributions).toEqual([
      {
        partition: PARTITION,
        offset: '10',
        occurredAt: T0 + 10 * SECOND,
        action: 'LIKE',
        weight: 3,
        windows: [w('5m', T0), w('1h', T0)],
        partners: ['i2', 'i3'],
      },
      {
        partition: PARTITION,
        offset: '12',
        occurredAt: T0 + 50 * SECOND,
        action: 'VIEW',
        weight: 0.5,
        windows: [w('5m', T0), w('1h', T0)],
        partners: [],
      },
    ]);
    expect(i1.args.catalogued).toBe(true);
    expect(i1.args.windowSpec).toBe('5m:60000:300000,1h:300000:3600000');
  });

  it('carries co-visitation both ways: the event names its partners, each partner gets the event’s item', () => {
    // i1's event at offset 10 names i2 and i3 as partners: each gets a co-visit of it.
    const coVisitOfI1 = { partition: PARTITION, offset: '10', partner: 'i1' };
    const i2 = byItem('i2');
    // T0+6m: the 5m window's minute T0+6m, the 1h window's five minutes from T0+5m.
    expect(i2.args.coVisits).toEqual([coVisitOfI1]);
    expect(i2.args.contributions).toEqual([
      {
        partition: PARTITION,
        offset: '11',
        occurredAt: T0 + 6 * MINUTE,
        action: 'CLICK',
        weight: 1,
        windows: [windowField('5m', T0 + 6 * MINUTE), windowField('1h', T0 + 5 * MINUTE)],
        partners: [],
      },
    ]);
    expect(i2.args.catalogued).toBe(true);
    // A partner-only item counts nothing in windows, and the worker has not read its catalogue entry.
    const i3 = byItem('i3');
    expect(i3.args.catalogued).toBe(false);
    expect(i3.args.coVisits).toEqual([coVisitOfI1]);
    expect(i3.args.contributions).toEqual([]);
    expect(byItem('i1').args.coVisits).toEqual([]);
  });

  it('gives a capped repeat no weight on the item (no popularity) but still counts it in windows and totals', () => {
    const [call] = planItemCalls(
      [
        {
          partition: PARTITION,
          contributions: [
            contribution({ offset: '30', itemId: 'i1', action: 'LIKE', weight: 3, occurredAt: T0, capped: true }),
          ],
        },
      ],
      options(),
    );
    expect(call?.args.contributions).toEqual([
      {
        partition: PARTITION,
        offset: '30',
        occurredAt: T0,
        action: 'LIKE',
        weight: 0,
        windows: [windowField('5m', T0), windowField('1h', T0)],
        partners: [],
      },
    ]);
    expect(call?.keys.meta).toBe('t:{i:i1}:meta');
    expect(call?.args.uncataloguedTtlSec).toBe(3600);
  });

  it('hands every call its contributions in ascending offsets, as apply-item.lua requires', () => {
    for (const call of planItemCalls(
      [{ partition: PARTITION, contributions: orderContributions([...contributions].reverse()) }],
      options(),
    )) {
      for (const list of [call.args.contributions, call.args.coVisits]) {
        const offsets = list.map((c) => BigInt(c.offset));
        expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      }
    }
  });

  it("splits a popular item's share into calls of at most 500, each partition's offsets ascending from call to call", () => {
    const many = (partition: number, from: number) => ({
      partition,
      contributions: Array.from({ length: 400 }, (_, i) =>
        contribution({ offset: String(from + i), itemId: 'hot', action: 'VIEW', weight: 0.5, occurredAt: T0 }),
      ),
    });
    const split = planItemCalls([many(0, 1000), many(1, 5000)], options());
    expect(split.map((c) => c.args.contributions.length)).toEqual([500, 300]);
    expect(split.map((c) => c.args.partitions)).toEqual([[0, 1], [1]]);
    expect(split.every((c) => c.args.catalogued)).toBe(true);
    const seen = new Map<number, number>();
    for (const call of split)
      for (const c of call.args.contributions) {
        expect(Number(c.offset)).toBeGreaterThan(seen.get(c.partition) ?? -1);
        seen.set(c.partition, Number(c.offset));
      }
    const trending = planTrendingCalls([many(0, 1000), many(1, 5000)], options());
    expect(
      trending.filter((c) => c.keys.state === keys.trendingState('_all')).map((c) => c.args.contributions.length),
    ).toEqual([500, 300]);
  });

  it('encodes to the layout of apply-item.lua', () => {
    for (const call of calls) {
      const argv = scripts.applyItem.argv(call.args);
      expect(scripts.applyItem.keys(call.keys)).toEqual([
        fence.key,
        call.keys.stats,
        call.keys.covisit,
        call.keys.meta,
      ]);
      expect(argv[0]).toBe(fence.epoch);
      expect(argv[9]).toBe(call.args.catalogued ? 1 : 0);
      expect(argv[11]).toBe(call.args.windowSpec);
      expect(argv[1]).toBe(call.args.partitions.join(','));
      // Other items' events naming this one go packed in one argument.
      expect(argv[12]).toBe(call.args.coVisits.map((c) => `${c.partition} ${c.offset} ${c.partner}`).join(';'));
      // Then each of the item's own events: its window fields, then its partners in one argument.
      expect(argv).toHaveLength(13 + call.args.contributions.reduce((s, c) => s + 7 + c.windows.length, 0));
      let i = 13;
      for (const c of call.args.contributions) {
        expect(argv.slice(i, i + 6)).toEqual([
          c.partition,
          c.offset,
          c.occurredAt,
          c.action,
          c.weight,
          c.windows.length,
        ]);
        expect(argv.slice(i + 6, i + 6 + c.windows.length)).toEqual(c.windows);
        expect(argv[i + 6 + c.windows.length]).toBe(c.partners.join(','));
        i += 7 + c.windows.length;
      }
    }
  });
});

describe('the trending step plan', () => {
  const contributions = [
    contribution({ offset: '20', itemId: 'i1', category: 'pets', weight: 3, occurredAt: T0 + MINUTE }),
    contribution({ offset: '21', itemId: 'i9', category: '_unknown', weight: -1, occurredAt: T0 + 4 * MINUTE }),
    contribution({ offset: '22', itemId: 'i2', category: 'news', weight: 6, occurredAt: T0 + 5 * MINUTE }),
    contribution({ offset: '23', itemId: 'i1', category: 'pets', weight: 1, occurredAt: T0 - SECOND }),
    contribution({ offset: '24', itemId: 'i1', category: 'pets', weight: 3, occurredAt: T0, capped: true }),
  ];
  const calls = planTrendingCalls([{ partition: PARTITION, contributions }], options());
  const scope = (name: string) => {
    const call = calls.find((c) => c.keys.state === keys.trendingState(name));
    if (!call) throw new Error(`no call for ${name}`);
    return call;
  };

  it('counts events on catalogued items in the global scope and their category; uncatalogued items and capped repeats nowhere', () => {
    expect(calls.map((c) => c.keys.state)).toEqual(['t:{t:_all}:state', 't:{t:pets}:state', 't:{t:news}:state']);
    expect(scope('_all').args.contributions.map((c) => c.offset)).toEqual(['20', '22', '23']);
    expect(scope('pets').args.contributions.map((c) => c.offset)).toEqual(['20', '23']);
    expect(scope('news').args.contributions.map((c) => c.offset)).toEqual(['22']);
    expect(calls.some((c) => c.keys.state.includes('_unknown'))).toBe(false);
  });

  it('puts each event in its 5-minute bucket of the scope, each bucket once, alive for the hour it is read plus the lateness', () => {
    const all = scope('_all');
    expect(all.keys.buckets).toEqual([
      `t:{t:_all}:${T0}`,
      `t:{t:_all}:${T0 + 5 * MINUTE}`,
      `t:{t:_all}:${T0 - 5 * MINUTE}`,
    ]);
    expect(all.args.contributions).toEqual([
      { partition: PARTITION, offset: '20', itemId: 'i1', weight: 3, bucket: 1 },
      { partition: PARTITION, offset: '22', itemId: 'i2', weight: 6, bucket: 2 },
      { partition: PARTITION, offset: '23', itemId: 'i1', weight: 1, bucket: 3 },
    ]);
    const now = T0 + 2 * MINUTE;
    expect(all.args.bucketTtlSec).toEqual(
      [T0, T0 + 5 * MINUTE, T0 - 5 * MINUTE].map(
        (start) => (start + TRENDING_BUCKET_MS + TRENDING_HORIZON_MS + LATENESS - now) / SECOND,
      ),
    );
    expect(scope('pets').keys.buckets).toEqual([`t:{t:pets}:${T0}`, `t:{t:pets}:${T0 - 5 * MINUTE}`]);
    for (const call of calls) expect(call.args.partitions).toEqual([PARTITION]);
  });

  it('encodes to the layout of apply-trending.lua', () => {
    for (const call of calls) {
      const argv = scripts.applyTrending.argv(call.args);
      const b = call.keys.buckets.length;
      expect(scripts.applyTrending.keys(call.keys)).toHaveLength(2 + b);
      expect([scripts.applyTrending.keys(call.keys)[0], argv[0]]).toEqual([fence.key, fence.epoch]);
      expect(argv[1]).toBe(String(PARTITION));
      // The contributions packed in one argument, then one TTL per bucket key.
      expect(argv[3]).toBe(
        call.args.contributions.map((c) => `${c.partition} ${c.offset} ${c.itemId} ${c.weight} ${c.bucket}`).join(';'),
      );
      expect(argv.slice(4)).toEqual(call.args.bucketTtlSec);
      expect(call.args.bucketTtlSec).toHaveLength(b);
    }
  });

  it('plans nothing when nothing was counted', () => {
    expect(planTrendingCalls([], options())).toEqual([]);
    expect(planItemCalls([], options())).toEqual([]);
  });
});
