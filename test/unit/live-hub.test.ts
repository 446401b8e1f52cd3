import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { encodeFeedRefresh } from '../../src/core/feed-refresh.js';
import { createLiveHub, REFRESH_TICK_MS, type LiveHubOptions, type TrendingEntry } from '../../src/live/hub.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import type { ImpressionEvent } from '../../src/core/events.js';
import type { Feed, RankedFeed } from '../../src/ranking/ranker.js';
import { drain, feedOf } from '../live-fixtures.js';
import { fakeSubscriber, manualClock, settle } from './live-fakes.js';

const CHANNEL = 'user-changed';
const REFRESH_CHANNEL = 'feed-refresh';
const PUSH_MS = 300;
const TRENDING_MS = 1000;
const REFRESH_PER_SEC = 200;

/** A hub on a hand-driven clock and an in-memory channel, with a ranker that answers from `feeds`. */
async function testHub(overrides: Partial<LiveHubOptions> = {}) {
  const clock = manualClock();
  const channel = fakeSubscriber();
  const metrics = createMetrics();
  const feeds = new Map<string, string[]>();
  const trending = new Map<string, string[]>();
  const ranked: { userId: string; first: number; at: number }[] = [];
  const trendingReads: { category: string | null; first: number; at: number }[] = [];
  const invalidated: string[][] = [];
  /** Impressions the hub logged: the user and the item ids delivered. */
  const impressions: { userId: string; itemIds: string[] }[] = [];
  const hub = createLiveHub({
    subscriber: channel.subscriber,
    channel: CHANNEL,
    refreshChannel: REFRESH_CHANNEL,
    log: createLogger('silent'),
    metrics,
    pushIntervalMs: PUSH_MS,
    trendingIntervalMs: TRENDING_MS,
    refreshPerSec: REFRESH_PER_SEC,
    maxSubscriptions: 10,
    maxAnonymousSubscriptions: 6,
    maxTrendingScopes: 5,
    maxSubscriptionsPerUser: 3,
    onUsersChanged: (users) => invalidated.push([...users]),
    rankFeed: async (userId, first) => {
      ranked.push({ userId, first, at: clock.now() });
      return rankedOf(userId, (feeds.get(userId) ?? []).slice(0, first));
    },
    logImpression: (impression, count) =>
      impressions.push({ userId: impression.userId, itemIds: impression.items.slice(0, count).map((i) => i.itemId) }),
    readTrending: async (category, first) => {
      trendingReads.push({ category, first, at: clock.now() });
      return (trending.get(category ?? '') ?? []).slice(0, first).map(entry);
    },
    clock,
    ...overrides,
  });
  await hub.start();
  /** The stream worker's notice for these users; each `receivedAt` defaults to now. */
  const notify = async (users: string[], receivedAt?: number[], tags?: (string | null)[]) => {
    channel.publish(
      CHANNEL,
      JSON.stringify({ users, at: clock.now(), receivedAt: receivedAt ?? users.map(() => clock.now()), tags }),
    );
    await settle();
  };
  /** Moves the clock and lets the re-ranks it started finish. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await settle();
  };
  return {
    hub,
    clock,
    channel,
    metrics,
    feeds,
    trending,
    ranked,
    trendingReads,
    invalidated,
    impressions,
    notify,
    advance,
  };
}

/** What the ranker returns for a live re-rank: the feed and its (not yet logged) impression. */
function rankedOf(userId: string, itemIds: string[]): RankedFeed {
  const impression: ImpressionEvent = {
    v: 1,
    impressionId: `imp-${userId}`,
    userId,
    servedAt: 0,
    modelVersion: 'test',
    featureNames: [],
    items: itemIds.map((itemId, i) => ({
      itemId,
      rank: i + 1,
      score: 1,
      modelScore: 0.5,
      exploration: false,
      features: [],
    })),
  };
  return { feed: feedOf(userId, itemIds), impression };
}

const anonymous = { anonymous: true };
const signedIn = { anonymous: false };

const entry = (itemId: string, i: number): TrendingEntry => ({
  item: feedOf('', [itemId]).items[0]!.item,
  score: 10 - i,
});
const ids = (feed: Feed) => feed.items.map((e) => e.item.itemId);

/** What `open` throws (undefined when it does not). */
function thrown(open: () => unknown): unknown {
  try {
    open();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Opens a feed subscription with its snapshot and collects what the client receives. */
function watch(hub: Awaited<ReturnType<typeof testHub>>['hub'], userId: string, first: number, snapshot: string[]) {
  const sub = hub.openFeed(userId, first);
  sub.initial(feedOf(userId, snapshot));
  return { ...drain(sub.updates), close: () => sub.updates.return?.() };
}

describe('the live hub, on a hand-driven clock', () => {
  it('pushes the subscription snapshot, then a re-ranked feed saying what entered and left', async () => {
    const t = await testHub();
    t.feeds.set('u1', ['a-1', 'a-2', 'a-3']);
    const client = watch(t.hub, 'u1', 3, ['a-1', 'a-2', 'a-3']);
    await settle();
    expect(client.received).toMatchObject([{ trigger: 'subscribed', entered: ['a-1', 'a-2', 'a-3'], left: [] }]);

    t.feeds.set('u1', ['b-1', 'a-1', 'a-2']);
    await t.notify(['u1', 'nobody-here']);
    expect(t.invalidated).toEqual([['u1', 'nobody-here']]);
    expect(t.ranked).toEqual([{ userId: 'u1', first: 3, at: t.clock.now() }]);
    expect(client.received).toHaveLength(2);
    expect(client.received[1]).toMatchObject({ trigger: 'behaviour', entered: ['b-1'], left: ['a-3'] });
    expect(ids(client.received[1]!.feed)).toEqual(['b-1', 'a-1', 'a-2']);
    await client.close();
    await client.done;
  });

  it('merges a burst of changes: one re-rank at once, one at the end of the push window', async () => {
    const t = await testHub();
    const client = watch(t.hub, 'u1', 5, ['a-1']);
    const start = t.clock.now();
    t.feeds.set('u1', ['b-1', 'a-1']);
    await t.notify(['u1']);
    expect(t.ranked).toHaveLength(1);
    for (let i = 0; i < 5; i++) {
      await t.advance(50);
      await t.notify(['u1']);
    }
    // Five more notices inside the window: nothing ranked yet, one re-rank waiting.
    expect(t.ranked).toHaveLength(1);
    expect(t.clock.pending).toBe(1);
    await t.advance(start + PUSH_MS - 1 - t.clock.now());
    expect(t.ranked).toHaveLength(1);
    await t.advance(1);
    expect(t.ranked.map((r) => r.at - start)).toEqual([0, PUSH_MS]);
    // Nothing changed since: the window ends quietly.
    await t.advance(10 * PUSH_MS);
    expect(t.ranked).toHaveLength(2);
    expect(t.clock.pending).toBe(0);
    // A change after a quiet window is ranked at once again.
    await t.notify(['u1']);
    expect(t.ranked).toHaveLength(3);
    expect(client.received.map((u) => u.trigger)).toEqual(['subscribed', 'behaviour']);
    await client.close();
  });

  it('a change while a re-rank is running waits for it, then for the rest of the window', async () => {
    let release: (() => void) | undefined;
    const calls: number[] = [];
    const t = await testHub({
      rankFeed: (userId, first) => {
        calls.push(t.clock.now());
        return new Promise<RankedFeed>(
          (resolve) => (release = () => resolve(rankedOf(userId, ['x-1'].slice(0, first)))),
        );
      },
    });
    watch(t.hub, 'u1', 1, []);
    const start = t.clock.now();
    await t.notify(['u1']);
    expect(calls).toEqual([start]);
    await t.advance(PUSH_MS * 2);
    await t.notify(['u1']);
    // Still running: the second change must not start a second ranking beside it.
    expect(calls).toHaveLength(1);
    release?.();
    await settle();
    // The window (counted from when the first ranking started) is over: ranked again at once.
    expect(calls).toEqual([start, start + 2 * PUSH_MS]);
  });

  it('ranks a user once per change at the largest page any subscriber asked for, and slices it for each', async () => {
    const t = await testHub({ maxSubscriptions: 100, maxSubscriptionsPerUser: 50 });
    const all = Array.from({ length: 50 }, (_, i) => `a-${i + 1}`);
    t.feeds.set('u1', all);
    // One screen per page size, 1 to 50 items: fifty distinct `first`s.
    const clients = Array.from({ length: 50 }, (_, i) => watch(t.hub, 'u1', i + 1, all.slice(0, i + 1)));
    await settle();
    t.feeds.set('u1', ['b-1', ...all.slice(0, 49)]);
    await t.notify(['u1']);
    expect(t.ranked).toEqual([{ userId: 'u1', first: 50, at: t.clock.now() }]);
    clients.forEach((c, i) => {
      expect(c.received).toHaveLength(2);
      expect(ids(c.received[1]!.feed)).toEqual(['b-1', ...all].slice(0, i + 1));
    });
    // One more change, one more ranking, still at the largest page.
    await t.advance(PUSH_MS);
    t.feeds.set('u1', ['c-1', ...all.slice(0, 49)]);
    await t.notify(['u1']);
    expect(t.ranked.map((r) => r.first)).toEqual([50, 50]);
  });

  it('pushes only the subscribers whose own top N changed', async () => {
    const t = await testHub();
    t.feeds.set('u1', ['a-1', 'a-2', 'a-3', 'a-4']);
    const small = [watch(t.hub, 'u1', 2, ['a-1', 'a-2']), watch(t.hub, 'u1', 2, ['a-1', 'a-2'])];
    const large = watch(t.hub, 'u1', 4, ['a-1', 'a-2', 'a-3', 'a-4']);
    await settle();
    // The ranking is unchanged: nobody is pushed anything.
    await t.notify(['u1']);
    expect(t.ranked.map((r) => r.first)).toEqual([4]);
    for (const c of [...small, large]) expect(c.received.map((u) => u.trigger)).toEqual(['subscribed']);

    // Only the fourth item changed: only the subscriber who sees four items is pushed.
    t.feeds.set('u1', ['a-1', 'a-2', 'a-3', 'b-9']);
    await t.advance(PUSH_MS);
    await t.notify(['u1']);
    expect(t.ranked).toHaveLength(2);
    for (const c of small) expect(c.received).toHaveLength(1);
    expect(large.received[1]).toMatchObject({ entered: ['b-9'], left: ['a-4'] });
  });

  it('logs an impression only for a feed it delivers, with the items delivered', async () => {
    const t = await testHub();
    t.feeds.set('u1', ['a-1', 'a-2', 'a-3', 'a-4']);
    const small = watch(t.hub, 'u1', 2, ['a-1', 'a-2']);
    const large = watch(t.hub, 'u1', 4, ['a-1', 'a-2', 'a-3', 'a-4']);
    await settle();
    // Re-ranked, same order: nothing shown, nothing logged.
    await t.notify(['u1']);
    expect(t.ranked).toHaveLength(1);
    expect(t.impressions).toEqual([]);

    // Only the fourth item changed: one impression, of the four items the large screen now shows.
    t.feeds.set('u1', ['a-1', 'a-2', 'a-3', 'b-9']);
    await t.advance(PUSH_MS);
    await t.notify(['u1']);
    expect(t.impressions).toEqual([{ userId: 'u1', itemIds: ['a-1', 'a-2', 'a-3', 'b-9'] }]);

    // The top changed: each screen's delivery is an impression of its own slice.
    t.feeds.set('u1', ['c-1', 'a-1', 'a-2', 'a-3']);
    await t.advance(PUSH_MS);
    await t.notify(['u1']);
    expect(t.impressions.slice(1)).toEqual(
      expect.arrayContaining([
        { userId: 'u1', itemIds: ['c-1', 'a-1'] },
        { userId: 'u1', itemIds: ['c-1', 'a-1', 'a-2', 'a-3'] },
      ]),
    );
    expect(t.impressions).toHaveLength(3);
    expect(small.received).toHaveLength(2);
    expect(large.received).toHaveLength(3);
  });

  it('measures push latency from the earliest event a merged push reflects', async () => {
    const t = await testHub();
    watch(t.hub, 'u1', 1, ['a-1']);
    t.feeds.set('u1', ['a-2']);
    await t.notify(['u1'], [t.clock.now() - 40]);
    const first = t.clock.now();
    await t.advance(100);
    t.feeds.set('u1', ['a-3']);
    await t.notify(['u1'], [t.clock.now() - 10]);
    await t.notify(['u1'], [first - 500]);
    // To the end of the window that started with the first re-rank.
    await t.advance(first + PUSH_MS - t.clock.now());
    const histogram = await t.metrics.feedPushLatency.get();
    const sum = histogram.values.find((v) => v.metricName?.endsWith('_sum'))?.value;
    const count = histogram.values.find((v) => v.metricName?.endsWith('_count'))?.value;
    expect(count).toBe(2);
    // 40 ms for the first push; the second, at the window's end, reflects an event received 500 ms before `first`.
    expect(sum).toBe(40 + (PUSH_MS + 500));
  });

  it('a slow client gets only the newest feed, counted from the earliest change it reflects', async () => {
    const t = await testHub();
    const sub = t.hub.openFeed('u1', 1);
    sub.initial(feedOf('u1', ['a-1']));
    const start = t.clock.now();
    t.feeds.set('u1', ['b-1']);
    await t.notify(['u1'], [start - 5]);
    // Not pulled yet: the snapshot and the re-rank are one update, still "the feed at subscription".
    const first = await sub.updates.next();
    expect(first.value).toMatchObject({ trigger: 'subscribed', entered: ['b-1'], left: [] });
    for (const [item, receivedAgo] of [
      ['c-1', 30],
      ['d-1', 70],
      ['e-1', 10],
    ] as const) {
      t.feeds.set('u1', [item]);
      await t.advance(PUSH_MS);
      await t.notify(['u1'], [t.clock.now() - receivedAgo]);
    }
    await t.advance(100);
    const second = await sub.updates.next();
    expect(second.value).toMatchObject({ trigger: 'behaviour', entered: ['e-1'], left: ['b-1'] });
    const histogram = await t.metrics.feedPushLatency.get();
    // One observation, at the pull, from the earliest event merged in: 30 ms before the first of
    // three re-ranks, which ran one window apart.
    expect(histogram.values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(1);
    expect(histogram.values.find((v) => v.metricName?.endsWith('_sum'))?.value).toBe(30 + 2 * PUSH_MS + 100);
  });

  it('keeps the last feed when a re-rank fails, and re-ranks at the next change', async () => {
    let fail = true;
    const t = await testHub({
      rankFeed: async (userId) => {
        if (fail) throw new Error('features unavailable');
        return rankedOf(userId, ['b-1']);
      },
    });
    const client = watch(t.hub, 'u1', 1, ['a-1']);
    await t.notify(['u1']);
    expect(client.received).toHaveLength(1);
    fail = false;
    await t.advance(PUSH_MS);
    expect(client.received).toHaveLength(1);
    await t.notify(['u1']);
    expect(client.received.map((u) => ids(u.feed))).toEqual([['a-1'], ['b-1']]);
  });

  it('a late snapshot does not overwrite a re-ranked feed', async () => {
    const t = await testHub();
    t.feeds.set('u1', ['b-1']);
    const sub = t.hub.openFeed('u1', 1);
    const client = drain(sub.updates);
    await t.notify(['u1']);
    sub.initial(feedOf('u1', ['a-1']));
    await settle();
    expect(client.received.map((u) => [u.trigger, ids(u.feed)])).toEqual([['behaviour', ['b-1']]]);
  });

  it('refuses more feeds per user than the cap, and takes one again when a feed closes', async () => {
    const t = await testHub();
    const open = [watch(t.hub, 'u1', 1, []), watch(t.hub, 'u1', 1, []), watch(t.hub, 'u1', 1, [])];
    const refusal = thrown(() => t.hub.openFeed('u1', 1));
    expect(refusal).toBeInstanceOf(AppError);
    expect(refusal).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { limit: 'subscriptionsPerUser', max: 3 } });
    // Another user is not affected by u1's cap.
    watch(t.hub, 'u2', 1, []);
    await open[0]!.close();
    expect(() => watch(t.hub, 'u1', 1, [])).not.toThrow();
    expect(t.hub.stats()).toEqual({ users: 2, scopes: 0, subscriptions: 4 });
  });

  it("counts a user's own trending lists and their feeds against one per-user cap", async () => {
    const t = await testHub();
    const mine = { anonymous: false, userId: 'u1' } as const;
    const lists = [t.hub.openTrending(null, 5, mine), t.hub.openTrending('pets', 5, mine)];
    watch(t.hub, 'u1', 1, []);
    for (const open of [() => t.hub.openFeed('u1', 1), () => t.hub.openTrending(null, 5, mine)])
      expect(thrown(open)).toMatchObject({
        code: 'LIMIT_EXCEEDED',
        details: { limit: 'subscriptionsPerUser', max: 3 },
      });
    // Services and other users are not affected.
    expect(() => t.hub.openTrending(null, 5, signedIn)).not.toThrow();
    expect(() => t.hub.openTrending(null, 5, { anonymous: false, userId: 'u2' })).not.toThrow();
    await lists[0]!.updates.return?.();
    expect(() => t.hub.openFeed('u1', 1)).not.toThrow();
  });

  it('refuses subscriptions of any kind over the instance cap, retryably', async () => {
    const t = await testHub({ maxSubscriptions: 4, maxSubscriptionsPerUser: 10 });
    const feeds = [watch(t.hub, 'u1', 1, []), watch(t.hub, 'u2', 1, [])];
    t.hub.openTrending(null, 5, anonymous);
    t.hub.openTrending('pets', 5, anonymous);
    for (const open of [() => t.hub.openFeed('u3', 1), () => t.hub.openTrending(null, 1, anonymous)])
      expect(thrown(open)).toMatchObject({
        code: 'LIMIT_EXCEEDED',
        retryable: true,
        details: { limit: 'subscriptionsPerInstance' },
      });
    await feeds[0]!.close();
    expect(() => t.hub.openFeed('u3', 1)).not.toThrow();
  });

  it('keeps room for signed-in users however many anonymous screens subscribe', async () => {
    const t = await testHub({ maxSubscriptions: 4, maxAnonymousSubscriptions: 2, maxSubscriptionsPerUser: 10 });
    const screens = [t.hub.openTrending(null, 5, anonymous), t.hub.openTrending('pets', 5, anonymous)];
    expect(thrown(() => t.hub.openTrending(null, 5, anonymous))).toMatchObject({
      code: 'LIMIT_EXCEEDED',
      retryable: true,
      details: { limit: 'anonymousSubscriptions', max: 2 },
    });
    // Signed-in users still get the rest of the instance, trending included.
    watch(t.hub, 'u1', 1, []);
    expect(() => t.hub.openTrending(null, 5, signedIn)).not.toThrow();
    expect(thrown(() => t.hub.openFeed('u2', 1))).toMatchObject({ details: { limit: 'subscriptionsPerInstance' } });
    // An anonymous screen leaving frees an anonymous slot.
    await screens[0]!.updates.return?.();
    expect(() => t.hub.openTrending(null, 5, anonymous)).not.toThrow();
  });

  it('follows at most the configured number of trending categories', async () => {
    const t = await testHub({ maxTrendingScopes: 2 });
    const pets = t.hub.openTrending('pets', 5, anonymous);
    t.hub.openTrending('cars', 5, anonymous);
    expect(thrown(() => t.hub.openTrending('x-1', 5, signedIn))).toMatchObject({
      code: 'LIMIT_EXCEEDED',
      details: { limit: 'trendingScopes', max: 2 },
    });
    // A category already followed costs no scope.
    expect(() => t.hub.openTrending('cars', 3, anonymous)).not.toThrow();
    expect(t.hub.stats().scopes).toBe(2);
    await pets.updates.return?.();
    expect(() => t.hub.openTrending('x-1', 5, anonymous)).not.toThrow();
    expect(t.trendingReads).toEqual([]);
  });

  it('forgets a user when their last subscriber leaves, cancelling a re-rank still waiting', async () => {
    const t = await testHub();
    const a = watch(t.hub, 'u1', 1, []);
    const b = watch(t.hub, 'u1', 1, []);
    await t.notify(['u1']);
    await t.notify(['u1']);
    expect(t.ranked).toHaveLength(1);
    expect(t.clock.pending).toBe(1);
    await a.close();
    expect(t.clock.pending).toBe(1);
    await b.close();
    await Promise.all([a.done, b.done]);
    expect(t.clock.pending).toBe(0);
    expect(t.hub.stats()).toEqual({ users: 0, scopes: 0, subscriptions: 0 });
    await t.advance(PUSH_MS);
    await t.notify(['u1']);
    expect(t.ranked).toHaveLength(1);
    // The cache is still told about the change, watched or not.
    expect(t.invalidated).toHaveLength(3);
  });

  it('checks each trending scope once per interval for all its subscribers', async () => {
    const t = await testHub();
    t.trending.set('', ['t-1', 't-2', 't-3']);
    t.trending.set('pets', ['p-1']);
    const top2 = t.hub.openTrending(null, 2, anonymous);
    const top3 = t.hub.openTrending(null, 3, anonymous);
    const pets = t.hub.openTrending('pets', 5, anonymous);
    top2.initial([entry('t-1', 0), entry('t-2', 1)]);
    const [c2, c3, cp] = [drain(top2.updates), drain(top3.updates), drain(pets.updates)];
    expect(t.hub.stats()).toEqual({ users: 0, scopes: 2, subscriptions: 3 });

    await t.advance(TRENDING_MS - 1);
    expect(t.trendingReads).toEqual([]);
    await t.advance(1);
    // One read per scope, for the largest page any subscriber of it asked for.
    expect(t.trendingReads.map((r) => [r.category, r.first])).toEqual([
      [null, 3],
      ['pets', 5],
    ]);
    // top2 already shows [t-1, t-2]: nothing new for it.
    expect(c2.received.map((u) => u.items.map((e) => e.item.itemId))).toEqual([['t-1', 't-2']]);
    expect(c3.received.map((u) => u.items.map((e) => e.item.itemId))).toEqual([['t-1', 't-2', 't-3']]);
    expect(cp.received).toHaveLength(1);

    t.trending.set('', ['t-9', 't-1', 't-2']);
    await t.advance(TRENDING_MS);
    expect(t.trendingReads).toHaveLength(4);
    expect(c2.received[1]).toMatchObject({ entered: ['t-9'], left: ['t-2'] });
    expect(c3.received[1]).toMatchObject({ entered: ['t-9'], left: ['t-3'] });
    // Unchanged pets list: no push.
    expect(cp.received).toHaveLength(1);

    await pets.updates.return?.();
    expect(t.hub.stats().scopes).toBe(1);
    await t.advance(TRENDING_MS);
    expect(t.trendingReads.slice(4).map((r) => r.category)).toEqual([null]);
  });

  it('does not start a trending check while the previous one is still running, and retries a failed one', async () => {
    const pending: { resolve: (v: TrendingEntry[]) => void; reject: (e: Error) => void }[] = [];
    const t = await testHub({
      readTrending: () => new Promise((resolve, reject) => pending.push({ resolve, reject })),
    });
    const client = drain(t.hub.openTrending(null, 1, anonymous).updates);
    await t.advance(TRENDING_MS);
    await t.advance(TRENDING_MS);
    expect(pending).toHaveLength(1);
    pending[0]!.reject(new Error('redis down'));
    await settle();
    await t.advance(TRENDING_MS);
    expect(pending).toHaveLength(2);
    pending[1]!.resolve([entry('t-1', 0)]);
    await settle();
    expect(client.received.map((u) => u.items.map((e) => e.item.itemId))).toEqual([['t-1']]);
  });

  it('ignores other channels and unreadable notices', async () => {
    const t = await testHub();
    const client = watch(t.hub, 'u1', 1, ['a-1']);
    t.feeds.set('u1', ['b-1']);
    t.channel.publish('another-channel', JSON.stringify({ users: ['u1'], at: t.clock.now() }));
    for (const bad of ['not json', '42', JSON.stringify({ users: 'u1' }), JSON.stringify({ users: [1] })])
      t.channel.publish(CHANNEL, bad);
    await settle();
    expect(t.invalidated).toEqual([]);
    expect(t.ranked).toEqual([]);
    // A notice without times still counts.
    t.channel.publish(CHANNEL, JSON.stringify({ users: ['u1'] }));
    await settle();
    expect(client.received.map((u) => u.trigger)).toEqual(['subscribed', 'behaviour']);
  });

  it('stop ends every subscription, cancels its timers, closes the connection and refuses new ones', async () => {
    const t = await testHub();
    const feeds = [watch(t.hub, 'u1', 1, []), watch(t.hub, 'u2', 1, [])];
    const trend = drain(t.hub.openTrending(null, 1, anonymous).updates);
    await t.notify(['u1']);
    await t.notify(['u1']);
    expect(t.clock.pending).toBe(2); // u1's waiting re-rank and the trending interval
    t.hub.stop();
    await Promise.all([...feeds.map((f) => f.done), trend.done]);
    expect(t.clock.pending).toBe(0);
    expect(t.channel.connected).toBe(false);
    expect(t.channel.listeners).toBe(0);
    expect(t.hub.stats()).toEqual({ users: 0, scopes: 0, subscriptions: 0 });
    expect(() => t.hub.openFeed('u1', 1)).toThrow(expect.objectContaining({ code: 'UNAVAILABLE', retryable: true }));
    expect(() => t.hub.openTrending(null, 1, anonymous)).toThrow(expect.objectContaining({ code: 'UNAVAILABLE' }));
    await t.advance(10 * TRENDING_MS);
    expect(t.ranked).toHaveLength(1);
    expect(t.trendingReads).toEqual([]);
  });
});

/** The value of a counter or gauge for one label set (0 when never set). */
async function metricValue(
  metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> },
  labels: Record<string, string> = {},
) {
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

describe('refreshing every live feed (model, experiment, batch)', () => {
  it('re-ranks 1,000 watched users at most 200 per second: none at once, all within 5 s', async () => {
    const t = await testHub({ maxSubscriptions: 2000 });
    const users = Array.from({ length: 1000 }, (_, i) => `r${i}`);
    const clients = users.map((u) => {
      t.feeds.set(u, ['m-1']);
      return watch(t.hub, u, 1, ['a-1']);
    });
    await settle();
    const start = t.clock.now();
    expect(t.hub.refreshAll({ trigger: 'model', detail: 'ranker-v2' })).toBe(1000);
    await settle();
    expect(t.ranked).toEqual([]);
    expect(await metricValue(t.metrics.liveRefreshPending)).toBe(1000);
    for (let second = 1; second <= 5; second++) {
      await t.advance(1000);
      expect(t.ranked.length).toBeLessThanOrEqual(REFRESH_PER_SEC * second);
      expect(t.ranked.length).toBeGreaterThanOrEqual(REFRESH_PER_SEC * (second - 1));
    }
    expect(new Set(t.ranked.map((r) => r.userId)).size).toBe(1000);
    expect(t.ranked).toHaveLength(1000);
    // No one-second window, wherever it starts, holds more than 200 rankings.
    const times = t.ranked.map((r) => r.at - start);
    for (const from of times)
      expect(times.filter((at) => at >= from && at < from + 1000).length).toBeLessThanOrEqual(200);
    for (const c of clients) {
      expect(c.received.map((u) => [u.trigger, u.triggerDetail])).toEqual([
        ['subscribed', null],
        ['model', 'ranker-v2'],
      ]);
    }
    expect(await metricValue(t.metrics.liveRefreshUsers, { trigger: 'model' })).toBe(1000);
    expect(await metricValue(t.metrics.liveRefreshPending)).toBe(0);
    expect(await metricValue(t.metrics.livePushes, { kind: 'feed', trigger: 'model' })).toBe(1000);
    // The pass is over: no timer left behind.
    expect(t.clock.pending).toBe(0);
  });

  it('merges a second refresh into the running pass: waiting users keep their place, refreshed ones queue again', async () => {
    let n = 0;
    const t = await testHub({
      refreshPerSec: 10, // one user per 100 ms tick
      // Every ranking differs from the previous one: each re-rank changes the feed.
      rankFeed: async (userId, first) => {
        t.ranked.push({ userId, first, at: t.clock.now() });
        return rankedOf(userId, [`x-${++n}`].slice(0, first));
      },
    });
    const users = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
    const clients = new Map(users.map((u) => [u, watch(t.hub, u, 1, ['a-1'])]));
    t.hub.refreshAll({ trigger: 'model', detail: 'ranker-v2' });
    await t.advance(200);
    expect(t.ranked.map((r) => r.userId)).toEqual(['u0', 'u1']);
    expect(t.hub.refreshAll({ trigger: 'experiment', detail: 'experiment default revision 7' })).toBe(6);
    await t.advance(2000);
    expect(t.ranked.map((r) => r.userId)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u0', 'u1']);
    const triggers = (u: string) => clients.get(u)!.received.map((p) => [p.trigger, p.triggerDetail]);
    expect(triggers('u0')).toEqual([
      ['subscribed', null],
      ['model', 'ranker-v2'],
      ['experiment', 'experiment default revision 7'],
    ]);
    // Still waiting when the second change came: refreshed once, with the latest cause.
    expect(triggers('u4')).toEqual([
      ['subscribed', null],
      ['experiment', 'experiment default revision 7'],
    ]);
    expect(await metricValue(t.metrics.liveRefreshUsers, { trigger: 'model' })).toBe(2);
    expect(await metricValue(t.metrics.liveRefreshUsers, { trigger: 'experiment' })).toBe(6);
  });

  it('skips users who unsubscribe while they wait, and costs them no budget', async () => {
    const t = await testHub({ refreshPerSec: 10 });
    const clients = ['u0', 'u1', 'u2', 'u3'].map((u) => watch(t.hub, u, 1, ['a-1']));
    t.hub.refreshAll({ trigger: 'batch', detail: 'long-horizon lt-1' });
    await t.advance(100);
    await clients[2]!.close();
    expect(t.hub.refreshPending()).toBe(2);
    expect(await metricValue(t.metrics.liveRefreshPending)).toBe(2);
    // u3 takes u2's turn: ranked at the third tick, not the fourth.
    await t.advance(200);
    expect(t.ranked.map((r) => [r.userId, r.at - t.clock.now()])).toEqual([
      ['u0', -200],
      ['u1', -100],
      ['u3', 0],
    ]);
    await t.advance(1000);
    expect(t.ranked).toHaveLength(3);
    expect(await metricValue(t.metrics.liveRefreshUsers, { trigger: 'batch' })).toBe(3);
    expect(t.clock.pending).toBe(0);
  });

  it('a behaviour notice for a waiting user re-ranks them at once, and the pass does not again', async () => {
    const t = await testHub({ refreshPerSec: 10 });
    const clients = new Map(['u0', 'u1', 'u2', 'u3'].map((u) => [u, watch(t.hub, u, 1, ['a-1'])]));
    t.hub.refreshAll({ trigger: 'batch', detail: 'long-horizon lt-1' });
    await t.advance(100);
    t.feeds.set('u3', ['b-1']);
    await t.notify(['u3']);
    expect(t.ranked.map((r) => r.userId)).toEqual(['u0', 'u3']);
    expect(t.hub.refreshPending()).toBe(2);
    await t.advance(1000);
    expect(t.ranked.map((r) => r.userId)).toEqual(['u0', 'u3', 'u1', 'u2']);
    expect(clients.get('u3')!.received.map((p) => p.trigger)).toEqual(['subscribed', 'behaviour']);
    expect(await metricValue(t.metrics.liveRefreshUsers, { trigger: 'batch' })).toBe(3);
  });

  it('a swap that leaves a feed as it was pushes nothing and logs no impression', async () => {
    const t = await testHub();
    t.feeds.set('same', ['a-1', 'a-2']);
    t.feeds.set('moved', ['a-2', 'a-1']);
    const same = watch(t.hub, 'same', 2, ['a-1', 'a-2']);
    const moved = watch(t.hub, 'moved', 2, ['a-1', 'a-2']);
    t.hub.refreshAll({ trigger: 'model', detail: 'ranker-v3' });
    await t.advance(1000);
    expect(t.ranked.map((r) => r.userId).sort()).toEqual(['moved', 'same']);
    expect(same.received.map((u) => u.trigger)).toEqual(['subscribed']);
    expect(moved.received.map((u) => [u.trigger, u.triggerDetail, u.entered, u.left])).toEqual([
      ['subscribed', null, ['a-1', 'a-2'], []],
      ['model', 'ranker-v3', [], []],
    ]);
    expect(t.impressions).toEqual([{ userId: 'moved', itemIds: ['a-2', 'a-1'] }]);
  });

  it('starts a pass on a batch notice from the refresh channel; counts and ignores malformed ones', async () => {
    const t = await testHub();
    t.feeds.set('u1', ['b-1']);
    const client = watch(t.hub, 'u1', 1, ['a-1']);
    for (const bad of [
      'not json',
      JSON.stringify({ trigger: 'model', detail: 'v9', at: t.clock.now() }),
      JSON.stringify({ trigger: 'batch', detail: 'no time' }),
      JSON.stringify({ trigger: 'batch', detail: 42, at: t.clock.now() }),
    ])
      t.channel.publish(REFRESH_CHANNEL, bad);
    await t.advance(1000);
    expect(t.ranked).toEqual([]);
    expect(await metricValue(t.metrics.liveRefreshNotices, { outcome: 'malformed' })).toBe(4);
    t.channel.publish(
      REFRESH_CHANNEL,
      encodeFeedRefresh({ trigger: 'batch', detail: 'long-horizon lt-2026-12-01', at: t.clock.now() }),
    );
    expect(t.hub.refreshPending()).toBe(1);
    await t.advance(REFRESH_TICK_MS);
    expect(client.received.map((u) => [u.trigger, u.triggerDetail])).toEqual([
      ['subscribed', null],
      ['batch', 'long-horizon lt-2026-12-01'],
    ]);
    expect(await metricValue(t.metrics.liveRefreshNotices, { outcome: 'accepted' })).toBe(1);
    // A refresh notice is not a user-changed notice: no cached feed is dropped for it.
    expect(t.invalidated).toEqual([]);
  });

  it('stop ends a running pass and leaves no timer', async () => {
    const t = await testHub({ refreshPerSec: 1 });
    watch(t.hub, 'u1', 1, []);
    watch(t.hub, 'u2', 1, []);
    t.hub.refreshAll({ trigger: 'model' });
    t.hub.stop();
    expect(t.clock.pending).toBe(0);
    expect(t.hub.refreshAll({ trigger: 'model' })).toBe(0);
    await t.advance(5000);
    expect(t.ranked).toEqual([]);
  });
});

describe('tag pushes', () => {
  it('names the tags a notice set or withdrew, and pushes even when the items stay the same', async () => {
    const t = await testHub();
    t.feeds.set('u1', ['a-1', 'a-2']);
    t.feeds.set('u2', ['a-1']);
    const u1 = watch(t.hub, 'u1', 2, ['a-1', 'a-2']);
    const u2 = watch(t.hub, 'u2', 1, ['a-1']);
    await t.notify(['u1', 'u2'], undefined, ['+pet_lover,-night_owl', null]);
    expect(t.ranked.map((r) => r.userId)).toEqual(['u1', 'u2']);
    expect(u1.received.map((u) => [u.trigger, u.triggerDetail, u.entered, u.left])).toEqual([
      ['subscribed', null, ['a-1', 'a-2'], []],
      ['tag', 'pet_lover set, night_owl withdrawn', [], []],
    ]);
    // u2's entry has no tags: behaviour, and nothing pushed for the same items.
    expect(u2.received.map((u) => u.trigger)).toEqual(['subscribed']);
    // The tag push was delivered, so it is an impression; u2's re-rank was not.
    expect(t.impressions).toEqual([{ userId: 'u1', itemIds: ['a-1', 'a-2'] }]);
  });

  it('a tag in any notice merged into one re-rank wins over behaviour, and every tag is named', async () => {
    const t = await testHub();
    t.feeds.set('u1', ['b-1']);
    const client = watch(t.hub, 'u1', 1, ['a-1']);
    await t.notify(['u1']);
    expect(client.received.map((u) => u.trigger)).toEqual(['subscribed', 'behaviour']);
    // Three notices inside the push window: behaviour, a tag, behaviour and another tag.
    t.feeds.set('u1', ['c-1']);
    await t.advance(50);
    await t.notify(['u1'], undefined, ['+pet_lover']);
    await t.advance(50);
    await t.notify(['u1'], undefined, [null]);
    await t.advance(50);
    await t.notify(['u1', 'u9'], undefined, ['-night_owl, +pet_lover', '+car_fan']);
    await t.notify(['u1']);
    expect(t.ranked).toHaveLength(1);
    await t.advance(PUSH_MS);
    expect(t.ranked).toHaveLength(2);
    expect(client.received.slice(2).map((u) => [u.trigger, u.triggerDetail, u.entered])).toEqual([
      ['tag', 'pet_lover set, night_owl withdrawn', ['c-1']],
    ]);
    expect(await metricValue(t.metrics.livePushes, { kind: 'feed', trigger: 'tag' })).toBe(1);
  });

  it('a slow client that missed a tag push still gets the tag with the newer feed', async () => {
    const t = await testHub();
    t.feeds.set('u1', ['a-1']);
    const sub = t.hub.openFeed('u1', 1);
    sub.initial(feedOf('u1', ['a-1']));
    expect((await sub.updates.next()).value).toMatchObject({ trigger: 'subscribed' });
    await t.notify(['u1'], undefined, ['+pet_lover']);
    t.feeds.set('u1', ['b-1']);
    await t.advance(PUSH_MS);
    await t.notify(['u1']);
    // Not pulled in between: one payload, the newest feed, still saying which tag changed.
    expect((await sub.updates.next()).value).toMatchObject({
      trigger: 'tag',
      triggerDetail: 'pet_lover set',
      entered: ['b-1'],
      left: ['a-1'],
    });
  });
});
