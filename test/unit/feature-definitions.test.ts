import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ACTION_CODES,
  activeTags,
  bucketStart,
  COVISIT_MIN_WEIGHT,
  decayedValue,
  DEFAULT_ACTION_WEIGHTS,
  HOUR,
  MINUTE,
  parseActionWeights,
  TRENDING,
  trendingBuckets,
  WINDOW_NAMES,
  WINDOWS,
  windowBuckets,
  type UserTag,
} from '../../src/features/definitions.js';
import { zeroTotals, type ItemFeatures } from '../../src/features/item-features.js';
import {
  FEATURE_COUNT,
  NEW_ITEM_AGE_MS,
  RANKING_FEATURES,
  createRowWriter,
  ITEM_ROW,
  ITEM_ROW_WIDTH,
  NO_CATEGORY,
  UNCODED_CATEGORY,
  writeItemRow,
  userContext,
  writeFeatureRow,
  type UserContext,
} from '../../src/features/ranking-features.js';
import type { UserRealtime } from '../../src/features/user-features.js';
import { parseModelMetadata } from '../../src/model/metadata.js';
import { decodeModelInfo } from '../../src/model/onnx-format.js';
import { priorModel } from '../../src/model/prior.js';
import { randomSource } from '../../src/core/random.js';
import { ACTIONS, ENGAGED_ACTIONS, engagedCount, type Action } from '../../src/core/events.js';

const rng = randomSource(17);
const randomTime = () => Date.UTC(2025, 0, 1) + Math.floor(rng() * 30 * 24 * HOUR);

describe('sliding windows', () => {
  it('each window is a whole number of buckets, and the 5-minute one slides by the minute', () => {
    for (const name of WINDOW_NAMES) {
      const { lengthMs, bucketMs } = WINDOWS[name];
      expect(Number.isInteger(lengthMs / bucketMs)).toBe(true);
      expect(lengthMs / bucketMs).toBeGreaterThan(1);
    }
    expect(WINDOWS['5m']).toEqual({ lengthMs: 5 * MINUTE, bucketMs: MINUTE });
    expect(WINDOWS['1h'].lengthMs).toBe(HOUR);
  });

  it('an event counts in a window exactly when its bucket is one of the last length/bucket ones', () => {
    for (const name of WINDOW_NAMES) {
      const { lengthMs, bucketMs } = WINDOWS[name];
      for (let trial = 0; trial < 300; trial++) {
        const at = randomTime();
        const buckets = windowBuckets(name, at);
        // Contiguous, aligned, oldest first, ending with the bucket that holds `at`.
        expect(buckets).toHaveLength(lengthMs / bucketMs);
        expect(buckets.at(-1)).toBe(bucketStart(at, bucketMs));
        buckets.forEach((b, i) => {
          expect(b % bucketMs).toBe(0);
          if (i > 0) expect(b - (buckets[i - 1] ?? 0)).toBe(bucketMs);
        });
        // Brute force: an event at `t` is in the window iff it is no later than `at`'s bucket and
        // less than `lengthMs` before that bucket's end.
        const end = bucketStart(at, bucketMs) + bucketMs;
        for (let k = 0; k < 20; k++) {
          const t = at - Math.floor(rng() * 2 * lengthMs);
          expect(buckets.includes(bucketStart(t, bucketMs))).toBe(t >= end - lengthMs && t < end);
        }
      }
    }
  });

  it('trending weighs each bucket half as much every half-life, newest first, over its horizon', () => {
    const at = randomTime();
    const buckets = trendingBuckets(at);
    expect(buckets).toHaveLength(TRENDING.horizonBuckets);
    expect(buckets[0]).toEqual({ bucket: bucketStart(at, TRENDING.bucketMs), weight: 1 });
    buckets.forEach(({ bucket, weight }, age) => {
      expect(bucket).toBe(buckets[0]!.bucket - age * TRENDING.bucketMs);
      const later = buckets[age + TRENDING.halfLifeBuckets];
      if (later) expect(later.weight).toBeCloseTo(weight / 2, 12);
      if (age > 0) expect(weight).toBeLessThan(buckets[age - 1]!.weight);
    });
  });
});

