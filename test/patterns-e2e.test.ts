import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import {
  RecommendationsDocument,
  RecordInteractionDocument,
  UpsertItemsDocument,
  UserFeaturesDocument,
  type InteractionAction,
} from '../src/client/index.js';
import { eventually, gql, startApp, testConfig } from './helpers.js';

const MINUTE = 60_000;
const LATENESS = 2 * MINUTE; // the default ALLOWED_LATENESS_MS

describe('behaviour patterns tag users, seen through the API', () => {
  let app: App;
  const t0 = Date.now() - 6 * MINUTE;

  beforeAll(async () => {
    app = await startApp(testConfig('patterns-e2e'));
    const upsert = await gql(app.url, UpsertItemsDocument, {
      inputs: [
        { id: 'corgi-1', category: 'pets' },
        { id: 'shiba-1', category: 'pets' },
        { id: 'tabby-1', category: 'pets' },
        { id: 'car-1', category: 'cars' },
      ],
    });
    expect(upsert.errors).toBeUndefined();
    await eventually(
      async () =>
        (await app.services.redis.hget(app.services.keys.item('tabby-1'), 'category')) === 'pets' &&
        (await app.services.redis.hget(app.services.keys.item('car-1'), 'category')) === 'cars',
    );
  });
  afterAll(() => app?.stop());

  /** Records events one by one and waits until the worker applied the last. */
  async function record(
    userId: string,
    events: [eventId: string, itemId: string, action: InteractionAction, at: number][],
  ) {
    let last = { partition: 0, offset: '0' };
    for (const [eventId, itemId, action, at] of events) {
      const res = await gql(app.url, RecordInteractionDocument, {
        input: { eventId, userId, itemId, action, occurredAt: new Date(at).toISOString() },
      });
      expect(res.errors).toBeUndefined();
      last = res.data!.recordInteraction;
    }
    const { services } = app;
    const progress = services.keys.streamOffsets(services.config.stream.groupId, services.topics.behavior);
    await eventually(
      async () => Number((await services.redis.hget(progress, String(last.partition))) ?? -1) >= Number(last.offset),
    );
  }
  const tagsOf = async (userId: string) => {
    const res = await gql(app.url, UserFeaturesDocument, { userId });
    expect(res.errors).toBeUndefined();
    return res.data!.userFeatures.tags;
  };

  it('three pet clicks in a row within a minute tag the user a pet lover, once no late event can break the run', async () => {
    await record('lover', [
      ['l1', 'corgi-1', 'CLICK', t0],
      ['l2', 'shiba-1', 'CLICK', t0 + 20_000],
      ['l3', 'tabby-1', 'CLICK', t0 + 40_000],
    ]);
    // "In a row" is strict: an event the phone sends late, timed between two clicks, would break
    // it. Such an event still counts while it is within the allowed lateness of the user's latest.
    expect(await tagsOf('lover')).toEqual([]);
    // The user moves on (any event past the last click by more than the lateness): decided.
    await record('lover', [['l4', 'car-1', 'VIEW', t0 + 40_000 + LATENESS + 1000]]);
    expect(await tagsOf('lover')).toEqual([
      {
        tag: 'pet_lover',
        since: new Date(t0 + 40_000).toISOString(),
        until: new Date(t0 + 40_000 + 60 * MINUTE).toISOString(),
        rule: 'pet_lover',
        reason: '3 pet videos in a row',
        eventIds: ['l1', 'l2', 'l3'],
      },
    ]);
    // The next feed quotes the tag for items of the category the rule is about, and only those.
    const feed = await gql(app.url, RecommendationsDocument, {
      userId: 'lover',
      first: 5,
      candidates: ['corgi-1', 'car-1'],
    });
    expect(feed.errors).toBeUndefined();
    const reasons = Object.fromEntries(feed.data!.recommendations.items.map((e) => [e.item.id, e.reasons]));
    expect(reasons['corgi-1']).toContain('tagged pet lover: 3 pet videos in a row');
    expect(reasons['car-1']).not.toContain('tagged pet lover: 3 pet videos in a row');
  });

  it('three pet clicks spread over three minutes tag nobody', async () => {
    await record('slow', [
      ['s1', 'corgi-1', 'CLICK', t0],
      ['s2', 'shiba-1', 'CLICK', t0 + 90_000],
      ['s3', 'tabby-1', 'CLICK', t0 + 180_000],
      ['s4', 'car-1', 'VIEW', t0 + 180_000 + LATENESS + 1000],
    ]);
    expect(await tagsOf('slow')).toEqual([]);
  });

  it('a late click between two others breaks the run: no tag', async () => {
    await record('broken', [
      ['b1', 'corgi-1', 'CLICK', t0],
      ['b2', 'shiba-1', 'CLICK', t0 + 20_000],
      ['b3', 'tabby-1', 'CLICK', t0 + 40_000],
      ['b4', 'car-1', 'VIEW', t0 + 10_000], // arrives last, happened between the first two clicks
      ['b5', 'car-1', 'VIEW', t0 + 40_000 + LATENESS + 1000],
    ]);
    expect(await tagsOf('broken')).toEqual([]);
  });

  it('two comments within five minutes mark an active commenter at once, and the metric counts each match', async () => {
    await record('talker', [
      ['c1', 'car-1', 'COMMENT', t0],
      ['c2', 'corgi-1', 'VIEW', t0 + 30_000],
      ['c3', 'shiba-1', 'COMMENT', t0 + 2 * MINUTE],
    ]);
    const [tag] = await tagsOf('talker');
    expect(tag).toMatchObject({ tag: 'active_commenter', reason: '2 comments in 2m', eventIds: ['c1', 'c3'] });
    const metrics = await eventually(async () => {
      const text = await (await fetch(app.url.replace(/\/graphql$/, '/metrics'))).text();
      return /pattern_matches_total\{rule="active_commenter"\} 1/.test(text) ? text : undefined;
    });
    expect(metrics).toMatch(/pattern_matches_total\{rule="pet_lover"\} 1\n/);
    expect(metrics).toMatch(/pattern_buffered_events\{partition="\d+"\} \d+/);
    expect(metrics).toMatch(/pattern_user_state_events_count \d+/);
  });
});
