import { Redis } from 'ioredis';
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
  let redis: Redis;
  let producer: Producer;
  let worker: FeatureWorker;
  const metrics = createMetrics();
  let undecidedSeen = 0;
  /** Records reported by the worker (after their Kafka commit). */
  let delivered = 0;

  beforeAll(async () => {
    redis = new Redis(inject('redisUrl'));
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

    // Strict runs near each user's latest event are not decided yet: a late event could still
    // land inside them. Everything else must have fired, and nothing more.
    const compared = expectMatchesEqualReference(await firedMatches(users), all, TEST_RULES, LATENESS, {
      decidedOnly: true,
    });
    for (const rule of TEST_RULES) expect(compared.perRule[rule.id], rule.id).toBeGreaterThan(0);
    expect(compared.matches).toBeGreaterThan(100);
    expect(compared.starts - compared.matches, 'starts that did not complete').toBeGreaterThan(100);
    await eventually(async () => delivered >= all.length);
    expect(undecidedSeen, 'strict runs waiting out the lateness').toBeGreaterThan(0);

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

    // Each tag holds until the latest of its matches' last event + TTL, and explains that match.
    const features = await readUserRealtimeBatch(redis, keys, users);
    let tagged = 0;
    users.forEach((userId, u) => {
      const expected: Record<string, { until: number; rule: string; eventIds: string[] }> = {};
      for (const m of fired.get(userId) ?? []) {
        const rule = TEST_RULES.find((r) => r.id === m.rule)!;
        const until = m.at + rule.tagTtlMs;
        if (!expected[rule.tag] || until > expected[rule.tag]!.until)
          expected[rule.tag] = { until, rule: rule.id, eventIds: m.eventIds };
      }
      const got = Object.fromEntries(
        features[u]!.tags.map((t) => [t.tag, { until: t.until, rule: t.rule, eventIds: t.eventIds }]),
      );
      expect(got, userId).toEqual(expected);
      for (const t of features[u]!.tags) expect(t.since).toBeLessThanOrEqual(t.until - 24 * 3600_000);
      tagged += features[u]!.tags.length;
    });
    expect(tagged).toBeGreaterThan(users.length);

    // The metric counts each fired match once (recorded after the batch's Kafka commit: wait for it).
    const counted = async () => (await metrics.patternMatches.get()).values.reduce((n, v) => n + v.value, 0);
    await eventually(async () => delivered >= all.length);
    expect(await counted()).toBe(compared.matches);
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
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(inject('redisUrl'));
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

  it('decides a waiting strict run when the user moves on, whatever the events in between concern', async () => {
    const { applier, event } = await setup('pattern-due');
    const clicks = await applier.applyBatch(
      [event('pet-1', 'CLICK', at), event('pet-2', 'CLICK', at + 10_000), event('pet-1', 'CLICK', at + 20_000)],
      0,
    );
    expect(clicks.patterns.users[0]).toMatchObject({ fired: [], undecidedMatches: 1 });
    // Events for another rule only (it is evaluated, the pet run is not looked at), then an event
    // no rule cares about, past the lateness: the run is decided then.
    const comment = await applier.applyBatch([event('car-1', 'COMMENT', at + 30_000)], 0);
    expect(comment.patterns.users[0]?.fired).toEqual([]);
    const moved = await applier.applyBatch([event('x-1', 'VIEW', at + 20_000 + LATENESS)], 0);
    expect(moved.patterns.users[0]?.fired).toEqual(['pets3']);
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