describe('decayed sums', () => {
  it('read at any time, a stored sum is the sum of each event decayed from its own time, whatever the base', () => {
    const halfLife = 2 * HOUR;
    for (let trial = 0; trial < 200; trial++) {
      const events = Array.from({ length: 1 + Math.floor(rng() * 8) }, () => ({
        t: randomTime(),
        w: (rng() - 0.3) * 6,
      }));
      const base = randomTime();
      // What the stream stores, adding events in any order.
      const stored = events.reduce((s, e) => s + e.w * 2 ** ((e.t - base) / halfLife), 0);
      const at = Math.max(...events.map((e) => e.t)) + Math.floor(rng() * 10 * HOUR);
      const expected = events.reduce((s, e) => s + e.w * 2 ** (-(at - e.t) / halfLife), 0);
      expect(decayedValue(stored, base, at, halfLife)).toBeCloseTo(expected, 9);
    }
  });

  it('a value halves every half-life and is unchanged at its base', () => {
    expect(decayedValue(8, 0, 0, HOUR)).toBe(8);
    expect(decayedValue(8, 0, HOUR, HOUR)).toBe(4);
    expect(decayedValue(8, 0, 3 * HOUR, HOUR)).toBe(1);
  });
});

describe('actions', () => {
  it('engagement is the actions worth at least a click: not a view, never a skip or hide', () => {
    const weighty = ACTIONS.filter((a) => DEFAULT_ACTION_WEIGHTS[a] >= COVISIT_MIN_WEIGHT);
    expect([...ENGAGED_ACTIONS].sort()).toEqual([...weighty].sort());
    expect(ENGAGED_ACTIONS).not.toContain('VIEW');
    for (const a of ['SKIP', 'HIDE'] as const) expect(DEFAULT_ACTION_WEIGHTS[a]).toBeLessThan(0);
    const totals = zeroTotals();
    ACTIONS.forEach((a, i) => (totals[a] = 10 ** i));
    expect(engagedCount(totals)).toBe(ENGAGED_ACTIONS.reduce((s, a) => s + totals[a], 0));
    expect(engagedCount({ ...zeroTotals(), VIEW: 100, SKIP: 5, HIDE: 2 })).toBe(0);
  });

  it("each has its own one-character code in a user's window fields, none a separator or another action's name", () => {
    const codes = ACTIONS.map((a) => ACTION_CODES[a]);
    expect(codes.every((c) => /^[a-z]$/.test(c))).toBe(true);
    expect(new Set(codes).size).toBe(ACTIONS.length);
    expect(Object.keys(ACTION_CODES).sort()).toEqual([...ACTIONS].sort());
  });

  it('weights from the environment override only the actions they name, and reject the rest', () => {
    expect(parseActionWeights('')).toEqual(DEFAULT_ACTION_WEIGHTS);
    expect(parseActionWeights(' LIKE = 2 , HIDE=-10')).toEqual({ ...DEFAULT_ACTION_WEIGHTS, LIKE: 2, HIDE: -10 });
    expect(() => parseActionWeights('LOVE=3')).toThrow(/unknown action "LOVE"/);
    expect(() => parseActionWeights('LIKE=')).toThrow(/must be a number/);
    expect(() => parseActionWeights('LIKE=1001')).toThrow(/must be a number/);
    expect(() => parseActionWeights('LIKE=abc')).toThrow(/must be a number/);
  });

  it('a tag holds until its end time, and active tags come in name order', () => {
    const tag = (name: string, until: number): UserTag => ({
      tag: name,
      since: 0,
      until,
      rule: 'r',
      reason: 'x',
      eventIds: [],
    });
    const tags = [tag('zebra', 100), tag('ant', 200), tag('gone', 50)];
    expect(activeTags({ tags }, 50).map((t) => t.tag)).toEqual(['ant', 'zebra']);
    expect(activeTags({ tags }, 100).map((t) => t.tag)).toEqual(['ant']);
    expect(activeTags({ tags }, 200)).toEqual([]);
  });
});

