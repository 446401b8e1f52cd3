import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { ExperimentDocument, RecommendedIdsDocument } from '../src/client/index.js';
import {
  planEvents,
  planImpressions,
  type AttributedEvent,
  type AttributedImpression,
  type AttributionCall,
} from '../src/experiments/attribution.js';
import { progressField } from '../src/experiments/attribution-worker.js';
import { priorModel } from '../src/model/prior.js';
import { createModelRegistry } from '../src/model/registry.js';
import { scripts } from '../src/redis/scripts.js';
import { assignArm } from '../src/ranking/assignment.js';
import { createPopulation } from '../tools/sim/behaviour.js';
import { drive } from '../tools/sim/driver.js';
import { graphqlRanker } from '../tools/sim/policies.js';
import { createWorld } from '../tools/sim/world.js';
import { AB_SHARDS, redisKeys } from '../src/core/keys.js';
import { eventually, gql, startApp, testConfig } from './helpers.js';
import { readTopic } from './kafka-helpers.js';
import { metricsText, modelCli, modelFile } from './model-helpers.js';

describe('assignment to arms', () => {
  it('splits users in proportion to the shares, and moves none when nothing changes', () => {
    const arms = [
      { name: 'control', share: 0.3 },
      { name: 'treatment', share: 0.7 },
    ];
    const users = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
    const first = users.map((u) => assignArm(arms, 'exp-split', u).name);
    const control = first.filter((a) => a === 'control').length / users.length;
    expect(control).toBeGreaterThan(0.28);
    expect(control).toBeLessThan(0.32);
    expect(users.map((u) => assignArm(arms, 'exp-split', u).name)).toEqual(first);
    // A new experiment id reshuffles: about 30 % × 30 % stay in control in both.
    const both = users.filter((u, i) => first[i] === 'control' && assignArm(arms, 'exp-other', u).name === 'control');
    expect(both.length / users.length).toBeGreaterThan(0.07);
    expect(both.length / users.length).toBeLessThan(0.11);
  });
});

