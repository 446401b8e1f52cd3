import type { RedisClient } from '../src/redis/client.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PATTERN_BUFFER_MAX } from '../src/features/definitions.js';
import { readUserRealtimeBatch } from '../src/features/user-features.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { readPatternMatchesBatch, type PatternMatch } from '../src/patterns/matches.js';
import { redisKeys } from '../src/core/keys.js';
import { createApplier } from '../src/streams/apply.js';
import { encodeEvent, type BehaviorEvent } from '../src/core/events.js';
import { createFeatureWorker, type FeatureWorker } from '../src/streams/feature-worker.js';
import { createKafka, type Producer } from '../src/streams/kafka.js';
import type { PositionedEvent } from '../src/streams/plan.js';
import { topicNames } from '../src/core/topics.js';
import {
  createTestTopics,
  eventually,
  publishCatalogueRecords,
  streamProgressAtLogEnd,
  uniquePrefix,
  testRedis,
} from './helpers.js';
import {
  countedByUser,
  expectMatchesEqualReference,
  ITEMS,
  randomPatternEvents,
  referenceMatches,
  TEST_RULES,
} from './pattern-reference.js';

const LATENESS = 120_000;
const prefix = uniquePrefix('patterns');
const topics = topicNames(`${prefix}.`);
const keys = redisKeys(prefix);
const groupId = `${prefix}-group`;
const brokers = () => inject('kafkaBrokers').split(',');

