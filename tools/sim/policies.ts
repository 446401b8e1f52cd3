/**
 * Rankers the simulator can show lists from. They share one shape, `(userId, first) → item ids`,
 * so the baselines below, the oracle and the real `recommendations` query are interchangeable in
 * the driver and in the offline evaluation.
 */
import { oracleRanking, type Population } from './behaviour.js';
import { RecommendedIdsDocument } from '../../src/client/index.js';
import { localApiClient } from './driver.js';
import { createRng } from '../../src/core/random.js';

export type Ranker = (userId: string, first: number) => Promise<string[]>;

/**
 * Whether the feed may show `itemId` to the user again. The baselines leave out what the user
 * already opened or hid, as any real feed does: that is observed behaviour, not latent taste.
 */
const showable = (population: Population, userId: string) => {
  const { consumed, hidden } = population.state(userId);
  return (itemId: string) => !consumed.has(itemId) && !hidden.has(itemId);
};

/**
 * Uniformly random lists: the floor any ranker must beat. Each user gets their own stream, so the
 * lists a user sees do not depend on how calls for different users interleave.
 */
export function randomRanker(population: Population): Ranker {
  const { world } = population;
  const ids = world.items.map((item) => item.id);
  const calls = new Map<string, number>();
  return async (userId, first) => {
    const n = calls.get(userId) ?? 0;
    calls.set(userId, n + 1);
    const { consumed, hidden } = population.state(userId);
    const drawn = createRng(world.seed, 'random-ranker', userId, n).sample(ids, first + consumed.size + hidden.size);
    return drawn.filter(showable(population, userId)).slice(0, first);
  };
}

/**
 * The same list for everyone: items by their simulated historic clicks. The usual strong,
 * non-personal baseline; it never shows brand-new items.
 */
export function popularityRanker(population: Population): Ranker {
  const ranked = [...population.world.items]
    .sort((a, b) => b.clicks - a.clicks || a.id.localeCompare(b.id))
    .map((item) => item.id);
  return async (userId, first) => {
    const keep = showable(population, userId);
    const list: string[] = [];
    for (const id of ranked) {
      if (list.length >= first) break;
      if (keep(id)) list.push(id);
    }
    return list;
  };
}

/** Lists sorted by each user's true click probability right now: the ceiling. */
export function oracleRanker(population: Population): Ranker {
  return async (userId, first) => oracleRanking(population.state(userId), first);
}

/** The three reference rankers over one population. */
export function baselineRankers(population: Population): Record<'random' | 'popularity' | 'oracle', Ranker> {
  return {
    random: randomRanker(population),
    popularity: popularityRanker(population),
    oracle: oracleRanker(population),
  };
}

/** Lists from the service's own `recommendations` query (needs a service caller or dev auth). */
export function graphqlRanker(url: string, headers: Record<string, string> = {}): Ranker {
  const client = localApiClient(url, headers);
  return async (userId, first) => {
    const data = await client.request(RecommendedIdsDocument, { userId, first });
    return data.recommendations.items.map((entry) => entry.item.id);
  };
}
