import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import {
  querySource,
  RecordInteractionCountsDocument,
  RecordInteractionDocument,
  RecordInteractionsDocument,
  UpdateUserProfileDocument,
  UpsertItemsDocument,
  type InteractionInput,
} from '../src/client/index.js';
import type { Config } from '../src/config.js';
import { gql, startApp, testConfig } from './helpers.js';
import { readTopic, topicSize } from './kafka-helpers.js';

const secret = 'a-test-secret-that-is-long-enough-for-hs256';
const token = (claims: { sub?: string; role?: string }) =>
  new SignJWT({ role: claims.role ?? 'user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub ?? '')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));

describe('recording behaviour', () => {
  let app: App;
  let config: Config;
  let brokers: string[];
  let service: Record<string, string>;

  beforeAll(async () => {
    config = testConfig('ingest', {
      AUTH_MODE: 'jwt',
      JWT_SECRET: secret,
      RATE_LIMIT_MUTATIONS_PER_SEC: '1000',
      RATE_LIMIT_EVENTS_PER_SEC: '5000',
    });
    brokers = config.kafka.brokers ?? [];
    app = await startApp(config);
    service = { authorization: `Bearer ${await token({ role: 'service' })}` };
  });
  afterAll(() => app?.stop());

  it('stores exactly N concurrent events, every field intact, each user in the order they acted', async () => {
    const topic = app.services.topics.behavior;
    const before = await topicSize(brokers, topic);
    const users = ['u-a', 'u-b', 'u-c', 'u-d', 'u-e'];
    const perUser = 40;
    const sent = new Map<
      string,
      { eventId: string; partition: number; offset: string; itemId: string; action: string }[]
    >();
    const t0 = Date.now() - 60_000;
    await Promise.all(
      users.map(async (userId) => {
        const list: { eventId: string; partition: number; offset: string; itemId: string; action: string }[] = [];
        sent.set(userId, list);
        for (let i = 0; i < perUser; i++) {
          const input = {
            eventId: `${userId}-e${i}`,
            userId,
            itemId: `item-${i % 7}`,
            action: (['VIEW', 'CLICK', 'LIKE', 'SHARE'] as const)[i % 4]!,
            occurredAt: new Date(t0 + i * 1000).toISOString(),
          };
          const res = await gql(app.url, RecordInteractionDocument, { input }, service);
          expect(res.errors).toBeUndefined();
          list.push({ ...res.data!.recordInteraction, itemId: input.itemId, action: input.action });
        }
      }),
    );
    const total = users.length * perUser;
    const records = await readTopic(brokers, topic, before + total);
    expect(records).toHaveLength(before + total);
    const mine = records.filter((r) => users.includes(r.key));
    expect(mine).toHaveLength(total);

    for (const userId of users) {
      const expected = sent.get(userId)!;
      const got = mine.filter((r) => r.key === userId).sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
      expect(new Set(got.map((r) => r.partition)).size).toBe(1); // one user, one partition: ordered
      expect(got.map((r) => r.value.eventId)).toEqual(expected.map((e) => e.eventId));
      got.forEach((r, i) => {
        const e = expected[i]!;
        expect({ partition: r.partition, offset: r.offset }).toEqual({ partition: e.partition, offset: e.offset });
        expect(r.value).toMatchObject({ v: 1, userId, itemId: e.itemId, action: e.action, occurredAt: t0 + i * 1000 });
        expect(typeof r.value.receivedAt).toBe('number');
      });
    }
  });

  it('keeps the client eventId when the same event is sent twice (the stream dedupes it)', async () => {
    const input: InteractionInput = { eventId: 'retry-1', userId: 'u-retry', itemId: 'item-1', action: 'LIKE' };
    const first = await gql(app.url, RecordInteractionDocument, { input }, service);
    const second = await gql(app.url, RecordInteractionDocument, { input }, service);
    expect(first.data?.recordInteraction.eventId).toBe('retry-1');
    expect(second.data?.recordInteraction.eventId).toBe('retry-1');
    const records = await readTopic(
      brokers,
      app.services.topics.behavior,
      await topicSize(brokers, app.services.topics.behavior),
    );
    expect(records.filter((r) => r.key === 'u-retry').map((r) => r.value.eventId)).toEqual(['retry-1', 'retry-1']);
  });

  it('refuses bad input with a coded error and writes nothing', async () => {
    const topic = app.services.topics.behavior;
    const before = await topicSize(brokers, topic);
    const base = { userId: 'u-bad', itemId: 'item-1', action: 'LIKE' } as const;
    const userToken = { authorization: `Bearer ${await token({ sub: 'u-bad' })}` };
    const cases: [string, Record<string, unknown>, Record<string, string>, string][] = [
      ['empty id', { ...base, itemId: '' }, service, 'BAD_USER_INPUT'],
      ['10 KB id', { ...base, itemId: 'x'.repeat(10_240) }, service, 'BAD_USER_INPUT'],
      ['id with a space', { ...base, userId: 'a b' }, service, 'BAD_USER_INPUT'],
      ['unknown action', { ...base, action: 'POKE' }, service, 'BAD_USER_INPUT'],
      ['NaN timestamp', { ...base, occurredAt: 'NaN' }, service, 'BAD_USER_INPUT'],
      ['year-3000 timestamp', { ...base, occurredAt: '3000-01-01T00:00:00Z' }, service, 'BAD_USER_INPUT'],
      ['8-day-old timestamp', { ...base, occurredAt: Date.now() - 8 * 24 * 3600_000 }, service, 'BAD_USER_INPUT'],
      ['wrong type', { ...base, itemId: { nested: true } }, service, 'BAD_USER_INPUT'],
      ['missing field', { userId: 'u-bad', action: 'LIKE' }, service, 'BAD_USER_INPUT'],
      ["another user's id with a user token", { ...base, userId: 'someone-else' }, userToken, 'FORBIDDEN'],
      ['no token', base, {}, 'UNAUTHENTICATED'],
      ['a forged token', base, { authorization: 'Bearer not.a.jwt' }, 'UNAUTHENTICATED'],
      ['a service call without userId', { itemId: 'item-1', action: 'LIKE' }, service, 'BAD_USER_INPUT'],
    ];
    // The operation's text with deliberately ill-typed variables: the server's checks are the subject.
    const record = querySource(RecordInteractionDocument);
    for (const [name, input, headers, code] of cases) {
      const res = await gql(app.url, record, { input }, headers);
      expect(res.data?.recordInteraction ?? null, name).toBeNull();
      expect(res.errors?.[0]?.extensions?.code, name).toBe(code);
      expect(res.errors?.[0]?.message.length, name).toBeGreaterThan(5);
    }
    const oversized = Array.from({ length: 501 }, (_, i) => ({ ...base, eventId: `big-${i}` }));
    const big = await gql(app.url, RecordInteractionsDocument, { inputs: oversized }, service);
    expect(big.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await topicSize(brokers, topic)).toBe(before);
  });

  it('lets a user record their own behaviour with a user token', async () => {
    const headers = { authorization: `Bearer ${await token({ sub: 'u-self' })}` };
    const res = await gql(
      app.url,
      RecordInteractionDocument,
      { input: { itemId: 'item-9', action: 'SHARE' } },
      headers,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?.recordInteraction.userId).toBe('u-self');
  });

  it('accepts the valid entries of a batch and says why each other one was rejected', async () => {
    const topic = app.services.topics.behavior;
    const before = await topicSize(brokers, topic);
    const inputs: InteractionInput[] = [
      { userId: 'u-batch', itemId: 'i1', action: 'CLICK' },
      { userId: 'u-batch', itemId: '', action: 'CLICK' },
      { userId: 'u-batch', itemId: 'i2', action: 'HIDE', occurredAt: '3000-01-01T00:00:00Z' },
      { userId: 'u-batch', itemId: 'i3', action: 'SKIP' },
    ];
    const res = await gql(app.url, RecordInteractionsDocument, { inputs }, service);
    expect(res.errors).toBeUndefined();
    const payload = res.data!.recordInteractions;
    expect([payload.acceptedCount, payload.rejectedCount]).toEqual([2, 2]);
    expect(payload.results.map((r) => r.accepted)).toEqual([true, false, false, true]);
    expect(payload.results[1]?.error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'itemId' });
    expect(payload.results[2]?.error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'occurredAt' });
    expect(await topicSize(brokers, topic)).toBe(before + 2);
  });

  it('keeps catalogue entries on a compacted topic keyed by item, for service callers only', async () => {
    const inputs = [
      {
        id: 'pet-1',
        category: 'pets',
        tags: ['corgi', 'funny'],
        authorId: 'creator-1',
        createdAt: '2026-11-01T00:00:00Z',
      },
    ];
    const res = await gql(app.url, UpsertItemsDocument, { inputs }, service);
    expect(res.errors).toBeUndefined();
    expect(res.data?.upsertItems.items).toEqual([{ ...inputs[0], createdAt: '2026-11-01T00:00:00.000Z' }]);
    const [record] = await readTopic(brokers, app.services.topics.items, 1);
    expect(record).toMatchObject({
      key: 'pet-1',
      value: { itemId: 'pet-1', category: 'pets', tags: ['corgi', 'funny'] },
    });

    const userHeaders = { authorization: `Bearer ${await token({ sub: 'u-1' })}` };
    expect((await gql(app.url, UpsertItemsDocument, { inputs }, userHeaders)).errors?.[0]?.extensions?.code).toBe(
      'FORBIDDEN',
    );
    const badTag = await gql(
      app.url,
      UpsertItemsDocument,
      { inputs: [{ id: 'x', tags: ['no spaces allowed'] }] },
      service,
    );
    expect(badTag.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'inputs[0].tags[0]' });
  });

  it('records declared interests for the viewer', async () => {
    const headers = { authorization: `Bearer ${await token({ sub: 'u-new' })}` };
    const res = await gql(
      app.url,
      UpdateUserProfileDocument,
      { input: { interests: ['pets', 'travel', 'pets'] } },
      headers,
    );
    expect(res.data?.updateUserProfile).toMatchObject({ userId: 'u-new', interests: ['pets', 'travel'] });
    const [record] = await readTopic(brokers, app.services.topics.profiles, 1);
    expect(record).toMatchObject({ key: 'u-new', value: { userId: 'u-new', interests: ['pets', 'travel'] } });
  });
});

