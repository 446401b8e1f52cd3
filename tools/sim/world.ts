/**
 * The simulated world: categories, a catalogue with long-tailed popularity, and users with latent
 * preferences that nobody but the simulator (and the oracle) can see. Everything is derived from
 * one seed, so a world can be rebuilt anywhere (a test, a benchmark, a training job) from its
 * options alone. Times are kept relative (`ageMs`) so that the same seed gives the same world
 * whenever it is built; `catalogueInputs(world, now)` anchors them.
 */
import { createRng, createSampler, zipfWeights, type Rng, type Seed } from '../../src/core/random.js';

/** Categories of the demo world: id-like names, as the API expects. */
export const DEFAULT_CATEGORIES = [
  'pets',
  'sports',
  'cooking',
  'travel',
  'music',
  'gaming',
  'tech',
  'fashion',
  'science',
  'comedy',
  'news',
  'art',
] as const;

const TAGS: Record<string, readonly string[]> = {
  pets: ['corgi', 'cat', 'puppy', 'parrot', 'shiba', 'aquarium', 'rescue'],
  sports: ['football', 'tennis', 'climbing', 'running', 'cycling', 'highlights', 'nba'],
  cooking: ['baking', 'ramen', 'vegan', 'bbq', 'pasta', 'street-food', 'one-pot'],
  travel: ['hiking', 'japan', 'roadtrip', 'beach', 'budget', 'vanlife', 'islands'],
  music: ['guitar', 'jazz', 'cover', 'live', 'synth', 'kpop', 'lofi'],
  gaming: ['speedrun', 'rpg', 'esports', 'retro', 'indie', 'minecraft', 'walkthrough'],
  tech: ['ai', 'gadgets', 'linux', 'phones', 'diy-electronics', 'programming', 'review'],
  fashion: ['streetwear', 'vintage', 'sneakers', 'makeup', 'thrift', 'runway', 'outfits'],
  science: ['space', 'physics', 'biology', 'experiments', 'climate', 'math', 'dinosaurs'],
  comedy: ['standup', 'sketch', 'pranks', 'parody', 'memes', 'improv', 'bloopers'],
  news: ['politics', 'economy', 'world', 'local', 'explainer', 'breaking', 'interview'],
  art: ['painting', 'pottery', 'drawing', 'animation', 'sculpture', 'calligraphy', 'timelapse'],
};
const GENERIC_TAGS = ['funny', 'howto', 'short', 'longform', 'trending', 'beginner'] as const;

/** Scale of click probabilities: a perfect item in a user's favourite category is clicked at ~0.7. */
export const CLICK_SCALE = 0.7;

export interface WorldOptions {
  seed?: Seed;
  users?: number;
  items?: number;
  categories?: readonly string[];
  /** Share of items published in the last half hour (little or no history: the exploration case). */
  newItemShare?: number;
  /** Share of users with no behaviour before the run; they arrive part-way through it. */
  newUserShare?: number;
  /** Share of established users who declared interests (new users declare more often). */
  declaredShare?: number;
}

export interface SimItem {
  id: string;
  category: string;
  categoryIndex: number;
  tags: string[];
  authorId: string;
  /** Latent appeal in (0, 1]: how clickable the item is to someone who likes its category. */
  quality: number;
  /** How long before the simulation's start it was published. */
  ageMs: number;
  isNew: boolean;
  /** Simulated history before the run: impressions and clicks (long-tailed). */
  views: number;
  clicks: number;
}

export interface SimUser {
  id: string;
  index: number;
  /** Latent affinity per category in [0, 1], at rest (outside a session's drift). */
  preferences: Float64Array;
  /** Category indices of the user's strong interests, strongest first. */
  interests: number[];
  /** Category indices the user strongly dislikes (candidates for HIDE). */
  disliked: number[];
  /** Interests the user declared at sign-up, or null when they declared none. */
  declared: string[] | null;
  isNew: boolean;
  /** When the user shows up, as a fraction of the run (0 for established users). */
  arrival: number;
  /** Relative session frequency (long-tailed: a few users are very active). */
  activity: number;
}

export interface World {
  seed: Seed;
  categories: string[];
  items: SimItem[];
  users: SimUser[];
  itemById: Map<string, SimItem>;
  userById: Map<string, SimUser>;
}