describe('A/B experiments', () => {
  const config = testConfig('ab', {
    RATE_LIMIT_MUTATIONS_PER_SEC: '1000000',
    RATE_LIMIT_EVENTS_PER_SEC: '1000000',
    FEED_CACHE_TTL_MS: '0',
  });
  let apps: App[] = [];
  const experiment = async (app: App) => {
    const res = await gql(app.url, ExperimentDocument, {});
    expect(res.errors).toBeUndefined();
    return res.data!.experiment;
  };

  /** True once attribution applied everything on the impressions and behaviour topics. */
  async function attributed(app: App): Promise<boolean> {
    const { services } = app;
    const admin = services.kafka.admin();
    await admin.connect();
    try {
      const progress = await services.redis.hgetall(services.keys.abProgress());
      for (const topic of [services.topics.impressions, services.topics.behavior]) {
        for (const p of await admin.fetchTopicOffsets(topic)) {
          const done = Number(progress[progressField(topic, p.partition)] ?? -1);
          if (Number(p.high) > 0 && done + 1 < Number(p.high)) return false;
        }
      }
      return true;
    } finally {
      await admin.disconnect();
    }
  }

  beforeAll(async () => {
    apps = [await startApp(config), await startApp(config)];
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
  });

  it('credits a click, like or hide once to the arm of the impression that showed the item, in either arrival order', async () => {
    // The attribution script on its own, against the real Redis, under a key prefix of its own.
    const redis = apps[0]!.services.redis;
    const prefix = `${config.redis.keyPrefix}-probe`;
    const settings = { keys: redisKeys(prefix), windowMs: 60_000 };
    const run = async (calls: AttributionCall[]) => {
      for (const { keys: k, args } of calls) await scripts.attribute.run(redis, k, args);
    };
    // Every shard's counts added up, as the report does.
    const counts = async () => {
      const sum: Record<string, string> = {};
      for (let shard = 0; shard < AB_SHARDS; shard++)
        for (const [field, n] of Object.entries(await redis.hgetall(settings.keys.abCounts(shard))))
          sum[field] = String(Number(sum[field] ?? 0) + Number(n));
      return sum;
    };
    const t = 1_700_000_000_000;
    const impression = (offset: string, userId: string, servedAt: number, itemIds: string[]): AttributedImpression => ({
      offset,
      userId,
      servedAt,
      experimentId: 'e1',
      arm: 'treatment',
      modelVersion: 'v2',
      itemIds,
    });
    const event = (
      offset: string,
      userId: string,
      itemId: string,
      at: number,
      flag: 'c' | 'l' | 'h',
    ): AttributedEvent => ({
      offset,
      userId,
      itemId,
      occurredAt: at,
      eventId: `ev-${offset}`,
      flag,
    });

    await run(planImpressions([impression('0', 'u1', t, ['a', 'b', 'c'])], 'imp:0', '0', settings));
    const clicks = [
      event('0', 'u1', 'a', t + 1000, 'c'),
      event('1', 'u1', 'a', t + 2000, 'c'), // a second click on the same impression
      event('2', 'u1', 'a', t + 3000, 'l'),
      event('3', 'u1', 'b', t + 4000, 'h'),
      event('4', 'u1', 'c', t + 61_000, 'c'), // after the window
      event('5', 'u2', 'x', t + 500, 'c'), // before its impression was attributed
    ];
    await run(planEvents(clicks, 'beh:0', '5', settings));
    await run(planEvents(clicks, 'beh:0', '5', settings)); // Kafka redelivered the batch
    await run(planImpressions([impression('1', 'u2', t, ['x', 'y'])], 'imp:0', '1', settings));
    expect(await counts()).toEqual({
      'e1|treatment|v2|feeds': '2',
      'e1|treatment|v2|impressions': '5',
      'e1|treatment|v2|clicks': '2',
      'e1|treatment|v2|likes': '1',
      'e1|treatment|v2|hides': '1',
    });
    expect(await redis.ttl(settings.keys.abShown('u1'))).toBeGreaterThan(0);
  });

  it('shows a worse model as a lower click-through in its arm, and keeps each user in one arm', async () => {
    const registry = createModelRegistry(apps[0]!.services.redis, apps[0]!.services.keys);
    for (const [version, scale] of [
      ['ab-good', 1],
      ['ab-inverted', -1],
    ] as const) {
      const published = await modelCli(config, ['publish', modelFile(version, priorModel(version, scale))]);
      expect(published.code).toBe(0);
    }
    const set = await modelCli(config, [
      'experiment',
      'set',
      '--id',
      'exp1',
      '--arm',
      'control:50:ab-good',
      '--arm',
      'treatment:50:ab-inverted',
    ]);
    expect(set.stdout).toContain('experiment exp1 revision');
    await eventually(async () => apps.every((a) => a.services.ranking.models.serving().experimentId === 'exp1'));

    const world = createWorld({ seed: 11, users: 120, items: 600 });
    const rankers = apps.map((a) => graphqlRanker(a.url));
    let calls = 0;
    const lastItem = world.items.at(-1)!.id;
    const stats = await drive({
      api: apps[0]!.url,
      world,
      population: createPopulation(world),
      // Alternate instances: a user's arm must not depend on which one answers.
      ranker: (userId, first) => rankers[calls++ % rankers.length]!(userId, first),
      rate: 1500,
      maxEvents: 8000,
      maxDurationMs: 25_000,
      afterPublish: () =>
        eventually(
          async () => (await apps[0]!.services.redis.hget(apps[0]!.services.keys.item(lastItem), 'category')) !== null,
        ).then(() => undefined),
    });
    expect(stats.eventsFailed).toBe(0);
    // Impressions wait up to IMPRESSION_LINGER_MS before they go to Kafka: send what still waits, so
    // that the count of logged impressions below is final before attribution is compared with it.
    await Promise.all(apps.map((a) => a.services.ranking.impressions.flush()));
    // Every logged impression is attributed, exactly once.
    const logged = async () =>
      (await Promise.all(apps.map(metricsText)))
        .map((text) => Number(/impressions_logged_total\{outcome="ok"\} (\d+)/.exec(text)?.[1] ?? 0))
        .reduce((a, b) => a + b, 0);
    await eventually(
      async () => {
        if (!(await attributed(apps[0]!))) return false;
        const arms = (await experiment(apps[0]!))!.arms;
        return arms.reduce((sum, a) => sum + a.feeds, 0) === (await logged());
      },
      { timeoutMs: 30_000 },
    );

    const view = (await experiment(apps[1]!))!;
    const [control, treatment] = view.arms;
    process.stderr.write(
      `[ab] ${stats.eventsSent} events, ${stats.steps} feeds; ` +
        view.arms
          .map(
            (a) =>
              `${a.name}: ${a.feeds} feeds, ${a.impressions} impressions, ${a.clicks} clicks, ctr ${a.ctr?.toFixed(4)}`,
          )
          .join('; ') +
        '\n',
    );
    expect(control).toMatchObject({ name: 'control', share: 0.5, modelVersion: 'ab-good', servedVersion: 'ab-good' });
    expect(treatment).toMatchObject({ name: 'treatment', share: 0.5, modelVersion: 'ab-inverted' });
    expect(control!.impressions).toBeGreaterThan(1000);
    expect(treatment!.impressions).toBeGreaterThan(1000);
    expect(treatment!.ctr!).toBeLessThan(control!.ctr! * 0.8);

    // The CLI and Prometheus tell the same story.
    const show = await modelCli(config, ['experiment', 'show']);
    expect(show.stdout).toMatch(/control\t50 %\tab-good\tfeeds \d+\timpressions \d+\tclicks \d+/);
    const scraped = (await Promise.all(apps.map(metricsText))).join('\n');
    const total = (arm: string, kind: string) =>
      [
        ...scraped.matchAll(
          new RegExp(
            `experiment_events_total\\{experiment="exp1",arm="${arm}",version="[^"]+",kind="${kind}"\\} (\\d+)`,
            'g',
          ),
        ),
      ]
        .map((m) => Number(m[1]))
        .reduce((a, b) => a + b, 0);
    expect(total('control', 'clicks')).toBe(control!.clicks);
    expect(total('treatment', 'impressions')).toBe(treatment!.impressions);

    // Every impression logged in this experiment names the arm the hash gives its user, and that arm's model.
    const experimentNow = (await registry.experiment())!;
    const impressions = await readTopic(
      config.kafka.brokers!,
      apps[0]!.services.topics.impressions,
      control!.feeds + treatment!.feeds,
    );
    const versions = new Map(experimentNow.arms.map((a) => [a.name, a.version]));
    let checked = 0;
    for (const { value } of impressions) {
      if (value.experimentId !== 'exp1') continue;
      const expected = assignArm(experimentNow.arms, 'exp1', String(value.userId)).name;
      expect(value.arm).toBe(expected);
      expect(value.modelVersion).toBe(versions.get(expected));
      checked++;
    }
    expect(checked).toBe(control!.feeds + treatment!.feeds);

    // Asked again, on either instance, each user gets the same arm.
    for (const user of world.users.slice(0, 20)) {
      const arms = await Promise.all(
        [0, 1, 0, 1].map(async (i) => {
          const res = await gql(apps[i]!.url, RecommendedIdsDocument, { userId: user.id, first: 5 });
          return res.data?.recommendations.arm;
        }),
      );
      expect(new Set(arms)).toEqual(new Set([assignArm(experimentNow.arms, 'exp1', user.id).name]));
    }
  });

  it('promotes the winning arm to every user', async () => {
    const res = await modelCli(config, ['promote', 'control']);
    expect(res.stdout).toContain('control now serves ab-good to 100 % of users');
    await eventually(async () =>
      apps.every(
        (a) =>
          a.services.ranking.models
            .serving()
            .arms.map((arm) => arm.name)
            .join() === 'control',
      ),
    );
    const view = (await experiment(apps[0]!))!;
    expect(view.arms.map((a) => [a.name, a.share, a.modelVersion])).toEqual([['control', 1, 'ab-good']]);
    const feed = await gql(apps[1]!.url, RecommendedIdsDocument, { userId: 'u7', first: 5 });
    expect(feed.data?.recommendations).toMatchObject({ arm: 'control', modelVersion: 'ab-good' });
  });
});
