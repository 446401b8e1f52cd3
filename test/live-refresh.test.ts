import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../src/app.js';
import { runLongHorizonJob } from '../src/batch/long-horizon.js';
import {
  FeedUpdatedDocument,
  RecordInteractionCountsDocument,
  type FeedUpdatedSubscription,
  type SubscriptionResult,
} from '../src/client/index.js';
import { DAY, LONG_HORIZON_MS } from '../src/features/definitions.js';
import { createLogger } from '../src/logger.js';
import { createModelRegistry } from '../src/model/registry.js';
import { connectRedis } from '../src/redis/client.js';
import { projectRoot } from '../src/stack/paths.js';
import { createKafka } from '../src/streams/kafka.js';
import { eventually, gql, startApp, streamCaughtUp, testConfig } from './helpers.js';
import { watch, wsClient } from './live-clients.js';
import { invertedPrior, metricsText, seedCatalogue } from './model-helpers.js';

/** Low, so that the spread over time is measurable with a few subscribers: one user every 500 ms. */
const REFRESH_PER_SEC = 2;

type Watcher = { results: SubscriptionResult<FeedUpdatedSubscription>[]; receivedAt: number[] };

/** The feed payloads one watcher received, with when each arrived. */
const pushesOf = (w: Watcher) =>
  w.results.flatMap((r, i) => (r.data ? [{ ...r.data.feedUpdated, at: w.receivedAt[i]! }] : []));
const idsOf = (u: { feed: { items: { item: { id: string } }[] } }) => u.feed.items.map((e) => e.item.id);

/** Waits for a payload with `trigger` from every watcher; on timeout, says what each received. */
async function pushedBy(watchers: Watcher[], trigger: string, timeoutMs: number) {
  try {
    return await eventually(
      async () => {
        const found = watchers.map((w) => pushesOf(w).find((u) => u.trigger === trigger));
        return found.every(Boolean) ? found.map((u) => u!) : undefined;
      },
      { timeoutMs, intervalMs: 10 },
    );
  } catch {
    const seen = watchers.map(
      (w, i) =>
        `${i}: ${pushesOf(w)
          .map((u) => `${u.trigger} (${u.triggerDetail})`)
          .join(', ')}`,
    );
    throw new Error(
      `not every subscriber got a \`${trigger}\` push within ${timeoutMs} ms; received:\n${seen.join('\n')}`,
    );
  }
}

