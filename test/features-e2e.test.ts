import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { RecordInteractionDocument, UpsertItemsDocument, UserFeaturesDocument } from '../src/client/index.js';
import { eventually, gql, startApp, testConfig } from './helpers.js';

describe('behaviour recorded through the API reaches the user features', () => {
  let app: App;
  beforeAll(async () => {
    app = await startApp(testConfig('features-e2e'));
  });
  afterAll(() => app?.stop());

  it('counts pet-video likes in the 5-minute window within moments, each eventId once', async () => {
    const upsert = await gql(app.url, UpsertItemsDocument, {
      inputs: [
        { id: 'corgi-1', category: 'pets' },
        { id: 'shiba-1', category: 'pets' },
      ],
    });
    expect(upsert.errors).toBeUndefined();
    await eventually(
      async () => (await app.services.redis.hget(app.services.keys.item('shiba-1'), 'category')) === 'pets',
    );

    const before = await gql(app.url, UserFeaturesDocument, { userId: 'u-123' });
    expect(before.data?.userFeatures.latestEventAt).toBeNull();

    const record = (eventId: string, itemId: string) =>
      gql(app.url, RecordInteractionDocument, { input: { eventId, userId: 'u-123', itemId, action: 'LIKE' } });
    const started = Date.now();
    let last = { partition: 0, offset: '0' };
    for (const [eventId, itemId] of [
      ['e1', 'corgi-1'],
      ['e2', 'shiba-1'],
      ['e2', 'shiba-1'],
    ] as const) {
      const res = await record(eventId, itemId);
      expect(res.errors).toBeUndefined();
      last = res.data!.recordInteraction;
    }
    const { services } = app;
    const progressKey = services.keys.streamOffsets(services.config.stream.groupId, services.topics.behavior);
    await eventually(
      async () => Number((await services.redis.hget(progressKey, String(last.partition))) ?? -1) >= Number(last.offset),
    );
    const elapsed = Date.now() - started;
    const res = await gql(app.url, UserFeaturesDocument, { userId: 'u-123' });
    const fiveMinutes = res.data?.userFeatures.windows.find((w) => w.window === '5m');
    expect(fiveMinutes?.counts).toEqual([{ category: 'pets', action: 'LIKE', count: 2 }]);
    expect(elapsed).toBeLessThan(10_000);

    const metrics = await eventually(async () => {
      const text = await (await fetch(app.url.replace(/\/graphql$/, '/metrics'))).text();
      return /stream_freshness_ms_count 3/.test(text) ? text : undefined;
    });
    expect(metrics).toMatch(/stream_events_total\{outcome="counted"\} 2/);
    expect(metrics).toMatch(/stream_events_total\{outcome="duplicate"\} 1/);
    expect(metrics).toMatch(/stream_freshness_ms_count 3/);
  });

  it('reads the features of several users in one request with one Redis round trip in all', async () => {
    const { redis } = app.services;
    const original = redis.pipeline.bind(redis);
    let pipelines = 0;
    redis.pipeline = (...args: Parameters<typeof original>) => {
      pipelines++;
      return original(...args);
    };
    try {
      // Four aliases in one document on purpose: the round trips of the whole request are the subject.
      const res = await gql<Record<string, { userId: string; windows: { window: string }[] }>>(
        app.url,
        `{ a: userFeatures(userId: "u-123") { userId windows { window } }
           b: userFeatures(userId: "u-x") { userId windows { window } }
           c: userFeatures(userId: "u-y") { userId windows { window } }
           d: userFeatures(userId: "u-z") { userId windows { window } } }`,
      );
      expect(res.errors).toBeUndefined();
      expect(Object.values(res.data ?? {}).map((f) => f.userId)).toEqual(['u-123', 'u-x', 'u-y', 'u-z']);
      expect(pipelines).toBe(1);
    } finally {
      redis.pipeline = original;
    }
  });

  it('lets only service callers read features', async () => {
    const res = await gql(app.url, UserFeaturesDocument, { userId: '' });
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
