/**
 * Offline ranking quality, no server needed: every policy faces the same simulated users (same
 * seed, same drift, same coin flips for the same lists) for the same number of sessions, and is
 * scored by the exact expected click-through of the lists it shows. The oracle, which sorts by the
 * users' true click probabilities, is the ceiling the others are measured against.
 */
import {
  createPopulation,
  expectedClicks,
  expectedExaminations,
  sampleBehaviour,
  startSession,
  type Population,
  type StepOutcome,
} from './behaviour.js';
import { baselineRankers, type Ranker } from './policies.js';
import { createWorld, type World, type WorldOptions } from './world.js';

export interface SessionPlan {
  /** Users taking part (default: all of the world's). */
  userIds?: readonly string[];
  sessionsPerUser?: number;
  stepsPerSession?: number;
  /** Length of each list. */
  first?: number;
}

export interface SimulatedStep extends StepOutcome {
  /** Exact expected clicks on the list shown, for the user's state when it was shown. */
  expectedClicks: number;
  expectedExaminations: number;
}

/**
 * Runs sessions offline, user by user, and yields every step: the list shown, what the user did,
 * and the exact expectations. It is also the way to generate labelled training logs from a world.
 */
export async function* simulateSessions(
  population: Population,
  ranker: Ranker,
  plan: SessionPlan = {},
): AsyncGenerator<SimulatedStep> {
  const { world } = population;
  const userIds = plan.userIds ?? world.users.map((u) => u.id);
  const sessionsPerUser = plan.sessionsPerUser ?? 3;
  const stepsPerSession = plan.stepsPerSession ?? 10;
  const first = plan.first ?? 20;
  for (const userId of userIds) {
    const state = population.state(userId);
    for (let s = 0; s < sessionsPerUser; s++) {
      startSession(state);
      for (let k = 0; k < stepsPerSession; k++) {
        const list = await ranker(userId, first);
        const expected = expectedClicks(state, list);
        const outcome = sampleBehaviour(state, list);
        yield { ...outcome, expectedClicks: expected, expectedExaminations: expectedExaminations(list.length) };
      }
    }
  }
}

/** Makes a policy's ranker over a fresh population (so policies never share user state). */
export type PolicyFactory = (population: Population) => Ranker;

export interface PolicyQuality {
  policy: string;
  /** Expected clicks per expected examination, over all lists shown. */
  ctr: number;
  /** Clicks per examined item, as sampled. */
  sampledCtr: number;
  lists: number;
  clicks: number;
  examined: number;
  /** ctr / the oracle's ctr. */
  vsOracle: number;
}

export interface QualityOptions extends SessionPlan {
  /** The world to evaluate in; built from `worldOptions` (or the defaults) when omitted. */
  world?: World;
  worldOptions?: WorldOptions;
  /** More policies to evaluate next to random, popularity and oracle. */
  policies?: Record<string, PolicyFactory>;
}

export interface QualityReport {
  seed: string;
  users: number;
  items: number;
  sessionsPerUser: number;
  stepsPerSession: number;
  first: number;
  rows: PolicyQuality[];
}

/** Simulated CTR of random, popularity, oracle and any given policies, in the same world. */
export async function evaluateRankers(options: QualityOptions = {}): Promise<QualityReport> {
  const world = options.world ?? createWorld(options.worldOptions);
  const plan = {
    userIds: options.userIds,
    sessionsPerUser: options.sessionsPerUser ?? 3,
    stepsPerSession: options.stepsPerSession ?? 10,
    first: options.first ?? 20,
  };
  const factories: Record<string, PolicyFactory> = {
    random: (p) => baselineRankers(p).random,
    popularity: (p) => baselineRankers(p).popularity,
    oracle: (p) => baselineRankers(p).oracle,
    ...options.policies,
  };
  const rows: PolicyQuality[] = [];
  for (const [policy, factory] of Object.entries(factories)) {
    const population = createPopulation(world);
    const ranker = factory(population);
    let expected = 0;
    let examinations = 0;
    let lists = 0;
    let clicks = 0;
    let examined = 0;
    for await (const step of simulateSessions(population, ranker, plan)) {
      expected += step.expectedClicks;
      examinations += step.expectedExaminations;
      lists++;
      clicks += step.clicks;
      examined += step.examined;
    }
    rows.push({
      policy,
      ctr: examinations > 0 ? expected / examinations : 0,
      sampledCtr: examined > 0 ? clicks / examined : 0,
      lists,
      clicks,
      examined,
      vsOracle: 0,
    });
  }
  const oracle = rows.find((r) => r.policy === 'oracle')?.ctr ?? 0;
  for (const row of rows) row.vsOracle = oracle > 0 ? row.ctr / oracle : 0;
  return {
    seed: String(world.seed),
    users: plan.userIds?.length ?? world.users.length,
    items: world.items.length,
    sessionsPerUser: plan.sessionsPerUser,
    stepsPerSession: plan.stepsPerSession,
    first: plan.first,
    rows,
  };
}

/** The report as a markdown table, for the terminal and for docs. */
export function formatQualityTable(report: QualityReport): string {
  const lines = [
    `seed ${report.seed}, ${report.users} users, ${report.items} items, ` +
      `${report.sessionsPerUser} sessions × ${report.stepsPerSession} lists of ${report.first} per user`,
    '',
    '| policy | CTR (expected) | CTR (sampled) | clicks | vs oracle |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...report.rows.map(
      (r) =>
        `| ${r.policy} | ${r.ctr.toFixed(4)} | ${r.sampledCtr.toFixed(4)} | ${r.clicks} | ${r.vsOracle.toFixed(3)} |`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