describe('behaviour patterns match on event time, exactly once', () => {
  let redis: RedisClient;
  let producer: Producer;
  let worker: FeatureWorker;
  const metrics = createMetrics();
  let undecidedSeen = 0;
  /** Records reported by the worker (after their Kafka commit). */
  let delivered = 0;

  beforeAll(async () => {
    redis = testRedis();
    const kafka = createKafka({ brokers: brokers(), clientId: 'patterns-test' });
    await createTestTopics(topics);
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await publishCatalogueRecords(producer, topics, ITEMS);
    worker = createFeatureWorker({
      kafka,
      redis,
      keys,
      topics,
      log: createLogger('silent'),
      groupId,
      allowedLatenessMs: LATENESS,
      patterns: TEST_RULES,
      metrics,
      onApplied: (s) => {
        delivered += s.events.length;
        undecidedSeen += s.patterns.users.reduce((n, u) => n + u.undecidedMatches, 0);
      },
    });
    await worker.start();
    await eventually(async () => (await redis.hget(keys.item('food-1'), 'category')) === 'food');
  });
  afterAll(async () => {
    await worker?.stop();
    await producer?.disconnect();
    redis?.disconnect();
  });

  async function produce(events: BehaviorEvent[]) {
    for (let i = 0; i < events.length; i += 250)
      await producer.send({
        topic: topics.behavior,
        acks: -1,
        messages: events.slice(i, i + 250).map((e) => ({ key: e.userId, value: encodeEvent(e) })),
      });
  }

  const appliedThroughLogEnd = () => streamProgressAtLogEnd(redis, keys, topics, groupId, 60_000);

  async function firedMatches(userIds: string[]) {
    const logs = await readPatternMatchesBatch(redis, keys, userIds);
    return new Map<string, PatternMatch[]>(userIds.map((u, i) => [u, logs[i] ?? []]));
  }

  const all: BehaviorEvent[] = [];
  const users: string[] = [];

  it('fires exactly the matches a brute-force matcher finds in event-time order, each once', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const mine = Array.from({ length: 6 }, (_, i) => `p${seed}-u${i}`);
      users.push(...mine);
      const { events } = randomPatternEvents({
        seed,
        users: mine,
        perUser: 80,
        start: Date.now() - 3600_000,
        latenessMs: LATENESS,
      });
      await produce(events);
      all.push(...events);
    }
    await appliedThroughLogEnd();

    // Every match fires as soon as it is complete, strict runs too (a late event withdraws one it
    // breaks): what is in effect is exactly what the whole log holds.
    const compared = expectMatchesEqualReference(await firedMatches(users), all, TEST_RULES, LATENESS);
    for (const rule of TEST_RULES) expect(compared.perRule[rule.id], rule.id).toBeGreaterThan(0);
    expect(compared.matches).toBeGreaterThan(100);
    expect(compared.starts - compared.matches, 'starts that did not complete').toBeGreaterThan(100);
    await eventually(async () => delivered >= all.length);
    expect(undecidedSeen, 'strict runs fired while a late event could still withdraw them').toBeGreaterThan(0);
    const withdrawn = (await metrics.patternWithdrawals.get()).values.reduce((n, v) => n + v.value, 0);
    expect(withdrawn).toBe(compared.withdrawals);

    // Not vacuous: matching in arrival order would give another answer for these streams.
    const key = (m: { userId: string; rule: string; firstEventId: string }) =>
      `${m.userId}|${m.rule}|${m.firstEventId}`;
    const truth = new Set(referenceMatches(all, TEST_RULES, LATENESS).matches.map(key));
    const naive = new Set(referenceMatches(all, TEST_RULES, LATENESS, { order: 'arrival' }).matches.map(key));
    const onlyNaive = [...naive].filter((k) => !truth.has(k));
    const onlyTruth = [...truth].filter((k) => !naive.has(k));
    expect(onlyNaive.length, 'matches a late event broke').toBeGreaterThan(0);
    expect(onlyTruth.length, 'matches a late event made').toBeGreaterThan(0);
  });

  it('decides the waiting strict runs once the users move on, and tags each user from their matches', async () => {
    // One event per user past their watermark by more than the lateness: every run is decided.
    const byUser = countedByUser(all, LATENESS);
    const flush: BehaviorEvent[] = users.map((userId) => {
      const at = (byUser.get(userId)?.wm ?? Date.now()) + LATENESS + 1000;
      return {
        v: 1,
        eventId: `flush-${userId}`,
        userId,
        itemId: 'x-1',
        action: 'VIEW',
        occurredAt: at,
        receivedAt: at,
      };
    });
    await produce(flush);
    all.push(...flush);
    await appliedThroughLogEnd();
    const fired = await firedMatches(users);
    const compared = expectMatchesEqualReference(fired, all, TEST_RULES, LATENESS);
    expect(referenceMatches(all, TEST_RULES, LATENESS, { decidedOnly: true }).matches).toHaveLength(compared.matches);

    // Each tag holds until the latest of its matches' last event + TTL (withdrawn matches count
    // for nothing), and explains that match (one of them, if several end together).
    const features = await readUserRealtimeBatch(redis, keys, users);
    let tagged = 0;
    users.forEach((userId, u) => {
      const expected: Record<string, { until: number; explains: string[] }> = {};
      const explain = (rule: string, eventIds: string[]) => `${rule}:${eventIds.join(',')}`;
      const withdrawnSeqs = new Set<string>();
      const log = fired.get(userId) ?? [];
      for (const m of log) if (m.withdrawn !== undefined) withdrawnSeqs.add(explain(m.rule, m.eventIds));
      for (const m of log) {
        if (m.withdrawn !== undefined || withdrawnSeqs.has(explain(m.rule, m.eventIds))) continue;
        const rule = TEST_RULES.find((r) => r.id === m.rule)!;
        const until = m.at + rule.tagTtlMs;
        const e = expected[rule.tag];
        if (!e || until > e.until) expected[rule.tag] = { until, explains: [explain(rule.id, m.eventIds)] };
        else if (until === e.until) e.explains.push(explain(rule.id, m.eventIds));
      }
      expect(features[u]!.tags.map((t) => t.tag).sort(), userId).toEqual(Object.keys(expected).sort());
      for (const t of features[u]!.tags) {
        expect(t.until, `${userId} ${t.tag}`).toBe(expected[t.tag]!.until);
        expect(expected[t.tag]!.explains, `${userId} ${t.tag}`).toContain(explain(t.rule, t.eventIds));
      }
      for (const t of features[u]!.tags) expect(t.since).toBeLessThanOrEqual(t.until - 24 * 3600_000);
      tagged += features[u]!.tags.length;
    });
    expect(tagged).toBeGreaterThan(users.length);

    // The metric counts each fired match once (recorded after the batch's Kafka commit: wait for it):
    // those in effect and those withdrawn since.
    const counted = async () => (await metrics.patternMatches.get()).values.reduce((n, v) => n + v.value, 0);
    await eventually(async () => delivered >= all.length);
    expect(await counted()).toBe(compared.matches + compared.withdrawals);
  });

  it('fires nothing again when the whole log is delivered again (a new consumer group, the same Redis)', async () => {
    await worker.stop();
    const before = await firedMatches(users);
    let replayed = 0;
    let fired = 0;
    worker = createFeatureWorker({
      kafka: createKafka({ brokers: brokers(), clientId: 'patterns-test-2' }),
      redis,
      keys,
      topics,
      log: createLogger('silent'),
      groupId: `${prefix}-group-2`,
      allowedLatenessMs: LATENESS,
      patterns: TEST_RULES,
      onApplied: (s) => {
        replayed += s.replayed;
        fired += s.patterns.users.reduce((n, u) => n + u.fired.length, 0);
      },
    });
    await worker.start();
    await eventually(async () => replayed >= all.length, { timeoutMs: 60_000 });
    expect(replayed).toBe(all.length);
    expect(fired).toBe(0);
    expect(await firedMatches(users)).toEqual(before);
  });
});

