/**
 * A generated rating log shaped like a real one, for the test suite's relevance guard (real logs
 * may not be redistributed, and CI has no network to fetch one). What makes real logs hard for a
 * popularity list is kept: a long-tailed item popularity, tastes that cut across genres (people
 * who like one film of a kind like its siblings, whatever its genre label), bursts of ratings in
 * sessions, and low ratings for what a user was merely shown. Seeded: the same options give the
 * same log.
 */
import { createRng } from '../../src/core/random.js';
import type { CatalogueItem, Dataset, Rating } from './dataset.js';

export interface SyntheticOptions {
  users?: number;
  items?: number;
  /** Taste groups: sets of items that the same people like. */
  tastes?: number;
  genres?: number;
  ratingsPerUser?: [number, number];
  seed?: number;
}

const DAY = 86_400_000;

export function syntheticLog(options: SyntheticOptions = {}): Dataset {
  const users = options.users ?? 250;
  const itemCount = options.items ?? 400;
  const tastes = options.tastes ?? 16;
  const genres = Array.from({ length: options.genres ?? 8 }, (_, g) => `genre${g}`);
  const [minRatings, maxRatings] = options.ratingsPerUser ?? [30, 70];
  const rng = createRng('synthetic-log', options.seed ?? 1);
  const start = Date.UTC(2020, 0, 1);

  const items = new Map<string, CatalogueItem>();
  const byTaste: { id: string; weight: number }[][] = Array.from({ length: tastes }, () => []);
  const everything: { id: string; weight: number }[] = [];
  for (let i = 0; i < itemCount; i++) {
    const id = `m${i + 1}`;
    const categories = rng.sample(genres, rng.bernoulli(0.5) ? 2 : 1);
    items.set(id, { itemId: id, title: null, categories, releasedAt: start - rng.int(0, 3000) * DAY });
    // Zipf-like popularity: a few items everyone has seen, a long tail few have.
    const entry = { id, weight: 1 / (1 + i) ** 0.8 };
    byTaste[i % tastes]!.push(entry);
    everything.push(entry);
  }
  const pick = (pool: { id: string; weight: number }[]) => pool[rng.categorical(pool.map((p) => p.weight))]!.id;

  const ratings: Rating[] = [];
  for (let u = 0; u < users; u++) {
    const userId = `u${u + 1}`;
    const liked = new Set(
      rng.sample(
        Array.from({ length: tastes }, (_, t) => t),
        2,
      ),
    );
    const pool = [...liked].flatMap((t) => byTaste[t]!);
    const count = rng.int(minRatings, maxRatings);
    const rated = new Set<string>();
    let at = start + rng.int(0, 60) * DAY;
    for (let n = 0; n < count * 3 && rated.size < count; n++) {
      const fromTaste = rng.bernoulli(0.7);
      const itemId = pick(fromTaste ? pool : everything);
      if (rated.has(itemId)) continue;
      rated.add(itemId);
      const inTaste = liked.has((Number(itemId.slice(1)) - 1) % tastes);
      const rating = inTaste ? (rng.bernoulli(0.85) ? rng.int(4, 6) : 3) : rng.bernoulli(0.2) ? 4 : rng.int(1, 4);
      // Sessions: most ratings follow the previous within minutes, some after days.
      at += rng.bernoulli(0.1) ? rng.int(1, 5) * DAY : rng.int(20, 600) * 1000;
      ratings.push({ userId, itemId, rating, at });
    }
  }
  ratings.sort((a, b) => a.at - b.at || (a.userId < b.userId ? -1 : 1) || (a.itemId < b.itemId ? -1 : 1));
  return { name: 'synthetic', ratings, items };
}
