import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../src/app.js';
import { UserFeaturesDocument } from '../src/client/index.js';
import {
  createPopulation,
  expectedClicks,
  oracleRanking,
  sampleBehaviour,
  startSession,
  type StepOutcome,
} from '../tools/sim/behaviour.js';
import { drive, type SentEvent } from '../tools/sim/driver.js';
import { popularityRanker, randomRanker } from '../tools/sim/policies.js';
import { evaluateRankers } from '../tools/sim/quality.js';
import { createRng } from '../src/core/random.js';
import { argmax, catalogueInputs, createWorld, sessionDrift, type World } from '../tools/sim/world.js';
import { eventually, gql, startApp, testConfig } from './helpers.js';
import { topicSize } from './kafka-helpers.js';

const NOW = Date.UTC(2025, 0, 1);

/** Everything a world is made of, as plain data that `toEqual` can compare. */
const snapshot = (world: World) => ({
  catalogue: catalogueInputs(world, NOW),
  items: world.items.map(({ quality, views, clicks, isNew }) => ({ quality, views, clicks, isNew })),
  users: world.users.map((u) => ({ ...u, preferences: [...u.preferences] })),
});

/** Shows every user `steps` lists drawn from `listSeed` and records what they do. */
function behave(world: World, listSeed: number, steps: number): StepOutcome[] {
  const population = createPopulation(world);
  const ids = world.items.map((i) => i.id);
  const lists = createRng(listSeed, 'lists');
  const outcomes: StepOutcome[] = [];
  for (const user of world.users) {
    const state = population.state(user.id);
    startSession(state);
    for (let k = 0; k < steps; k++) outcomes.push(sampleBehaviour(state, lists.sample(ids, 20)));
  }
  return outcomes;
}

describe('the simulated world and its users', () => {
  it('is rebuilt identically from the same seed, and behaves identically to the same lists', () => {
    const a = createWorld({ seed: 7, users: 60, items: 400 });
    const b = createWorld({ seed: 7, users: 60, items: 400 });
    const c = createWorld({ seed: 8, users: 60, items: 400 });
    expect(snapshot(a)).toEqual(snapshot(b));
    expect(snapshot(a)).not.toEqual(snapshot(c));
    expect(a.users.some((u) => u.isNew)).toBe(true);
    expect(a.users.some((u) => u.declared !== null)).toBe(true);
    expect(a.items.some((i) => i.isNew)).toBe(true);

    const behaviour = behave(a, 1, 5);
    expect(behave(b, 1, 5)).toEqual(behaviour);
    expect(behaviour.reduce((n, o) => n + o.events.length, 0)).toBeGreaterThan(200);
    expect(behave(c, 1, 5)).not.toEqual(behaviour);
  });

  it("gives a user the same behaviour whatever other users' traffic is interleaved with theirs", () => {
    const world = createWorld({ seed: 11, users: 10, items: 300 });
    const lists = Array.from({ length: 6 }, (_, k) => createRng(5, 'list', k).sample(world.items, 20)).map((l) =>
      l.map((i) => i.id),
    );
    const alone = createPopulation(world);
    startSession(alone.state('u3'));
    const expected = lists.map((list) => sampleBehaviour(alone.state('u3'), list));

    const busy = createPopulation(world);
    for (const u of world.users) startSession(busy.state(u.id));
    const seen = lists.map((list) => {
      for (const u of world.users) if (u.id !== 'u3') sampleBehaviour(busy.state(u.id), list);
      return sampleBehaviour(busy.state('u3'), list);
    });
    expect(seen).toEqual(expected);
  });

  it('has long-tailed popularity: the top 10% of items hold most historic clicks, brand-new items almost none', () => {
    const world = createWorld({ seed: 1 });
    const clicks = world.items.map((i) => i.clicks).sort((x, y) => y - x);
    const total = clicks.reduce((s, x) => s + x, 0);
    const top = clicks.slice(0, clicks.length / 10).reduce((s, x) => s + x, 0);
    // Observed: 0.81 for seed 1 (2000 items); an even spread would give 0.10.
    expect(top / total).toBeGreaterThan(0.6);
    const fresh = world.items.filter((i) => i.isNew);
    expect(fresh.length).toBeGreaterThan(50);
    expect(Math.max(...fresh.map((i) => i.clicks))).toBeLessThanOrEqual(3);
  });

  it("moves a user's preferred category to the session's hot interest, and back at the next session", () => {
    const world = createWorld({ seed: 3, users: 100, items: 500 });
    const population = createPopulation(world);
    const list = world.items.slice(0, 20).map((i) => i.id);
    for (const user of world.users) {
      const state = population.state(user.id);
      startSession(state);
      const before = argmax(state.preferences);
      for (let k = 0; k < 30; k++) sampleBehaviour(state, list);
      const { hot } = sessionDrift(world, user, state.session);
      expect(hot).not.toBe(before);
      expect(argmax(state.preferences)).toBe(hot);
      startSession(state);
      expect(argmax(state.preferences)).toBe(before);
    }
  });

  it('ranks nothing above the oracle: no list of the same length gets more expected clicks', async () => {
    const world = createWorld({ seed: 5, users: 40, items: 500 });
    const population = createPopulation(world);
    const random = randomRanker(population);
    const popular = popularityRanker(population);
    for (const user of world.users) {
      const state = population.state(user.id);
      startSession(state);
      const best = expectedClicks(state, oracleRanking(state, 20));
      for (let k = 0; k < 10; k++) expect(expectedClicks(state, await random(user.id, 20))).toBeLessThanOrEqual(best);
      expect(expectedClicks(state, await popular(user.id, 20))).toBeLessThanOrEqual(best);
      // Any reordering of the oracle's own items does no better either.
      const shuffled = createRng(9, user.id).shuffle(oracleRanking(state, 20));
      expect(expectedClicks(state, shuffled)).toBeLessThanOrEqual(best + 1e-12);
    }
  });

  it('scores the oracle far above popularity, and popularity clearly above random', async () => {
    const report = await evaluateRankers({
      worldOptions: { seed: 1, users: 100, items: 1000 },
      sessionsPerUser: 2,
      stepsPerSession: 8,
    });
    const row = (policy: string) => {
      const found = report.rows.find((r) => r.policy === policy);
      if (!found) throw new Error(`no result for ${policy}`);
      return found;
    };
    const [random, popularity, oracle] = [row('random'), row('popularity'), row('oracle')];
    // Observed for seed 1: random 0.053, popularity 0.094, oracle 0.410.
    expect(popularity.ctr).toBeGreaterThan(1.3 * random.ctr);
    expect(oracle.ctr).toBeGreaterThan(2.5 * popularity.ctr);
    expect(oracle.vsOracle).toBe(1);
    // Sampled behaviour agrees with the exact expectation it is drawn from.
    for (const row of report.rows) expect(Math.abs(row.sampledCtr - row.ctr)).toBeLessThan(0.15 * row.ctr);
    expect(report.rows.every((r) => r.lists === 100 * 2 * 8)).toBe(true);
  });
});