describe('the pattern step on its own', () => {
  const at = Date.now() - 600_000;
  let redis: RedisClient;
  beforeAll(async () => {
    redis = testRedis();
  });
  afterAll(() => redis?.disconnect());

  const setup = async (name: string) => {
    const keys = redisKeys(uniquePrefix(name));
    for (const [itemId, { category, tags }] of Object.entries(ITEMS))
      await redis.hset(keys.item(itemId), { category, tags: tags.join(',') });
    const applier = createApplier({
      redis,
      keys,
      epochKey: keys.streamEpoch('steps'),
      allowedLatenessMs: LATENESS,
      patterns: TEST_RULES,
    });
    await applier.adoptEpoch();
    let offset = 0;
    const event = (itemId: string, action: BehaviorEvent['action'], t: number): PositionedEvent => ({
      offset: String(offset++),
      event: { v: 1, eventId: `e${offset}`, userId: 'u', itemId, action, occurredAt: t, receivedAt: t },
    });
    return { keys, applier, event };
  };

  it('finishes a batch cut between the user step and the pattern step on redelivery, firing once', async () => {
    const { keys, applier, event } = await setup('pattern-cut');
    const batch = [
      event('pet-1', 'CLICK', at),
      event('pet-2', 'CLICK', at + 10_000),
      event('pet-1', 'CLICK', at + 20_000),
      event('x-1', 'VIEW', at + 20_000 + LATENESS),
    ];
    // A worker that applied the user step, then died.
    await applier.userStep(batch, await applier.readItems(batch), 0);
    expect(await redis.exists(keys.userPatternEvents('u'))).toBe(0);
    const redelivered = await applier.applyBatch(batch, 0);
    expect(redelivered.replayed).toBe(batch.length);
    expect(redelivered.patterns.users.map((u) => u.fired)).toEqual([['pets3']]);
    expect(redelivered.changed).toEqual(['u']);
    const again = await applier.applyBatch(batch, 0);
    expect(again.patterns.users).toEqual([]);
    const [log] = await readPatternMatchesBatch(redis, keys, ['u']);
    expect(log?.map((m) => [m.seq, m.rule, m.eventIds])).toEqual([[1, 'pets3', ['e1', 'e2', 'e3']]]);
  });

  it('tags at once on the completing event, and a late event that breaks the run withdraws match and tag', async () => {
    const { keys, applier, event } = await setup('pattern-at-once');
    const clicks = await applier.applyBatch(
      [event('pet-1', 'CLICK', at), event('pet-2', 'CLICK', at + 10_000), event('pet-1', 'CLICK', at + 20_000)],
      0,
    );
    expect(clicks.patterns.users[0]).toMatchObject({
      fired: ['pets3'],
      undecidedMatches: 1,
      tagChanges: ['+pet_lover'],
    });
    expect(clicks.changed).toEqual(['u']);
    const tagged = await readUserRealtimeBatch(redis, keys, ['u']);
    expect(tagged[0]?.tags.map((t) => [t.tag, t.eventIds])).toEqual([['pet_lover', ['e1', 'e2', 'e3']]]);

    // A VIEW that happened between the second and third click arrives late: no longer in a row.
    const late = await applier.applyBatch([event('x-1', 'VIEW', at + 15_000)], 0);
    expect(late.counted).toBe(1);
    expect(late.patterns.users[0]).toMatchObject({
      fired: [],
      withdrawn: ['pets3'],
      undecidedMatches: 0,
      tagChanges: ['-pet_lover'],
    });
    expect((await readUserRealtimeBatch(redis, keys, ['u']))[0]?.tags).toEqual([]);
    const [log] = await readPatternMatchesBatch(redis, keys, ['u']);
    expect(log?.map((m) => [m.seq, m.rule, m.eventIds, m.withdrawn])).toEqual([
      [1, 'pets3', ['e1', 'e2', 'e3'], undefined],
      [2, 'pets3', ['e1', 'e2', 'e3'], 'late event e4 broke the run'],
    ]);

    // Three more clicks in a row fire again; once the user moves past the lateness the run is
    // final and later events change nothing.
    const again = await applier.applyBatch(
      [
        event('pet-1', 'CLICK', at + 90_000),
        event('pet-2', 'CLICK', at + 91_000),
        event('pet-1', 'CLICK', at + 92_000),
      ],
      0,
    );
    expect(again.patterns.users[0]).toMatchObject({ fired: ['pets3'], tagChanges: ['+pet_lover'] });
    const moved = await applier.applyBatch([event('x-1', 'VIEW', at + 92_000 + LATENESS)], 0);
    expect(moved.patterns.users[0]).toMatchObject({ fired: [], withdrawn: [], undecidedMatches: 0, tagChanges: [] });
    const features = await readUserRealtimeBatch(redis, keys, ['u']);
    expect(features[0]?.tags.map((t) => [t.tag, t.eventIds])).toEqual([['pet_lover', ['e5', 'e6', 'e7']]]);
  });

  it('a late event that lands inside a run but fits it replaces the match by the new run', async () => {
    const { applier, event, keys } = await setup('pattern-changed');
    await applier.applyBatch(
      [event('pet-1', 'CLICK', at), event('pet-2', 'CLICK', at + 10_000), event('pet-1', 'CLICK', at + 20_000)],
      0,
    );
    const late = await applier.applyBatch([event('pet-2', 'CLICK', at + 5_000)], 0);
    expect(late.patterns.users[0]).toMatchObject({ withdrawn: ['pets3'], tagChanges: [] });
    const [log] = await readPatternMatchesBatch(redis, keys, ['u']);
    // The run at e1 is now e1, e4, e2; a new run starts at e4 (e4, e2, e3).
    expect(log?.map((m) => [m.rule, m.eventIds, m.withdrawn ?? 'fired'])).toEqual([
      ['pets3', ['e1', 'e2', 'e3'], 'fired'],
      ['pets3', ['e1', 'e2', 'e3'], 'a late event changed the run'],
      ['pets3', ['e1', 'e4', 'e2'], 'fired'],
      ['pets3', ['e4', 'e2', 'e3'], 'fired'],
    ]);
  });

  it('matches the brute-force reference whatever the batch boundaries, withdrawals included', async () => {
    const { keys, applier } = await setup('pattern-cuts');
    const all: BehaviorEvent[] = [];
    const users: string[] = [];
    let withdrawals = 0;
    for (const seed of [11, 12, 13, 14, 15, 16, 17, 18]) {
      const mine = Array.from({ length: 4 }, (_, i) => `c${seed}-u${i}`);
      users.push(...mine);
      const { events } = randomPatternEvents({ seed, users: mine, perUser: 70, start: at, latenessMs: LATENESS });
      // Small batches of random size (1 to 4 records, a deterministic sequence): late events
      // arrive after the runs they break have fired.
      for (let i = 0, size = 1; i < events.length; i += size, size = (size % 4) + 1) {
        const batch = events.slice(i, i + size).map((event, k) => ({ offset: String(all.length + k), event }));
        all.push(...batch.map((b) => b.event));
        const applied = await applier.applyBatch(batch, 0);
        withdrawals += applied.patterns.users.reduce((n, u) => n + u.withdrawn.length, 0);
      }
    }
    const logs = await readPatternMatchesBatch(redis, keys, users);
    const fired = new Map<string, PatternMatch[]>(users.map((u, i) => [u, logs[i] ?? []]));
    const compared = expectMatchesEqualReference(fired, all, TEST_RULES, LATENESS);
    expect(compared.matches).toBeGreaterThan(50);
    expect(compared.withdrawals, 'strict runs withdrawn by a late event').toBeGreaterThan(0);
    expect(withdrawals).toBe(compared.withdrawals);
    process.stderr.write(
      `[patterns] ${all.length} events in batches of 1–4: ${compared.matches} matches in effect, ${compared.withdrawals} withdrawn\n`,
    );
  });

  it('holds at most PATTERN_BUFFER_MAX events and admits no late event older than what it dropped', async () => {
    const { keys, applier, event } = await setup('pattern-bound');
    // The two oldest events (VIEWs at the same time) are dropped for size; the pet clicks stay.
    const dropped = [event('x-1', 'VIEW', at), event('x-1', 'VIEW', at)];
    const fillers = Array.from({ length: PATTERN_BUFFER_MAX - 3 }, (_, i) => event('x-1', 'VIEW', at + 3000 + i));
    const first = await applier.applyBatch(
      [...dropped, event('pet-1', 'CLICK', at + 1000), event('pet-2', 'CLICK', at + 2000), ...fillers],
      0,
    );
    expect(first.patterns.users[0]?.bufferedEvents).toBe(PATTERN_BUFFER_MAX - 1);
    // A pet click just before the dropped VIEWs: in event-time order they sit between it and the
    // two clicks, so the three are not "in a row". With the VIEWs gone it must not look so, even
    // once the user moves on and the run would be decided.
    const late = await applier.applyBatch([event('pet-1', 'CLICK', at - 1)], 0);
    expect(late.counted).toBe(1);
    const flush = await applier.applyBatch([event('x-1', 'VIEW', at + 10_000 + LATENESS)], 0);
    expect(flush.patterns.users[0]?.fired).toEqual([]);
    expect(await redis.zcard(keys.userPatternEvents('u'))).toBeLessThanOrEqual(PATTERN_BUFFER_MAX);
    const [log] = await readPatternMatchesBatch(redis, keys, ['u']);
    expect(log).toEqual([]);
  });
});
