/**
 * A small seeded PRNG (xoshiro128**) and the sampling helpers the simulator needs. Every random
 * choice in the simulator comes from a stream derived from one seed plus labels
 * (`createRng(seed, 'behaviour', userId, session, step)`), so a stream does not depend on how many
 * numbers other users or other policies consumed before it: runs interleaved differently, or
 * evaluated under another policy, still see the same world and the same coin flips.
 */

export type Seed = number | string;

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform integer in [min, max). */
  int(min: number, max: number): number;
  /** Uniform in [min, max). */
  uniform(min: number, max: number): number;
  /** Gaussian (Box–Muller). */
  normal(mean?: number, sd?: number): number;
  /** True with probability p. */
  bernoulli(p: number): boolean;
  /** Poisson count with mean `lambda` (normal approximation above 30, where it is exact enough). */
  poisson(lambda: number): number;
  /** An index drawn with probability proportional to `weights[i]` (O(n); see `createSampler`). */
  categorical(weights: ArrayLike<number>): number;
  /** One element, uniformly. */
  pick<T>(items: readonly T[]): T;
  /** Shuffles in place (Fisher–Yates) and returns the same array. */
  shuffle<T>(items: T[]): T[];
  /** `k` distinct elements in random order (partial Fisher–Yates over a copy). */
  sample<T>(items: readonly T[], k: number): T[];
  /** An independent stream derived from this one's seed and more labels. */
  fork(...labels: (string | number)[]): Rng;
}

/** cyrb128: a string to four well-mixed 32-bit words, enough state for xoshiro128**. */
function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** A stream for `seed` and `labels`: the same arguments always give the same numbers. */
export function createRng(seed: Seed, ...labels: (string | number)[]): Rng {
  const key = [String(seed), ...labels.map(String)].join('\u0000');
  let [a, b, c, d] = hash128(key);
  if ((a | b | c | d) === 0) a = 1; // the all-zero state is the one state xoshiro never leaves

  const uint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  const next = () => uint32() / 4294967296;

  const rng: Rng = {
    next,
    uint32,
    int: (min, max) => min + Math.floor(next() * (max - min)),
    uniform: (min, max) => min + next() * (max - min),
    normal(mean = 0, sd = 1) {
      const u = 1 - next(); // (0, 1]: log(0) would be -Infinity
      const v = next();
      return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    bernoulli: (p) => next() < p,
    poisson(lambda) {
      if (lambda <= 0) return 0;
      if (lambda > 30) return Math.max(0, Math.round(rng.normal(lambda, Math.sqrt(lambda))));
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = next();
      while (p > limit) {
        k++;
        p *= next();
      }
      return k;
    },
    categorical(weights) {
      let total = 0;
      for (let i = 0; i < weights.length; i++) total += weights[i] ?? 0;
      let x = next() * total;
      for (let i = 0; i < weights.length; i++) {
        x -= weights[i] ?? 0;
        if (x < 0) return i;
      }
      return weights.length - 1;
    },
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[Math.floor(next() * items.length)] as T;
    },
    shuffle<T>(items: T[]): T[] {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const tmp = items[i] as T;
        items[i] = items[j] as T;
        items[j] = tmp;
      }
      return items;
    },
    sample<T>(items: readonly T[], k: number): T[] {
      const copy = [...items];
      const n = Math.min(k, copy.length);
      for (let i = 0; i < n; i++) {
        const j = i + Math.floor(next() * (copy.length - i));
        const tmp = copy[i] as T;
        copy[i] = copy[j] as T;
        copy[j] = tmp;
      }
      return copy.slice(0, n);
    },
    fork: (...more) => createRng(seed, ...labels, ...more),
  };
  return rng;
}

/** Zipf weights `1 / rank^exponent` for ranks 1..n: the usual shape of popularity and activity. */
export function zipfWeights(n: number, exponent: number): Float64Array {
  const weights = new Float64Array(n);
  for (let i = 0; i < n; i++) weights[i] = 1 / Math.pow(i + 1, exponent);
  return weights;
}

/**
 * A sampler over fixed weights in O(log n) per draw (cumulative table + binary search), for when
 * the same long-tailed distribution is drawn from many times.
 */
export function createSampler(weights: ArrayLike<number>): (rng: Rng) => number {
  const cumulative = new Float64Array(weights.length);
  let total = 0;
  for (let i = 0; i < weights.length; i++) {
    total += Math.max(0, weights[i] ?? 0);
    cumulative[i] = total;
  }
  if (!(total > 0)) throw new RangeError('a sampler needs at least one positive weight');
  return (rng) => {
    const x = rng.next() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] ?? 0) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/** A zipf-distributed rank in [0, n): long-tailed sampling over an ordered population. */
export function zipfSampler(n: number, exponent: number): (rng: Rng) => number {
  return createSampler(zipfWeights(n, exponent));
}

/** Uniform numbers in [0, 1) from the same generator, as a plain function (shuffles, initialisation). */
export const randomSource = (seed: Seed, ...labels: (string | number)[]): (() => number) =>
  createRng(seed, ...labels).next;
