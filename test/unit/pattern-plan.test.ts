import { describe, expect, it } from 'vitest';
import { TTL_REFRESH_MS } from '../../src/features/definitions.js';
import { redisKeys } from '../../src/core/keys.js';
import { compilePatterns, patternMember, planPatternCalls } from '../../src/patterns/plan.js';
import { parsePatternRules } from '../../src/patterns/rules.js';
import { scripts } from '../../src/redis/scripts.js';
import type { Contribution } from '../../src/streams/plan.js';

const T0 = 1_700_000_100_000;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const keys = redisKeys('p');

/** Four rules, one of each shape: strict with a span, strict with gaps only, relaxed, single-step on tags. */
const rules = parsePatternRules(
  JSON.stringify({
    rules: [
      {
        id: 'pet_lover',
        steps: [
          { action: 'CLICK', category: 'pets' },
          { action: 'CLICK', category: 'pets' },
          { action: 'CLICK', category: 'pets' },
        ],
        contiguity: 'strict',
        within: '1m',
        tag: 'pet_lover',
        tagTtl: '1h',
        reason: '{count} pet videos in a row',
      },
      {
        id: 'skip_streak',
        steps: [
          { action: ['SKIP', 'HIDE'] },
          { action: ['SKIP', 'HIDE'], maxGap: '20s' },
          { action: 'SKIP', maxGap: '25s' },
        ],
        contiguity: 'strict',
        tag: 'skipping',
        tagTtl: '10m',
        reason: 'skipped {count} items in a row',
      },
      {
        id: 'sharer',
        steps: [{ action: 'LIKE' }, { action: 'SHARE', maxGap: '1m' }],
        contiguity: 'relaxed',
        within: '5m',
        tag: 'sharer',
        tagTtl: '2h',
        reason: 'liked and then shared within {span}',
      },
      {
        id: 'cute_fan',
        steps: [{ tags: ['cute', 'fluffy'], category: ['pets', 'kids'] }],
        contiguity: 'relaxed',
        tag: 'cute_fan',
        tagTtl: '30m',
        reason: 'likes cute things',
      },
    ],
  }),
  'patterns.test.json',
);
const patterns = compilePatterns(rules);

const c = (over: Partial<Contribution> & Pick<Contribution, 'offset'>): Contribution => ({
  userId: 'u1',
  eventId: `e${over.offset}`,
  itemId: 'i1',
  category: 'pets',
  tags: [],
  action: 'CLICK',
  occurredAt: T0,
  weight: 1,
  partners: [],
  capped: false,
  ...over,
  clock: over.clock ?? over.occurredAt ?? T0,
});

const fence = { key: keys.streamEpoch('g'), epoch: 'e-1' };
const planOptions = {
  keys,
  fence,
  partition: 4,
  allowedLatenessMs: 2 * MINUTE,
  stateTtlSec: 86_400,
  now: T0,
  patterns,
};

describe('compiled pattern rules', () => {
  it('hands the match script every rule in file order with its strictness, bounds, tag and steps', () => {
    // A step's actions: their codes, as members name them, then their names (members written before the codes).
    expect(JSON.parse(patterns.json)).toEqual([
      {
        id: 'pet_lover',
        strict: 1,
        within: MINUTE,
        span: MINUTE,
        tag: 'pet_lover',
        ttl: 60 * MINUTE,
        reason: '{count} pet videos in a row',
        steps: [
          { a: ['c', 'CLICK'], c: ['pets'], gap: -1 },
          { a: ['c', 'CLICK'], c: ['pets'], gap: -1 },
          { a: ['c', 'CLICK'], c: ['pets'], gap: -1 },
        ],
      },
      {
        id: 'skip_streak',
        strict: 1,
        within: -1,
        span: 45 * SECOND, // the gaps added up: 20s + 25s
        tag: 'skipping',
        ttl: 10 * MINUTE,
        reason: 'skipped {count} items in a row',
        steps: [
          { a: ['k', 'h', 'SKIP', 'HIDE'], gap: -1 },
          { a: ['k', 'h', 'SKIP', 'HIDE'], gap: 20 * SECOND },
          { a: ['k', 'SKIP'], gap: 25 * SECOND },
        ],
      },
      {
        id: 'sharer',
        strict: 0,
        within: 5 * MINUTE,
        span: MINUTE, // the gap bounds it tighter than "within"
        tag: 'sharer',
        ttl: 120 * MINUTE,
        reason: 'liked and then shared within {span}',
        steps: [
          { a: ['l', 'LIKE'], gap: -1 },
          { a: ['s', 'SHARE'], gap: MINUTE },
        ],
      },
      {
        id: 'cute_fan',
        strict: 0,
        within: -1,
        span: 0, // a single step spans no time
        tag: 'cute_fan',
        ttl: 30 * MINUTE,
        reason: 'likes cute things',
        steps: [{ c: ['pets', 'kids'], g: ['cute', 'fluffy'], gap: -1 }],
      },
    ]);
  });

  it('keeps events for the longest span of any rule, and carries only the tags rules look at', () => {
    expect(patterns.horizonMs).toBe(MINUTE);
    expect([...patterns.tagFilter].sort()).toEqual(['cute', 'fluffy']);
    expect(compilePatterns([]).horizonMs).toBe(0);
    expect(compilePatterns([]).json).toBe('[]');
  });

  it('marks, per rule in order, whether an event fits one of its steps', () => {
    expect(patterns.relevance(c({ offset: '1', action: 'CLICK', category: 'pets' }))).toBe('1000');
    expect(patterns.relevance(c({ offset: '1', action: 'CLICK', category: 'news' }))).toBe('0000');
    expect(patterns.relevance(c({ offset: '1', action: 'HIDE', category: 'news' }))).toBe('0100');
    expect(patterns.relevance(c({ offset: '1', action: 'SHARE', category: 'news' }))).toBe('0010');
    // Tags: any one of the step's tags, and the step's category too.
    expect(patterns.relevance(c({ offset: '1', action: 'LIKE', category: 'kids', tags: ['fluffy'] }))).toBe('0011');
    expect(patterns.relevance(c({ offset: '1', action: 'CLICK', category: 'pets', tags: ['cute'] }))).toBe('1001');
    expect(patterns.relevance(c({ offset: '1', action: 'VIEW', category: 'news', tags: ['cute'] }))).toBe('0000');
  });
});