describe('the ranking model inputs', () => {
  const user: UserRealtime = {
    userId: 'u',
    latestEventAt: 1,
    windows: [
      {
        window: '5m',
        endsAt: 0,
        counts: [
          { category: 'pets', action: 'LIKE', count: 2 },
          { category: 'pets', action: 'VIEW', count: 4 },
          { category: 'pets', action: 'HIDE', count: 1 },
        ],
      },
      {
        window: '1h',
        endsAt: 0,
        counts: [
          { category: 'pets', action: 'CLICK', count: 5 },
          { category: 'pets', action: 'SKIP', count: 3 },
          { category: 'cars', action: 'CLICK', count: 7 },
        ],
      },
    ],
    affinity: [
      { category: 'pets', score: 3 },
      { category: 'cars', score: 1 },
      { category: 'food', score: -2 },
    ],
    recentItems: [],
    positiveItems: [],
    hiddenItems: [],
    interests: ['food'],
    tags: [],
    readAt: 0,
  };
  const item = (
    category: string,
    createdAt: number | null,
    totals: Partial<Record<Action, number>> = {},
  ): ItemFeatures => ({
    itemId: 'i',
    known: true,
    category,
    tags: [],
    authorId: null,
    createdAt,
    popularity: 0,
    totals: { ...zeroTotals(), ...totals },
    longHorizonScore: 0,
  });
  const row = (context: UserContext, features: ItemFeatures, at = Date.UTC(2025, 0, 2)) => {
    const out = new Float32Array(FEATURE_COUNT);
    writeFeatureRow(out, 0, context, features, { neighbour: 0, trending: 0 }, at);
    return Object.fromEntries(RANKING_FEATURES.map((name, i) => [name, out[i]]));
  };

  it('the feature list has no duplicates, and every windowed feature names a real window', () => {
    expect(new Set(RANKING_FEATURES).size).toBe(RANKING_FEATURES.length);
    expect(FEATURE_COUNT).toBe(RANKING_FEATURES.length);
    for (const name of RANKING_FEATURES) {
      const suffix = /_(\d+[mh])$/.exec(name)?.[1];
      if (suffix) expect(WINDOW_NAMES).toContain(suffix);
    }
  });

  it('the shipped model and the hand-set prior read exactly these columns, in this order', () => {
    for (const bytes of [readFileSync(new URL('../../models/default.onnx', import.meta.url)), priorModel('p')]) {
      const meta = parseModelMetadata(decodeModelInfo(bytes).metadata);
      expect(meta.featureNames).toEqual([...RANKING_FEATURES]);
    }
  });

  it("one request's row writer, over item rows, writes the same rows as writeFeatureRow, category by category", () => {
    const context = userContext(user, DEFAULT_ACTION_WEIGHTS);
    const write = createRowWriter(context);
    const at = Date.UTC(2025, 0, 2);
    const candidates = [
      item('pets', at - 1000, { VIEW: 9, LIKE: 2 }),
      item('food', null, { SKIP: 3 }),
      item('pets', at - NEW_ITEM_AGE_MS * 2, { CLICK: 4, HIDE: 1 }),
      { ...item('pets', null), category: null },
      item('cars', at, {}),
    ];
    const signals = [
      { neighbour: 0, trending: 0 },
      { neighbour: 2.5, trending: -1 },
    ];
    // Item rows as the item cache writes them: categories by code, one without a code (read from
    // the item), one without a category.
    const codes = ['pets', 'food'];
    const rows = new Float64Array(ITEM_ROW_WIDTH * candidates.length);
    candidates.forEach((c, i) => {
      const code = c.category === null ? undefined : codes.indexOf(c.category);
      writeItemRow(c, rows, i * ITEM_ROW_WIDTH, code === undefined || code < 0 ? UNCODED_CATEGORY : code);
    });
    expect([...rows].filter((_, k) => k % ITEM_ROW_WIDTH === ITEM_ROW.category)).toEqual([
      0,
      1,
      0,
      NO_CATEGORY,
      UNCODED_CATEGORY,
    ]);
    const viaWriter = new Float32Array(FEATURE_COUNT * candidates.length);
    const alone = new Float32Array(FEATURE_COUNT * candidates.length);
    candidates.forEach((c, i) => {
      write(viaWriter, i * FEATURE_COUNT, rows, i * ITEM_ROW_WIDTH, c.category, signals[i % 2]!, at);
      writeFeatureRow(alone, i * FEATURE_COUNT, context, c, signals[i % 2]!, at);
    });
    expect([...viaWriter]).toEqual([...alone]);
    expect(viaWriter.every(Number.isFinite)).toBe(true);
  });

  it('a row fills exactly its own columns, with finite values', () => {
    const context = userContext(user, DEFAULT_ACTION_WEIGHTS);
    const out = new Float32Array(FEATURE_COUNT * 3).fill(Number.NaN);
    writeFeatureRow(
      out,
      FEATURE_COUNT,
      context,
      item('pets', null, { VIEW: 9, LIKE: 2 }),
      { neighbour: 3, trending: -2 },
      0,
    );
    expect(out.subarray(0, FEATURE_COUNT).every(Number.isNaN)).toBe(true);
    expect(out.subarray(FEATURE_COUNT, 2 * FEATURE_COUNT).every(Number.isFinite)).toBe(true);
    expect(out.subarray(2 * FEATURE_COUNT).every(Number.isNaN)).toBe(true);
  });

  it('window counts split actions by the sign of their weight; skips and hides are always negative', () => {
    const context = userContext(user, DEFAULT_ACTION_WEIGHTS);
    expect(row(context, item('pets', null))).toMatchObject({
      user_category_positive_5m: 6,
      user_category_negative_5m: 1,
      user_category_positive_1h: 5,
      user_category_negative_1h: 3,
      user_category_affinity: 3,
      user_category_affinity_share: 0.75,
      user_declared_interest: 0,
    });
    expect(row(context, item('food', null))).toMatchObject({
      user_category_affinity: -2,
      user_category_affinity_share: 0,
      user_declared_interest: 1,
      user_category_positive_1h: 0,
    });
    // With views weighing nothing, they stop counting as positive.
    const noViews = userContext(user, parseActionWeights('VIEW=0'));
    expect(row(noViews, item('pets', null)).user_category_positive_5m).toBe(2);
    // Even a positive weight does not make a hide positive.
    const oddHide = userContext(user, parseActionWeights('HIDE=1'));
    expect(row(oddHide, item('pets', null))).toMatchObject({
      user_category_positive_5m: 6,
      user_category_negative_5m: 1,
    });
    // Activity is the whole last hour, any category.
    expect(row(context, item('cars', null)).user_activity_1h).toBeCloseTo(Math.log1p(15), 6);
  });

  it('an item is new for its first day only, and older items look older', () => {
    const context = userContext(user, DEFAULT_ACTION_WEIGHTS);
    const at = Date.UTC(2025, 0, 2);
    const ages = [0, NEW_ITEM_AGE_MS - 1, NEW_ITEM_AGE_MS, 3 * NEW_ITEM_AGE_MS];
    const rows = ages.map((age) => row(context, item('pets', at - age), at));
    expect(rows.map((r) => r.item_is_new)).toEqual([1, 1, 0, 0]);
    const logAges = rows.map((r) => r.item_age_log_hours ?? 0);
    expect([...logAges].sort((a, b) => a - b)).toEqual(logAges);
    // An item without a creation time is treated as old, not new.
    expect(row(context, item('pets', null), at).item_is_new).toBe(0);
  });

  it('engagement and negative rates are smoothed shares in (0, 1) that move with the counts', () => {
    const context = userContext(user, DEFAULT_ACTION_WEIGHTS);
    const cold = row(context, item('pets', null));
    const liked = row(context, item('pets', null, { VIEW: 100, LIKE: 60 }));
    const hidden = row(context, item('pets', null, { VIEW: 100, HIDE: 60 }));
    for (const r of [cold, liked, hidden])
      for (const f of ['item_engagement_rate', 'item_negative_rate'] as const) {
        expect(r[f]).toBeGreaterThan(0);
        expect(r[f]).toBeLessThan(1);
      }
    expect(liked.item_engagement_rate).toBeGreaterThan(cold.item_engagement_rate!);
    expect(hidden.item_negative_rate).toBeGreaterThan(cold.item_negative_rate!);
    expect(hidden.item_engagement_rate).toBeLessThan(cold.item_engagement_rate!);
  });
});