/** A counter's value in /metrics text (0 when absent). */
function counter(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('live feeds refreshed for every subscriber: model swaps and the daily batch', () => {
  let app: App;

  beforeAll(async () => {
    app = await startApp(
      testConfig('refresh', {
        LIVE_REFRESH_PER_SEC: String(REFRESH_PER_SEC),
        // The safety-net poll is off: the swap below must come from the registry's notice.
        MODEL_REFRESH_INTERVAL_MS: '0',
        // Item features read as they are: two rankings of the same user differ only by the model,
        // never by an item cache entry renewed between them.
        ITEM_CACHE_TTL_MS: '0',
      }),
    );
    await seedCatalogue(app);
    await streamCaughtUp(app);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('pushes trigger `model` to each subscriber, spread at LIVE_REFRESH_PER_SEC, after `npm run model -- activate`', async () => {
    const users = ['swap-0', 'swap-1', 'swap-2'];
    const client = wsClient(app);
    try {
      const watchers = users.map((userId) => watch(client, FeedUpdatedDocument, { userId, first: 10 }));
      await eventually(async () => watchers.every((w) => pushesOf(w).length === 1));
      const snapshots = watchers.map((w) => pushesOf(w)[0]!);
      for (const s of snapshots) expect([s.trigger, s.triggerDetail]).toEqual(['subscribed', null]);

      // The hand-set prior with its weights negated ranks the catalogue the other way round, so
      // every one of these feeds changes with it.
      const registry = createModelRegistry(app.services.redis, app.services.keys);
      await registry.publish(invertedPrior('inverted-1'), 'live-refresh test');
      // The operator's command, as a process of its own against the same Redis and prefix.
      const { redis: redisConfig } = app.services.config;
      const cli = execFileSync(process.execPath, ['--import', 'tsx', 'tools/model.ts', 'activate', 'inverted-1'], {
        cwd: projectRoot,
        encoding: 'utf8',
        env: {
          ...process.env,
          REDIS_URL: redisConfig.url,
          REDIS_KEY_PREFIX: redisConfig.keyPrefix,
          LOG_LEVEL: 'silent',
        },
      });
      const activatedAt = Date.now();
      expect(cli).toMatch(/revision \d+: control 100 % inverted-1/);

      // Documented: the registry notice and the model check, then N / LIVE_REFRESH_PER_SEC seconds.
      const bound = (users.length / REFRESH_PER_SEC) * 1000 + 3000;
      const pushed = await pushedBy(watchers, 'model', bound + 5000);
      pushed.forEach((u, i) => {
        expect(u.triggerDetail).toBe('inverted-1');
        expect(idsOf(u)).not.toEqual(idsOf(snapshots[i]!));
      });
      const times = pushed.map((u) => u.at - activatedAt).sort((a, b) => a - b);
      process.stderr.write(`[live-refresh] model pushes ${times.join(' / ')} ms after activation\n`);
      // Spread: one user per 1 / LIVE_REFRESH_PER_SEC s, not all in the same second ...
      expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(((users.length - 1) / REFRESH_PER_SEC) * 1000 - 200);
      // ... and all within the documented time.
      expect(times[2]!).toBeLessThan(bound);

      const metrics = await metricsText(app);
      expect(counter(metrics, 'live_refresh_users_total{trigger="model"}')).toBe(users.length);
      expect(counter(metrics, 'live_pushes_total{kind="feed",trigger="model"}')).toBe(users.length);
      expect(counter(metrics, 'live_refresh_pending')).toBe(0);

      // The same version again is a new experiment revision with the same models: every user is
      // re-ranked, as `experiment`, and nobody is pushed an identical feed.
      await registry.activate('inverted-1');
      await eventually(
        async () => counter(await metricsText(app), 'live_refresh_users_total{trigger="experiment"}') === users.length,
        { timeoutMs: bound + 5000 },
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const w of watchers) expect(pushesOf(w).map((u) => u.trigger)).toEqual(['subscribed', 'model']);
      for (const w of watchers) w.unsubscribe();
    } finally {
      await client.dispose();
    }
    await eventually(async () => app.services.live.stats().users === 0);
  });

  it('pushes trigger `batch` after the daily batch announces its run', async () => {
    // Behaviour six days old: barely a trace in the real-time features, the whole of the user's
    // 30-day preference once the batch has run.
    const userId = 'batch-cars';
    const occurredAt = new Date(Date.now() - 6 * DAY).toISOString();
    const recorded = await gql(app.url, RecordInteractionCountsDocument, {
      inputs: ['cars-1', 'cars-2', 'cars-3', 'cars-4', 'cars-5'].map((itemId) => ({
        userId,
        itemId,
        action: 'LIKE' as const,
        occurredAt,
      })),
    });
    expect(recorded.data?.recordInteractions.acceptedCount).toBe(5);
    await streamCaughtUp(app);

    const client = wsClient(app);
    const redis = await connectRedis(inject('redisUrl'), createLogger('silent'), 'test-batch');
    try {
      const live = watch(client, FeedUpdatedDocument, { userId, first: 10 });
      await eventually(async () => pushesOf(live).length === 1);
      const before = await metricsText(app);
      const to = Date.now();
      const run = await runLongHorizonJob({
        kafka: createKafka({ brokers: inject('kafkaBrokers').split(','), clientId: 'test-batch' }),
        redis,
        keys: app.services.keys,
        topic: app.services.topics.behavior,
        weights: app.services.config.features.weights,
        from: to - LONG_HORIZON_MS,
        to,
        log: createLogger('silent'),
      });
      expect(run.users).toBeGreaterThan(0);

      const pushed = (await pushedBy([live], 'batch', 10_000))[0]!;
      expect(pushed.triggerDetail).toBe(`long-horizon ${run.version}`);
      expect(idsOf(pushed)).not.toEqual(idsOf(pushesOf(live)[0]!));
      const after = await metricsText(app);
      const batch = 'live_refresh_users_total{trigger="batch"}';
      expect(counter(after, batch) - counter(before, batch)).toBe(1);
      expect(counter(after, 'live_refresh_notices_total{outcome="accepted"}')).toBe(1);

      // A message on the channel that is not a notice is counted and ignored.
      await redis.publish(app.services.keys.feedRefreshChannel(), '{"trigger":"batch"}');
      await eventually(
        async () => counter(await metricsText(app), 'live_refresh_notices_total{outcome="malformed"}') === 1,
      );
      live.unsubscribe();
    } finally {
      redis.disconnect();
      await client.dispose();
    }
  });
});
