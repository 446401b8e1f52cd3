/**
 * Ranking quality in the simulator's world: the service's own `recommendations` (recall mode,
 * through the API, with every simulated reaction recorded back and applied before the user's next
 * list) against random, popularity and the oracle, for the same seed, world, users and sessions.
 * Scored by the exact expected click-through of the lists shown, so few users suffice.
 *
 * The service runs on a fresh prefix, so earlier scenarios' items and users are not in its
 * trending lists. Before the sessions it is told the world's history (a scaled sample of the
 * views and clicks the popularity baseline ranks by), so both start from the same knowledge.
 */
import { localApiClient, publishCatalogue, recordAll, recordBatch, type InteractionInput } from '../api.js';
import { watchStream } from '../stream-progress.js';
import { UpdateUserProfileDocument } from '../../src/client/index.js';
import { createPopulation } from '../../tools/sim/behaviour.js';
import { MAX_BATCH } from '../../tools/sim/driver.js';
import { graphqlRanker } from '../../tools/sim/policies.js';
import { evaluateRankers, simulateSessions } from '../../tools/sim/quality.js';
import { createRng } from '../../src/core/random.js';
import { catalogueInputs, createWorld, profileInputs, type World } from '../../tools/sim/world.js';
import type { Row, Scenario } from '../types.js';

const SEED = 1;
const FIRST = 20;

/**
 * The world's pre-run history as events: each simulated view (scaled by `scale`, rounded at
 * random) as a VIEW, followed by a CLICK when it was a click, each by a one-off user, so history
 * adds popularity and item totals but no co-visitation.
 */
function historyEvents(world: World, scale: number): InteractionInput[] {
  const rng = createRng(world.seed, 'bench-history');
  const scaled = (n: number) => Math.floor(n * scale) + (rng.bernoulli((n * scale) % 1) ? 1 : 0);
  const out: InteractionInput[] = [];
  let user = 0;
  for (const item of world.items) {
    const clicks = scaled(item.clicks);
    const views = Math.max(clicks, scaled(item.views));
    for (let v = 0; v < views; v++) {
      const userId = `h${user++}`;
      out.push({ userId, itemId: item.id, action: 'VIEW' });
      if (v < clicks) out.push({ userId, itemId: item.id, action: 'CLICK' });
    }
  }
  return out;
}

export const qualityScenarios: Scenario[] = [
  {
    group: 'quality',
    name: 'quality',
    async run(ctx) {
      const users = ctx.quick ? 40 : 100;
      const plan = { sessionsPerUser: ctx.quick ? 2 : 3, stepsPerSession: ctx.quick ? 5 : 8, first: FIRST };
      const lanes = ctx.quick ? 8 : 10;
      const world = createWorld({ seed: SEED, users, items: 2000 });
      const userIds = world.users.map((u) => u.id);

      const service = await ctx.startService('quality');
      const client = localApiClient(service.url);
      const progress = watchStream(ctx, service);
      try {
        await publishCatalogue(ctx, service, catalogueInputs(world));
        for (const input of profileInputs(world)) await client.request(UpdateUserProfileDocument, { input });
        await recordAll(client, historyEvents(world, ctx.quick ? 0.05 : 0.125));
        await progress.drain();

        const population = createPopulation(world);
        const ranker = graphqlRanker(service.url);
        let expected = 0;
        let examinations = 0;
        let lists = 0;
        let unseen = 0;
        // Users are independent in the simulator, so lanes of users run side by side; within a
        // user, each step's reactions are applied before the next list is asked for.
        const lane = async (ids: string[]) => {
          for await (const step of simulateSessions(population, ranker, { ...plan, userIds: ids })) {
            expected += step.expectedClicks;
            examinations += step.expectedExaminations;
            lists++;
            if (step.events.length === 0) continue;
            const now = Date.now();
            const inputs = step.events.slice(0, MAX_BATCH).map((e, i) => ({
              userId: e.userId,
              itemId: e.itemId,
              action: e.action,
              occurredAt: new Date(now + i).toISOString(),
            }));
            const last = new Map<number, number>();
            for (const p of await recordBatch(client, inputs))
              last.set(p.partition, Math.max(last.get(p.partition) ?? -1, p.offset));
            const seen = await Promise.all(
              [...last].map(([partition, offset]) => progress.visible({ partition, offset }, 5000)),
            );
            if (seen.some(Number.isNaN)) unseen++;
          }
        };
        await Promise.all(Array.from({ length: lanes }, (_, l) => lane(userIds.filter((_, i) => i % lanes === l))));

        const baselines = await evaluateRankers({ world, userIds, ...plan });
        const oracle = baselines.rows.find((r) => r.policy === 'oracle')?.ctr ?? Number.NaN;
        const ours = examinations > 0 ? expected / examinations : 0;
        const setting =
          `seed ${SEED}, ${users} users × ${plan.sessionsPerUser} sessions × ${plan.stepsPerSession} lists of ${FIRST}` +
          (unseen ? `; ${unseen} steps not applied within 5 s` : '');
        const ref = { name: 'oracle', value: oracle };
        const rows: Row[] = [
          {
            scenario: 'quality',
            metric: `CTR, our recommendations via the API (${lists} lists; ${setting})`,
            value: ours,
            unit: '',
            reference: ref,
          },
        ];
        for (const policy of ['popularity', 'random', 'oracle'])
          rows.push({
            scenario: 'quality',
            metric: `CTR, ${policy} baseline (same world, users and sessions)`,
            value: baselines.rows.find((r) => r.policy === policy)?.ctr ?? Number.NaN,
            unit: '',
            ...(policy === 'oracle' ? {} : { reference: ref }),
          });
        return rows;
      } finally {
        await progress.close();
        await service.stop();
      }
    },
  },
];