/** Affinity below which a category is disliked enough to be hidden now and then. */
export const DISLIKE_BELOW = 0.01;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function itemTags(rng: Rng, category: string): string[] {
  const vocabulary = TAGS[category] ?? Array.from({ length: 6 }, (_, k) => `${category}-topic-${k}`);
  const tags = rng.sample(vocabulary, rng.int(1, 4));
  if (rng.bernoulli(0.3)) tags.push(rng.pick(GENERIC_TAGS));
  return tags;
}

/** Builds the world for `options`; the same options always give the same world. */
export function createWorld(options: WorldOptions = {}): World {
  const seed = options.seed ?? 1;
  const userCount = options.users ?? 200;
  const itemCount = options.items ?? 2000;
  const categories = [...(options.categories ?? DEFAULT_CATEGORIES)];
  const newItemShare = options.newItemShare ?? 0.05;
  const newUserShare = options.newUserShare ?? 0.15;
  const declaredShare = options.declaredShare ?? 0.3;
  if (categories.length < 2) throw new RangeError('a world needs at least two categories');

  // Some categories are broadly popular, others niche: a mild zipf over a shuffled order.
  const categoryRng = createRng(seed, 'categories');
  const categoryOrder = categoryRng.shuffle(categories.map((_, i) => i));
  const categoryWeights = new Float64Array(categories.length);
  const zipf = zipfWeights(categories.length, 0.6);
  categoryOrder.forEach((c, rank) => (categoryWeights[c] = zipf[rank] ?? 0));
  const drawCategory = createSampler(categoryWeights);

  const users = createUsers(seed, userCount, categories, categoryWeights, { newUserShare, declaredShare });

  // Mean affinity per category over the population: how well an item of it does on average.
  const meanAffinity = new Float64Array(categories.length);
  for (const u of users) {
    for (let c = 0; c < categories.length; c++)
      meanAffinity[c] = (meanAffinity[c] ?? 0) + (u.preferences[c] ?? 0) / users.length;
  }

  const itemRng = createRng(seed, 'items');
  const authors = Math.max(1, Math.round(itemCount / 8));
  const drawAuthor = createSampler(zipfWeights(authors, 1));
  const items: SimItem[] = [];
  for (let i = 0; i < itemCount; i++) {
    const categoryIndex = drawCategory(itemRng);
    const category = categories[categoryIndex] ?? '';
    const isNew = itemRng.bernoulli(newItemShare);
    items.push({
      id: `${category}-${i}`,
      category,
      categoryIndex,
      tags: itemTags(itemRng, category),
      authorId: `author-${drawAuthor(itemRng)}`,
      quality: Math.min(1, Math.max(0.02, Math.exp(itemRng.normal(-1.2, 0.7)))),
      ageMs: Math.round(isNew ? itemRng.uniform(0, 30 * MINUTE) : itemRng.uniform(HOUR, 7 * DAY)),
      isNew,
      views: 0,
      clicks: 0,
    });
  }

  // History: exposure is long-tailed (rich get richer) and leans towards better items, but luck
  // matters; young items have had little time to be seen. Clicks follow from exposure × appeal.
  const historyRng = createRng(seed, 'history');
  const luck = items.map((item, i) => ({ i, score: item.quality * Math.exp(historyRng.normal(0, 0.5)) }));
  luck.sort((a, b) => b.score - a.score);
  const exposure = zipfWeights(items.length, 0.9);
  let total = 0;
  const weight = new Float64Array(items.length);
  luck.forEach(({ i }, rank) => {
    const item = items[i];
    if (!item) return;
    weight[i] = (exposure[rank] ?? 0) * Math.min(1, item.ageMs / (2 * DAY));
    total += weight[i] ?? 0;
  });
  const impressions = items.length * 200;
  items.forEach((item, i) => {
    item.views = historyRng.poisson((impressions * (weight[i] ?? 0)) / (total || 1));
    const p = CLICK_SCALE * (meanAffinity[item.categoryIndex] ?? 0) * item.quality;
    item.clicks = Math.min(item.views, historyRng.poisson(item.views * p));
  });

  return {
    seed,
    categories,
    items,
    users,
    itemById: new Map(items.map((item) => [item.id, item])),
    userById: new Map(users.map((user) => [user.id, user])),
  };
}

