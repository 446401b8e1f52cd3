import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLiveHub, type LiveHub } from '../src/live/hub.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { connectRedis, type RedisClient } from '../src/redis/client.js';
import { eventually, uniquePrefix } from './helpers.js';
import { drain, feedOf } from './live-fixtures.js';

describe('the live hub', () => {
  let publisher: RedisClient;
  let hub: LiveHub;
  let channel: string;
  /** What the fake ranker answers per user, and every (user, first) it was asked for. */
  const feeds = new Map<string, string[]>();
  const ranked: { userId: string; first: number }[] = [];
  const invalidated: string[] = [];
  const metrics = createMetrics();

  beforeAll(async () => {
    const log = createLogger('silent');
    publisher = await connectRedis(inject('redisUrl'), log, 'test-publisher');
    channel = `${uniquePrefix('hub')}:user-changed`;
    hub = createLiveHub({
      subscriber: await connectRedis(inject('redisUrl'), log, 'test-subscriber'),
      channel,
      refreshChannel: `${channel}:refresh`,
      log,
      metrics,
      pushIntervalMs: 300,
      trendingIntervalMs: 1000,
      refreshPerSec: 200,
      maxSubscriptions: 20,
      maxAnonymousSubscriptions: 5,
      maxTrendingScopes: 5,
      maxSubscriptionsPerUser: 3,
      onUsersChanged: (users) => invalidated.push(...users),
      rankFeed: async (userId, first) => {
        ranked.push({ userId, first });
        return { feed: feedOf(userId, (feeds.get(userId) ?? []).slice(0, first)), impression: null };
      },
      logImpression: () => {},
      readTrending: async () => [],
    });
    await hub.start();
  });
  afterAll(async () => {
    hub?.stop();
    publisher?.disconnect();
  });
  afterEach(() => {
    ranked.length = 0;
    invalidated.length = 0;
  });

  const notify = (users: string[]) =>
    publisher.publish(channel, JSON.stringify({ users, at: Date.now(), receivedAt: users.map(() => Date.now()) }));

  it('pushes the subscription snapshot, then a re-ranked feed saying what entered and left', async () => {
    feeds.set('h1', ['a-1', 'a-2', 'a-3']);
    const sub = hub.openFeed('h1', 3);
    sub.initial(feedOf('h1', ['a-1', 'a-2', 'a-3']));
    const { received, done } = drain(sub.updates);
    await eventually(async () => received.length === 1);
    expect(received[0]).toMatchObject({ trigger: 'subscribed', entered: ['a-1', 'a-2', 'a-3'], left: [] });

    feeds.set('h1', ['b-1', 'a-1', 'a-2']);
    await notify(['h1']);
    await eventually(async () => received.length === 2);
    expect(received[1]).toMatchObject({ trigger: 'behaviour', entered: ['b-1'], left: ['a-3'] });
    expect(invalidated).toContain('h1');
    await sub.updates.return?.();
    await done;
  });

  it('merges a burst of changes: one re-rank at once, one at the end of the window', async () => {
    feeds.set('h2', ['a-1']);
    const sub = hub.openFeed('h2', 5);
    sub.initial(feedOf('h2', ['a-1']));
    const { received, done } = drain(sub.updates);
    // Six notices in one round trip: they land well inside one window whatever the machine's load.
    feeds.set('h2', ['b-1', 'a-1']);
    const burst = publisher.pipeline();
    for (let i = 0; i < 6; i++)
      burst.publish(channel, JSON.stringify({ users: ['h2'], at: Date.now(), receivedAt: [Date.now()] }));
    await burst.exec();
    await eventually(async () => received.at(-1)?.feed.items[0]?.item.itemId === 'b-1');
    // The first notice re-ranks at once; the other five wait for the window's end, together.
    await eventually(async () => ranked.length === 2);
    expect(ranked).toEqual([
      { userId: 'h2', first: 5 },
      { userId: 'h2', first: 5 },
    ]);
    await sub.updates.return?.();
    await done;
  });

  it('re-ranks a user once however many subscribers they have, and pushes nothing when the items stay the same', async () => {
    feeds.set('h3', ['a-1', 'a-2']);
    const subs = [hub.openFeed('h3', 2), hub.openFeed('h3', 2), hub.openFeed('h3', 2)];
    const drains = subs.map((s) => {
      s.initial(feedOf('h3', ['a-1', 'a-2']));
      return drain(s.updates);
    });
    await eventually(async () => drains.every((d) => d.received.length === 1));
    await notify(['h3']);
    await eventually(async () => ranked.length === 1);
    feeds.set('h3', ['c-1', 'a-1']);
    await notify(['h3']);
    await eventually(async () => drains.every((d) => d.received.length === 2));
    expect(ranked).toEqual([
      { userId: 'h3', first: 2 },
      { userId: 'h3', first: 2 },
    ]);
    for (const d of drains) expect(d.received.map((u) => u.trigger)).toEqual(['subscribed', 'behaviour']);
    expect(() => hub.openFeed('h3', 2)).toThrow(/at most 3 live subscriptions per user/);
    for (const s of subs) await s.updates.return?.();
    await Promise.all(drains.map((d) => d.done));
  });

  it('forgets a user when their last subscriber leaves, and refuses subscribers over the instance cap', async () => {
    const subs = Array.from({ length: 20 }, (_, i) => hub.openFeed(`cap-${i}`, 1));
    expect(hub.stats()).toEqual({ users: 20, scopes: 0, subscriptions: 20 });
    let refused: unknown;
    try {
      hub.openFeed('one-too-many', 1);
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { limit: 'subscriptionsPerInstance' } });
    for (const s of subs) await s.updates.return?.();
    expect(hub.stats()).toEqual({ users: 0, scopes: 0, subscriptions: 0 });
    await notify(subs.map((_, i) => `cap-${i}`));
    await eventually(async () => invalidated.length === 20);
    expect(ranked).toEqual([]);
  });
});
