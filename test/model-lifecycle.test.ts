import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { ExperimentDocument, RecommendedIdsDocument } from '../src/client/index.js';
import { RANKING_FEATURES } from '../src/features/ranking-features.js';
import { priorModel } from '../src/model/prior.js';
import { eventually, gql, startApp, testConfig } from './helpers.js';
import { lrModel, metricsText, modelCli, modelFile, seedCatalogue } from './model-helpers.js';

interface Served {
  instance: number;
  startedAt: number;
  modelVersion?: string;
  failure?: string;
}

describe('model versions in the registry', () => {
  const config = testConfig('models', {
    RATE_LIMIT_MUTATIONS_PER_SEC: '100000',
    RATE_LIMIT_EVENTS_PER_SEC: '100000',
    // The safety-net poll is off: the switch below must come from the change notice.
    MODEL_REFRESH_INTERVAL_MS: '0',
  });
  let apps: App[] = [];

  beforeAll(async () => {
    // Two instances sharing topics and keys, as two replicas behind a load balancer.
    apps = [await startApp(config), await startApp(config)];
    await seedCatalogue(apps[0]!);
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
  });

  const feed = (instance: number, userId: string) =>
    gql(apps[instance]!.url, RecommendedIdsDocument, { userId, first: 10 });

  it('publishes the start-up model file as the first version when the registry is empty', async () => {
    const list = await modelCli(config, ['list']);
    expect(list.code).toBe(0);
    const res = await feed(0, 'u-first');
    expect(res.errors).toBeUndefined();
    expect(list.stdout).toContain(`${res.data!.recommendations.modelVersion}\t`);
    expect(list.stdout).toContain('serving: control');
    expect(res.data!.recommendations.arm).toBe('control');
  });

  it('switches every instance to a newly activated version within seconds, with no failed request under load', async () => {
    const served: Served[] = [];
    let stop = false;
    const loop = async (worker: number) => {
      for (let n = 0; !stop; n++) {
        const instance = (worker + n) % apps.length;
        const startedAt = Date.now();
        try {
          const res = await feed(instance, `load-${worker}-${n % 7}`);
          served.push({
            instance,
            startedAt,
            modelVersion: res.data?.recommendations.modelVersion,
            failure: res.errors ? JSON.stringify(res.errors) : res.status !== 200 ? `HTTP ${res.status}` : undefined,
          });
        } catch (error) {
          served.push({ instance, startedAt, failure: String(error) });
        }
      }
    };
    const loops = Array.from({ length: 8 }, (_, w) => loop(w));
    try {
      const loadStarted = Date.now();
      await eventually(async () => served.length >= 100 && Date.now() - loadStarted > 1500);
      const published = await modelCli(config, ['publish', modelFile('swap-2', priorModel('swap-2')), '--activate']);
      expect(published.stderr).toBe('');
      expect(published.stdout).toContain('published swap-2');
      expect(published.stdout).toContain('activated swap-2');
      const activatedAt = Date.now();
      const switchedAt = await eventually(
        async () => {
          const first = apps.map((_, i) =>
            served.find((s) => s.instance === i && s.startedAt >= activatedAt && s.modelVersion === 'swap-2'),
          );
          return first.every(Boolean) && first.map((s) => s!.startedAt - activatedAt);
        },
        { timeoutMs: 10_000 },
      );
      // Keep the load on a little longer, then every request must see the new version.
      const settled = Math.max(...switchedAt) + activatedAt + 500;
      await eventually(async () =>
        apps.every((_, i) => served.filter((s) => s.instance === i && s.startedAt > settled).length >= 20),
      );
      stop = true;
      await Promise.all(loops);
      const failures = served.filter((s) => s.failure);
      expect(failures).toEqual([]);
      expect(served.filter((s) => s.startedAt > settled && s.modelVersion !== 'swap-2')).toEqual([]);
      for (const ms of switchedAt) expect(ms).toBeLessThan(5000);
      process.stderr.write(
        `[models] ${served.length} requests, 0 failed; switched ${switchedAt.join(' / ')} ms after activation\n`,
      );
      for (const app of apps)
        expect(await metricsText(app)).toMatch(/model_info\{arm="control",version="swap-2",kind="lr"\} 1/);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
  });

  it('refuses to publish a model whose feature list differs from the definitions', async () => {
    const names = [...RANKING_FEATURES.slice(1), 'user_zodiac_sign'];
    const bad = modelFile('zodiac', lrModel('zodiac-1', { featureNames: names }));
    const res = await modelCli(config, ['publish', bad, '--activate']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('does not match the feature definitions');
    expect(res.stderr).toContain('missing [user_category_affinity]');
    expect(res.stderr).toContain('unexpected [user_zodiac_sign]');
    expect((await modelCli(config, ['list'])).stdout).not.toContain('zodiac-1');
    expect((await feed(0, 'u-after-refusal')).data?.recommendations.modelVersion).toBe('swap-2');
  });

  it('an instance refuses a bad model that reached the registry anyway, and keeps serving the previous one', async () => {
    // Written around the CLI's checks, as a buggy tool or a hand edit could.
    const { redis, keys } = apps[0]!.services;
    const names = [...RANKING_FEATURES].reverse();
    await redis.set(keys.modelBytes('reversed-1'), Buffer.from(lrModel('reversed-1', { featureNames: names })));
    await redis.hset(
      keys.modelMeta(),
      'reversed-1',
      JSON.stringify({ version: 'reversed-1', kind: 'lr', featureNames: names }),
    );
    const current = JSON.parse((await redis.get(keys.modelExperiment()))!) as { revision: number };
    await redis.set(
      keys.modelExperiment(),
      JSON.stringify({
        id: 'default',
        revision: current.revision + 1,
        arms: [{ name: 'control', share: 1, version: 'reversed-1' }],
        updatedAt: Date.now(),
      }),
    );
    await redis.publish(keys.modelsChangedChannel(), JSON.stringify({ change: 'experiment', at: Date.now() }));
    for (const app of apps)
      await eventually(async () => /model_reloads_total\{outcome="refused"\} 1/.test(await metricsText(app)));
    for (const i of apps.keys()) {
      const res = await feed(i, 'u-after-bad');
      expect(res.errors).toBeUndefined();
      expect(res.data!.recommendations.modelVersion).toBe('swap-2');
    }
    const view = await gql(apps[1]!.url, ExperimentDocument, {});
    expect(view.data?.experiment?.arms).toMatchObject([
      { name: 'control', modelVersion: 'reversed-1', servedVersion: 'swap-2' },
    ]);
    // Putting a good version back is an ordinary activation.
    expect((await modelCli(config, ['activate', 'swap-2'])).code).toBe(0);
  });
});