function createUsers(
  seed: Seed,
  count: number,
  categories: string[],
  categoryWeights: Float64Array,
  shares: { newUserShare: number; declaredShare: number },
): SimUser[] {
  const users: SimUser[] = [];
  for (let index = 0; index < count; index++) {
    const rng = createRng(seed, 'user', index);
    const preferences = new Float64Array(categories.length);
    for (let c = 0; c < categories.length; c++) preferences[c] = rng.uniform(0.02, 0.12);

    // A few strong interests, more likely among broadly popular categories.
    const k = 1 + rng.categorical([0.3, 0.45, 0.25]);
    const weights = Float64Array.from(categoryWeights);
    const interests: number[] = [];
    for (let j = 0; j < Math.min(k, categories.length - 1); j++) {
      const c = rng.categorical(weights);
      weights[c] = 0;
      interests.push(c);
    }
    const strengths = interests.map((_, j) => (j === 0 ? rng.uniform(0.6, 0.85) : rng.uniform(0.4, 0.75)));
    strengths.sort((a, b) => b - a);
    interests.forEach((c, j) => (preferences[c] = strengths[j] ?? 0));

    const others = categories.map((_, c) => c).filter((c) => !interests.includes(c));
    const disliked = rng.bernoulli(0.5) && others.length > 0 ? [rng.pick(others)] : [];
    for (const c of disliked) preferences[c] = rng.uniform(0.001, DISLIKE_BELOW);

    const isNew = rng.bernoulli(shares.newUserShare);
    let declared: string[] | null = null;
    if (rng.bernoulli(isNew ? 0.8 : shares.declaredShare)) {
      // Declared interests are close to, but not exactly, the latent ones.
      const names = interests.filter((_, j) => j === 0 || rng.bernoulli(0.85));
      if (rng.bernoulli(0.15) && others.length > 0) names.push(rng.pick(others));
      declared = [...new Set(names)].map((c) => categories[c] ?? '');
    }
    users.push({
      id: `u${index}`,
      index,
      preferences,
      interests,
      disliked,
      declared,
      isNew,
      arrival: isNew ? rng.uniform(0.05, 0.6) : 0,
      activity: Math.exp(rng.normal(0, 0.8)),
    });
  }
  return users;
}

/** The `upsertItems` input shape (ItemInput in the schema). */
export interface ItemInput {
  id: string;
  category: string;
  tags: string[];
  authorId: string;
  createdAt: string;
}

/** The catalogue as `upsertItems` inputs, with publication times anchored at `now`. */
export function catalogueInputs(world: World, now = Date.now()): ItemInput[] {
  return world.items.map((item) => ({
    id: item.id,
    category: item.category,
    tags: item.tags,
    authorId: item.authorId,
    createdAt: new Date(now - item.ageMs).toISOString(),
  }));
}

/** The `updateUserProfile` input shape (UserProfileInput in the schema). */
export interface ProfileInput {
  userId: string;
  interests: string[];
}

/** Declared interests of the users who declared any. */
export function profileInputs(world: World, users: readonly SimUser[] = world.users): ProfileInput[] {
  return users.flatMap((u) => (u.declared ? [{ userId: u.id, interests: u.declared }] : []));
}

/** How a user's taste moves during one session: one category warms up towards `peak`. */
export interface SessionDrift {
  hot: number;
  peak: number;
  /** Steps for the hot category to cover ~63% of the way to its peak. */
  tau: number;
}

/**
 * The drift of one session: usually a secondary interest warming up, sometimes a new one; never
 * the category that is already on top, so the preferred category really changes as it proceeds.
 */
export function sessionDrift(world: World, user: SimUser, session: number): SessionDrift {
  const rng = createRng(world.seed, 'drift', user.id, session);
  const top = argmax(user.preferences);
  const secondary = user.interests.filter((c) => c !== top);
  const fresh = world.categories.map((_, c) => c).filter((c) => c !== top && !user.disliked.includes(c));
  const hot = secondary.length > 0 && rng.bernoulli(0.7) ? rng.pick(secondary) : rng.pick(fresh);
  const peak = Math.min(1, (user.preferences[top] ?? 0) + rng.uniform(0.15, 0.35));
  return { hot, peak, tau: rng.uniform(2, 6) };
}

/** The user's latent preferences at `step` of `session` (a negative session: at rest). */
export function preferencesAt(world: World, user: SimUser, session: number, step: number): Float64Array {
  const prefs = Float64Array.from(user.preferences);
  if (session < 0) return prefs;
  const { hot, peak, tau } = sessionDrift(world, user, session);
  const base = prefs[hot] ?? 0;
  prefs[hot] = base + (peak - base) * (1 - Math.exp(-step / tau));
  return prefs;
}

/** Index of the largest value (the first on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] ?? 0) > (values[best] ?? 0)) best = i;
  return best;
}
