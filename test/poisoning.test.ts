import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import {
  RecommendationsDocument,
  RecordInteractionCountsDocument,
  TrendingDocument,
  type InteractionInput,
} from '../src/client/index.js';
import { readItemFeaturesBatch, readTrending } from '../src/features/item-features.js';
import { gql, seedCatalogue, startApp, streamCaughtUp, testConfig, scanKeys } from './helpers.js';

describe('trending and popularity cannot be bought by one user', () => {
  let app: App;
  const record = async (inputs: InteractionInput[]) => {
    for (let i = 0; i < inputs.length; i += 500) {
      const res = await gql(app.url, RecordInteractionCountsDocument, { inputs: inputs.slice(i, i + 500) });
      expect(res.errors).toBeUndefined();
      expect(res.data?.recordInteractions.rejectedCount).toBe(0);
    }
    await streamCaughtUp(app);
  };
  const trendingScore = async (itemId: string) => {
    const { redis, keys } = app.services;
    return (await readTrending(redis, keys, null, 1000)).find((t) => t.itemId === itemId)?.score ?? 0;
  };
  const popularity = async (itemId: string) => {
    const { redis, keys } = app.services;
    return (await readItemFeaturesBatch(redis, keys, [itemId]))[0]?.popularity ?? 0;
  };

  beforeAll(async () => {
    app = await startApp(
      testConfig('poison', {
        RATE_LIMIT_MUTATIONS_PER_SEC: '1000000',
        RATE_LIMIT_EVENTS_PER_SEC: '1000000',
        FEED_CACHE_TTL_MS: '0',
      }),
    );
    await seedCatalogue(app);
    await streamCaughtUp(app);
  });
  afterAll(() => app?.stop());

  it("one user's 2,000 shares of an uncatalogued id: not trending, not in a new user's feed, no long-lived keys", async () => {
    await record(Array.from({ length: 2000 }, () => ({ userId: 'spammer', itemId: 'promo.evil', action: 'SHARE' })));
    const trending = await gql(app.url, TrendingDocument, { first: 50 });
    expect(trending.errors).toBeUndefined();
    expect(trending.data!.trending.map((t) => t.id)).not.toContain('promo.evil');
    const feed = await gql(app.url, RecommendationsDocument, { userId: 'newcomer', first: 30 });
    expect(feed.errors).toBeUndefined();
    expect(feed.data!.recommendations.items.length).toBeGreaterThan(0);
    expect(feed.data!.recommendations.items.map((e) => e.item.id)).not.toContain('promo.evil');

    const { redis, keys } = app.services;
    const fake = keys.itemStats('promo.evil').replace(/:stats$/, '');
    const found = await scanKeys(redis, `${fake}:*`);
    // Stats and co-visits an hour, window buckets as long as any item's (the window and the lateness).
    expect(found.length).toBeGreaterThan(0);
    for (const key of found) {
      const ttl = await redis.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(key.endsWith(':stats') || key.endsWith(':covis') ? 3600_000 : 7200_000);
    }
  });

  it("one user's 200 likes of a catalogued item move its trending score and popularity no more than three users' likes", async () => {
    const [spamBefore, fairBefore] = [await trendingScore('music-5'), await trendingScore('music-7')];
    const [spamPopBefore, fairPopBefore] = [await popularity('music-5'), await popularity('music-7')];
    await record([
      ...Array.from({ length: 200 }, () => ({ userId: 'fan', itemId: 'music-5', action: 'LIKE' as const })),
      ...['a', 'b', 'c'].map((u) => ({ userId: `fair-${u}`, itemId: 'music-7', action: 'LIKE' as const })),
    ]);
    const spam = (await trendingScore('music-5')) - spamBefore;
    const fair = (await trendingScore('music-7')) - fairBefore;
    expect(fair).toBeGreaterThan(0);
    expect(spam).toBeGreaterThan(0);
    expect(spam).toBeLessThanOrEqual(fair * 1.01);
    const spamPop = (await popularity('music-5')) - spamPopBefore;
    const fairPop = (await popularity('music-7')) - fairPopBefore;
    expect(spamPop).toBeLessThanOrEqual(fairPop * 1.01);
  });
});