describe('simulated traffic through the real API', () => {
  let app: App;
  beforeAll(async () => {
    app = await startApp(testConfig('sim'));
  });
  afterAll(() => app?.stop());

  it('delivers every simulated event to Kafka, and the stream worker counts each one', async () => {
    const world = createWorld({ seed: 3, users: 20, items: 100 });
    const population = createPopulation(world);
    const { redis, keys, topics } = app.services;
    const sent: SentEvent[] = [];
    const stats = await drive({
      api: app.url,
      world,
      population,
      ranker: popularityRanker(population),
      rate: 1000,
      maxEvents: 300,
      maxDurationMs: 30_000,
      tickMs: 50,
      // Behaviour should find its items' categories: wait until the worker applied the catalogue.
      afterPublish: async () => {
        await eventually(async () => {
          const categories = await Promise.all(world.items.map((i) => redis.hget(keys.item(i.id), 'category')));
          const applied = categories.filter((c, i) => c === world.items[i]?.category).length;
          if (applied < world.items.length) throw new Error(`${applied} of ${world.items.length} items applied`);
          return true;
        });
      },
      onEvents: (events) => sent.push(...events),
    });

    expect(stats).toMatchObject({ stopReason: 'maxEvents', eventsSent: 300, eventsFailed: 0, errors: {} });
    expect(stats.itemsPublished).toBe(100);
    expect(new Set(sent.map((e) => e.eventId)).size).toBe(300);
    expect(stats.simulatedCtr).toBeGreaterThan(0);

    const brokers = inject('kafkaBrokers').split(',');
    expect(await topicSize(brokers, topics.behavior)).toBe(300);
    expect(await topicSize(brokers, topics.items)).toBe(100);
    expect(await topicSize(brokers, topics.profiles)).toBe(stats.profilesPublished);

    // Each user's 1-hour window holds exactly what was sent for them, by category and action.
    const expected = new Map<string, Map<string, number>>();
    for (const e of sent) {
      const counts = expected.get(e.userId) ?? new Map<string, number>();
      const field = `${world.itemById.get(e.itemId)?.category}|${e.action}`;
      counts.set(field, (counts.get(field) ?? 0) + 1);
      expected.set(e.userId, counts);
    }
    for (const [userId, counts] of expected) {
      const want = Object.fromEntries([...counts].sort());
      const got = await eventually(async () => {
        const res = await gql(app.url, UserFeaturesDocument, { userId });
        const hour = res.data?.userFeatures.windows.find((w) => w.window === '1h');
        const seen = Object.fromEntries(
          (hour?.counts ?? []).map((c) => [`${c.category}|${c.action}`, c.count] as const).sort(),
        );
        if (JSON.stringify(seen) !== JSON.stringify(want))
          throw new Error(`${userId}: counted ${JSON.stringify(seen)}, sent ${JSON.stringify(want)}`);
        return seen;
      });
      expect(got).toEqual(want);
    }
  });
});
