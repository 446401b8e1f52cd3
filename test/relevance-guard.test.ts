/**
 * The relevance guard: a rating log shaped like a real one (bench/eval/synthetic.ts; real logs
 * may not be redistributed) is replayed through the GraphQL API in time order, exactly as
 * `npm run eval` replays a real one, and the feeds the shipped model serves must beat a
 * most-popular list on each user's held-out later positives. `npm run eval` is the real measure;
 * this keeps a change that wrecks relevance from landing unnoticed.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { popularity } from '../bench/eval/baselines.js';
import { evaluate, type Metrics } from '../bench/eval/metrics.js';
import { askFeeds, localApiClient, replayLog } from '../bench/eval/replay.js';
import { splitByUser, withColdStartTwins } from '../bench/eval/split.js';
import { syntheticLog } from '../bench/eval/synthetic.js';
import type { App } from '../src/app.js';
import { startApp, streamCaughtUp, testConfig } from './helpers.js';

describe('relevance on a replayed rating log', () => {
  let app: App;
  const dataset = syntheticLog({ users: 200, seed: 3 });
  const { split, cold } = withColdStartTwins(
    splitByUser(dataset.ratings, { holdout: 0.2, positiveThreshold: 4, minRatings: 5 }),
    50,
    2,
  );
  const coldSet = new Set(cold);
  const warm = [...split.test.keys()].filter((u) => !coldSet.has(u));
  const testOf = (users: string[]) => new Map(users.map((u) => [u, split.test.get(u)!]));
  const popular = popularity(split);
  const baseline = (users: string[]) =>
    evaluate(new Map(users.map((u) => [u, popular(u, 20)])), testOf(users), dataset.items.size);
  let served: { warm: Metrics; cold: Metrics; failed: number };

  beforeAll(async () => {
    // The per-user rate limits are not what this measures; everything else is the default.
    app = await startApp(
      testConfig('relevance', { RATE_LIMIT_MUTATIONS_PER_SEC: '100000', RATE_LIMIT_EVENTS_PER_SEC: '100000' }),
    );
    const { config } = app.services;
    const replay = await replayLog({
      url: app.url,
      redisUrl: inject('redisUrl'),
      prefix: config.redis.keyPrefix,
      dataset,
      ratings: split.train,
      positiveThreshold: 4,
    });
    expect(replay.rejected).toEqual({});
    await streamCaughtUp(app);
    const client = localApiClient(app.url);
    const [w, c] = [await askFeeds(client, warm), await askFeeds(client, cold)];
    served = {
      warm: evaluate(w.lists, testOf(warm), dataset.items.size),
      cold: evaluate(c.lists, testOf(cold), dataset.items.size),
      failed: [w, c].reduce((n, s) => n + Object.values(s.failed).reduce((a, b) => a + b, 0), 0),
    };
  }, 180_000);
  afterAll(() => app?.stop());

  it('serves every user a feed', () => {
    expect(served.failed).toBe(0);
  });

  it('ranks held-out later positives above a most-popular list (Recall@20 and NDCG@10)', () => {
    const pop = baseline(warm);
    expect(served.warm.recall20).toBeGreaterThan(1.5 * pop.recall20);
    expect(served.warm.ndcg10).toBeGreaterThan(1.5 * pop.ndcg10);
  });

  it('a user with only two events already gets a better feed than the most-popular list', () => {
    const pop = baseline(cold);
    expect(served.cold.recall20).toBeGreaterThan(pop.recall20);
    expect(served.cold.ndcg10).toBeGreaterThan(pop.ndcg10);
  });
});