describe('the pattern step plan', () => {
  const contributions = [
    c({ offset: '7', userId: 'u1', action: 'CLICK', category: 'pets', tags: ['cute'], occurredAt: T0 + 1 }),
    c({ offset: '8', userId: 'u2', action: 'VIEW', category: 'news', occurredAt: T0 + 2 }),
    c({ offset: '9', userId: 'u1', action: 'VIEW', category: 'news', occurredAt: T0 + 3 }),
    c({ offset: '10', userId: 'u3', action: 'LIKE', eventId: '', occurredAt: T0 + 4 }),
    c({ offset: '11', userId: 'u1', action: 'SKIP', category: 'news', occurredAt: T0 - 5 }),
  ];
  const calls = planPatternCalls(contributions, planOptions);

  it('makes one call per user, with their events in offset order and each event’s rule mask', () => {
    expect(calls.map((call) => call.userId)).toEqual(['u1', 'u2']);
    const [u1, u2] = calls;
    expect(u1?.args.events).toEqual([
      {
        offset: '7',
        occurredAt: T0 + 1,
        clock: T0 + 1,
        member: '17|e7|c|pets|cute',
        mask: '1001',
      },
      { offset: '9', occurredAt: T0 + 3, clock: T0 + 3, member: '19|e9|v|news|', mask: '0000' },
      { offset: '11', occurredAt: T0 - 5, clock: T0 - 5, member: '1b|e11|k|news|', mask: '0100' },
    ]);
    expect(u2?.args.events.map((e) => e.mask)).toEqual(['0000']);
  });

  it('sends events that fit no rule too, marked so: they break strict runs', () => {
    const strictBreaker = planPatternCalls([c({ offset: '3', action: 'VIEW', category: 'news' })], planOptions);
    expect(strictBreaker.map((call) => call.args.events.map((e) => e.mask))).toEqual([['0000']]);
  });

  it('skips rows without an event id (written before rows carried one): a user with only those gets no call', () => {
    expect(calls.some((call) => call.userId === 'u3')).toBe(false);
    expect(planPatternCalls([c({ offset: '1', eventId: '' })], planOptions)).toEqual([]);
    expect(planPatternCalls([], planOptions)).toEqual([]);
  });

  it("uses only the user's keys and the compiled rules, horizon and guard fields", () => {
    const [u1] = calls;
    expect(u1?.keys).toEqual({
      epoch: fence.key,
      state: 'p:{u:u1}:pat',
      events: 'p:{u:u1}:pat:ev',
      fired: 'p:{u:u1}:pat:fired',
      log: 'p:{u:u1}:pat:log',
      tags: 'p:{u:u1}:tags',
    });
    expect(u1?.args).toMatchObject({
      epoch: fence.epoch,
      partition: 4,
      allowedLatenessMs: 2 * MINUTE,
      stateTtlSec: 86_400,
      horizonMs: MINUTE,
      now: T0,
      ttlRefreshMs: TTL_REFRESH_MS,
      rulesJson: patterns.json,
    });
  });

  it('members sort by offset as text, so events of one event time keep their log order', () => {
    const offsets = ['0', '9', '10', '35', '36', '1295', '1296', '100', '9223372036854775807', '12345678901234567890'];
    const members = offsets
      .map((offset) => ({ offset, member: patternMember(c({ offset })) }))
      .sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
    expect(members.map((m) => m.member).sort()).toEqual(members.map((m) => m.member));
    expect(members.map((m) => m.member.split('|')[0])).toEqual([
      '10',
      '19',
      '1a',
      '1z',
      '210',
      '22s',
      '2zz',
      '3100',
      'd1y2p0ij32e8e7',
      'd2lsohxawjui8i',
    ]);
    // Members an earlier version wrote (the offset zero-padded to 13 digits) sort before these.
    expect('0000000000zzz|e|VIEW|news|' < patternMember(c({ offset: '0' }))).toBe(true);
  });

  it('encodes to the layout of match-user.lua: ten fixed arguments, then five per event', () => {
    for (const call of calls) {
      expect(scripts.matchPatterns.keys(call.keys)).toHaveLength(6);
      const argv = scripts.matchPatterns.argv(call.args);
      expect(argv.slice(0, 10)).toEqual([
        fence.epoch,
        4,
        2 * MINUTE,
        86_400,
        128,
        MINUTE,
        100,
        T0,
        TTL_REFRESH_MS,
        patterns.json,
      ]);
      expect(argv).toHaveLength(10 + 5 * call.args.events.length);
      const masks = argv.slice(10).filter((_, i) => i % 5 === 4);
      expect(masks.every((m) => typeof m === 'string' && m.length === rules.length)).toBe(true);
    }
  });
});