describe('per-user rate limits', () => {
  let app: App;
  beforeAll(async () => {
    app = await startApp(
      testConfig('ratelimit', { RATE_LIMIT_MUTATIONS_PER_SEC: '5', RATE_LIMIT_EVENTS_PER_SEC: '50' }),
    );
  });
  afterAll(() => app?.stop());

  it('answers RATE_LIMITED past the limit, for that user only, and writes nothing for refused requests', async () => {
    const topic = app.services.topics.behavior;
    const brokers = app.services.config.kafka.brokers ?? [];
    const before = await topicSize(brokers, topic);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        gql(app.url, RecordInteractionDocument, { input: { userId: 'u-hot', itemId: `i${i}`, action: 'VIEW' } }),
      ),
    );
    const limited = results.filter((r) => r.errors?.[0]?.extensions?.code === 'RATE_LIMITED');
    const accepted = results.filter((r) => r.data?.recordInteraction);
    expect(limited.length).toBeGreaterThanOrEqual(6);
    expect(limited[0]?.errors?.[0]?.extensions?.retryable).toBe(true);
    const other = await gql(app.url, RecordInteractionDocument, {
      input: { userId: 'u-calm', itemId: 'i1', action: 'VIEW' },
    });
    expect(other.errors).toBeUndefined();
    expect(await topicSize(brokers, topic)).toBe(before + accepted.length + 1);
  });
});

describe('recording behaviour under the default limits', () => {
  let app: App;
  beforeAll(async () => {
    app = await startApp(testConfig('ingest-defaults'));
  });
  afterAll(() => app?.stop());

  it('accepts a full 500-entry batch for one user', async () => {
    const inputs = Array.from({ length: 500 }, (_, i) => ({
      userId: 'u-batch',
      itemId: `i${i}`,
      action: 'VIEW' as const,
    }));
    const res = await gql(app.url, RecordInteractionCountsDocument, { inputs });
    expect(res.errors).toBeUndefined();
    expect(res.data?.recordInteractions.acceptedCount).toBe(500);
  });
});
