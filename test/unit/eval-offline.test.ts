/**
 * The offline evaluation library (bench/eval): pure functions over in-memory logs and small
 * fixture files, no Kafka or Redis.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  covisitation,
  ease,
  easeWeights,
  invertSpd,
  itemKnn,
  popularity,
  topK,
  type Recommender,
} from '../../bench/eval/baselines.js';
import { compareRatings, loadDataset, normaliseCategory, type Rating } from '../../bench/eval/dataset.js';
import { evaluate } from '../../bench/eval/metrics.js';
import { splitByUser } from '../../bench/eval/split.js';

const rating = (userId: string, itemId: string, value: number, at: number): Rating => ({
  userId,
  itemId,
  rating: value,
  at,
});

/** Inverse of a 3×3 row-major matrix by the adjugate, as a reference independent of Cholesky. */
function inverse3(m: readonly number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  const adj = [e * i - f * h, c * h - b * i, b * f - c * e, f * g - d * i, a * i - c * g, c * d - a * f];
  const rest = [d * h - e * g, b * g - a * h, a * e - b * d];
  return [...adj, ...rest].map((x) => x / det);
}

describe('evaluate', () => {
  it('matches hand-computed recall, NDCG, hit rate and coverage', () => {
    const filler = Array.from({ length: 21 }, (_, i) => `f${i}`);
    const u2List = [...filler.slice(0, 11), 'd', ...filler.slice(11, 19), 'g'];
    const lists = new Map<string, readonly string[]>([
      ['u1', ['x', 'a', 'y', 'b']],
      ['u2', u2List], // 'd' at rank 12 (a hit for @20, not for @10); 'g' at rank 21 counts for nothing
    ]);
    const test = new Map([
      ['u1', new Set(['a', 'b', 'c'])],
      ['u2', new Set(['d', 'g'])],
      ['u3', new Set(['e'])], // no list: counts as 0
    ]);
    const m = evaluate(lists, test, 48);

    const u1Dcg = 1 / Math.log2(3) + 1 / Math.log2(5);
    const u1Ideal = 1 + 1 / Math.log2(3) + 1 / Math.log2(4);
    expect(m.users).toBe(3);
    expect(m.recall20).toBeCloseTo((2 / 3 + 1 / 2 + 0) / 3, 12);
    expect(m.ndcg10).toBeCloseTo(u1Dcg / u1Ideal / 3, 12);
    expect(m.hitRate20).toBeCloseTo(2 / 3, 12);
    // u1: x, a, y, b; u2: its first 20 (f0..f10, d, f11..f18) -> 24 distinct of 48.
    expect(m.coverage20).toBeCloseTo(24 / 48, 12);
  });

  it('gives a perfect list NDCG 1 and caps the ideal at 10 hits', () => {
    const relevant = Array.from({ length: 15 }, (_, i) => `r${i}`);
    const m = evaluate(new Map([['u', relevant]]), new Map([['u', new Set(relevant)]]), 15);
    expect(m.ndcg10).toBeCloseTo(1, 12);
    expect(m.recall20).toBe(1);
    expect(m.coverage20).toBe(1);
  });

  it('is all zeros without test users', () => {
    expect(evaluate(new Map(), new Map(), 0)).toEqual({
      users: 0,
      recall20: 0,
      ndcg10: 0,
      hitRate20: 0,
      coverage20: 0,
    });
  });
});

describe('splitByUser', () => {
  const options = { holdout: 0.2, positiveThreshold: 4, minRatings: 5 };

  it('holds out the last 20% of each user in time order, ties by item id', () => {
    const log = [
      ...Array.from({ length: 8 }, (_, i) => rating('uA', `m${i + 1}`, i % 2 ? 5 : 2, (i + 1) * 1000)),
      rating('uA', 'mb', 5, 9000),
      rating('uA', 'ma', 4, 9000),
      rating('uA', 'mc', 3, 10_000), // held out, but not a positive
      rating('uB', 'm1', 5, 500), // uB has 3 < 5 ratings: train only
      rating('uB', 'm2', 5, 20_000),
      rating('uB', 'm3', 5, 30_000),
    ].reverse();
    const split = splitByUser(log, options);

    // 11 ratings -> round(2.2) = 2 held out: mb (ties with ma at 9000, sorts after it) and mc.
    expect(split.test).toEqual(new Map([['uA', new Set(['mb'])]]));
    expect([...(split.seen.get('uA') ?? [])].sort()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'ma']);
    expect(split.cutoff.get('uA')).toBe(9000);
    expect(split.trainPositives.get('uA')?.map((r) => r.itemId)).toEqual(['m2', 'm4', 'm6', 'm8', 'ma']);
    expect(split.seen.get('uB')).toEqual(new Set(['m1', 'm2', 'm3']));
    expect(split.cutoff.get('uB')).toBe(30_000);
    expect(split.train).toHaveLength(12);
    for (let i = 1; i < split.train.length; i++) {
      expect(compareRatings(split.train[i - 1] as Rating, split.train[i] as Rating)).toBeLessThan(0);
    }
  });

  it('never leaks: held-out ratings are later than the cutoff and absent from train', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const log: Rating[] = [];
    for (let u = 0; u < 40; u++) {
      const count = 1 + Math.floor(rnd() * 30);
      for (let r = 0; r < count; r++) {
        log.push(rating(`u${u}`, `m${Math.floor(rnd() * 50)}`, 1 + Math.floor(rnd() * 5), Math.floor(rnd() * 100)));
      }
    }
    const split = splitByUser(log, options);
    const trainSet = new Set(split.train);
    for (let u = 0; u < 40; u++) {
      const userId = `u${u}`;
      const mine = log.filter((r) => r.userId === userId);
      const train = mine.filter((r) => trainSet.has(r));
      const held = mine.filter((r) => !trainSet.has(r));
      const expectedHeld = mine.length < 5 ? 0 : Math.max(1, Math.round(mine.length * 0.2));
      expect(held).toHaveLength(expectedHeld);
      const cutoff = split.cutoff.get(userId) ?? NaN;
      expect(Math.max(...train.map((r) => r.at))).toBe(cutoff);
      for (const r of held) expect(r.at).toBeGreaterThanOrEqual(cutoff);
      const seen = split.seen.get(userId) ?? new Set();
      expect(seen).toEqual(new Set(train.map((r) => r.itemId)));
      const expectedTest = new Set(held.filter((r) => r.rating >= 4 && !seen.has(r.itemId)).map((r) => r.itemId));
      expect(split.test.get(userId) ?? new Set()).toEqual(expectedTest);
    }
  });
});

/**
 * Two clusters: 30 users like every "ma*" item (popular), 8 like every "mz*" item (niche), 2 like
 * both. The niche ids sort last so that id tie-breaks cannot make a test pass.
 */
function clusterLog(): Rating[] {
  const popular = Array.from({ length: 10 }, (_, i) => `ma${i}`);
  const niche = Array.from({ length: 10 }, (_, i) => `mz${i}`);
  const log: Rating[] = [];
  let at = 0;
  const like = (userId: string, items: string[]) => {
    for (const itemId of items) log.push(rating(userId, itemId, 5, (at += 60_000)));
    at += 86_400_000;
  };
  for (let u = 0; u < 30; u++) like(`up${u}`, popular);
  for (let u = 0; u < 8; u++) like(`un${u}`, niche);
  for (let u = 0; u < 2; u++) like(`ub${u}`, [...popular.slice(0, 5), ...niche.slice(0, 5)]);
  like('target', niche.slice(0, 4));
  return log;
}

describe('baselines', () => {
  // minRatings 100: every rating is train, so `target` has seen exactly mz0..mz3.
  const split = splitByUser(clusterLog(), { holdout: 0.2, positiveThreshold: 4, minRatings: 100 });
  const niche = ['mz4', 'mz5', 'mz6', 'mz7', 'mz8', 'mz9'];

  it.each<[string, Recommender]>([
    ['itemKnn', itemKnn(split)],
    ['ease', ease(split)],
    ['ease (small λ)', ease(split, { lambda: 5 })],
    ['covisitation', covisitation(split)],
  ])('%s recommends the user’s cluster over popular items of the other', (_, recommend) => {
    const list = recommend('target', 8);
    expect(list).toHaveLength(8);
    expect(new Set(list.slice(0, 6))).toEqual(new Set(niche));
    expect(list.slice(6).every((id) => id.startsWith('ma'))).toBe(true);
  });

  it('popularity recommends the globally popular cluster', () => {
    const list = popularity(split)('target', 6);
    expect(list.every((id) => id.startsWith('ma'))).toBe(true);
    // ma0..ma4 have 32 positives, ma5..ma9 30: ties broken by id.
    expect(list).toEqual(['ma0', 'ma1', 'ma2', 'ma3', 'ma4', 'ma5']);
  });

  it('never recommends a seen item, is deterministic, and serves unknown users popularity', () => {
    for (const build of [popularity, covisitation, itemKnn, ease]) {
      const recommend = build(split);
      const list = recommend('target', 100);
      expect(list).toHaveLength(16); // 20 items, 4 seen
      expect(list.filter((id) => split.seen.get('target')?.has(id))).toEqual([]);
      expect(recommend('target', 100)).toEqual(list);
      expect(recommend('nobody', 3)).toEqual(['ma0', 'ma1', 'ma2']);
      expect(recommend('target', 0)).toEqual([]);
    }
  });

  it('covisitation only pairs positives within the window', () => {
    const hour = 3_600_000;
    const log = [
      rating('u1', 'mx', 5, 0),
      rating('u1', 'my', 5, 2 * hour), // outside 30 minutes of mx
      rating('u2', 'mx', 5, 0),
      rating('u2', 'mz', 5, 60_000),
      rating('u3', 'my', 5, 0),
      rating('u4', 'my', 5, 0),
      rating('u5', 'mx', 5, 10 * hour),
    ];
    const small = splitByUser(log, { holdout: 0.2, positiveThreshold: 4, minRatings: 100 });
    expect(popularity(small)('u5', 2)).toEqual(['my', 'mz']);
    expect(covisitation(small)('u5', 2)).toEqual(['mz', 'my']); // mz scored, my only fills
    expect(covisitation(small, { windowMs: 3 * hour })('u5', 2)).toEqual(['my', 'mz']); // tie on 1, by id
  });

  it('topK orders by score, then index, and skips excluded items', () => {
    const score = Float64Array.from([1, 3, 3, 2, 5]);
    expect(topK(score, [0, 1, 2, 3, 4], 5, 3)).toEqual([4, 1, 2]);
    expect(topK(score, [4, 3, 2, 1, 0], 5, 10, Uint8Array.from([0, 0, 0, 0, 1]))).toEqual([1, 2, 3, 0]);
  });
});

describe('EASE algebra', () => {
  it('inverts an SPD matrix like the 3×3 adjugate does', () => {
    const g = [4, 2, 1, 2, 5, 3, 1, 3, 6];
    const inverse = invertSpd(Float64Array.from(g), 3);
    const expected = inverse3(g);
    expected.forEach((x, i) => expect(inverse[i]).toBeCloseTo(x, 12));
  });

  it('inverts larger matrices (blocked path and short last block)', () => {
    for (const n of [4, 9, 13]) {
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) a[i * n + j] = 1 / (1 + Math.abs(i - j)) + (i === j ? n : 0);
      const p = invertSpd(a, n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let v = 0;
          for (let k = 0; k < n; k++) v += (a[i * n + k] ?? 0) * (p[k * n + j] ?? 0);
          expect(v).toBeCloseTo(i === j ? 1 : 0, 12);
        }
      }
    }
  });

  it('rejects a matrix that is not positive definite', () => {
    expect(() => invertSpd(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/not positive definite/);
  });

  it('gives B = −P / diag(P) with a zero diagonal', () => {
    // 4 users × 3 items, binary.
    const x = [
      [1, 1, 0],
      [1, 0, 1],
      [0, 1, 1],
      [1, 1, 1],
    ];
    const gram = Array.from({ length: 9 }, (_, c) =>
      x.reduce((sum, row) => sum + (row[Math.floor(c / 3)] ?? 0) * (row[c % 3] ?? 0), 0),
    );
    expect(gram).toEqual([3, 2, 2, 2, 3, 2, 2, 2, 3]);
    const lambda = 2;
    const p = inverse3(gram.map((v, c) => v + (c % 4 === 0 ? lambda : 0)));
    const b = easeWeights(Float64Array.from(gram), 3, lambda);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const expected = i === j ? 0 : -(p[i * 3 + j] ?? 0) / (p[j * 3 + j] ?? 1);
        expect(b[i * 3 + j]).toBeCloseTo(expected, 12);
      }
      expect(b[i * 3 + i]).toBe(0);
    }
    // G + λI = 3I + 2J, so P = (I − 2J/9) / 3: diagonal 7/27, off-diagonal −2/27, B off-diagonal 2/7.
    expect(b[1]).toBeCloseTo(2 / 7, 12);
  });
});

describe('loadDataset', () => {
  const dirs: string[] = [];
  const fixture = (files: Record<string, string | Buffer>) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'eval-offline-'));
    dirs.push(dir);
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const flags = (...on: number[]) => Array.from({ length: 19 }, (_, i) => (on.includes(i) ? '1' : '0')).join('|');

  it('reads MovieLens 100K (tab-separated u.data, latin1 pipe-separated u.item)', () => {
    const dir = fixture({
      'u.data': '2\t1\t3\t881250949\n1\t1\t5\t874965758\n1\t3\t4\t874965758\n',
      'u.item': Buffer.from(
        [
          `1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|${flags(3, 4, 5)}`,
          `267|unknown||||${flags(0)}`,
          `3|Café Noir (1995)|||http://x|${flags(10, 15)}`,
        ].join('\n') + '\n',
        'latin1',
      ),
    });
    const ds = loadDataset(dir);
    expect(ds.name).toBe(path.basename(dir));
    expect(ds.ratings).toEqual([
      rating('u1', 'm1', 5, 874965758000),
      rating('u1', 'm3', 4, 874965758000),
      rating('u2', 'm1', 3, 881250949000),
    ]);
    expect(ds.items.get('m1')).toEqual({
      itemId: 'm1',
      title: 'Toy Story (1995)',
      categories: ['animation', 'childrens', 'comedy'],
      releasedAt: Date.UTC(1995, 0, 1),
    });
    expect(ds.items.get('m267')).toEqual({ itemId: 'm267', title: null, categories: [], releasedAt: null });
    expect(ds.items.get('m3')).toEqual({
      itemId: 'm3',
      title: 'Café Noir (1995)',
      categories: ['film_noir', 'sci_fi'],
      releasedAt: Date.UTC(1995, 0, 1),
    });
  });

  it('reads MovieLens 1M (:: separated, latin1 movies)', () => {
    const dir = fixture({
      'ratings.dat': '1::1193::5::978300760\n2::2::3::978300000\n',
      'movies.dat': Buffer.from(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n2::Misérables, Les (1995)::Drama|Musical|Children's\n",
        'latin1',
      ),
    });
    const ds = loadDataset(dir);
    expect(ds.ratings).toEqual([rating('u2', 'm2', 3, 978300000000), rating('u1', 'm1193', 5, 978300760000)]);
    expect(ds.items.get('m2')).toEqual({
      itemId: 'm2',
      title: 'Misérables, Les (1995)',
      categories: ['drama', 'musical', 'childrens'],
      releasedAt: Date.UTC(1995, 0, 1),
    });
    expect(ds.items.get('m1193')?.releasedAt).toBe(Date.UTC(1975, 0, 1));
  });

  it('reads MovieLens latest csv (quoted titles, no genres, CRLF)', () => {
    const dir = fixture({
      'movies.csv': [
        'movieId,title,genres',
        '1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy',
        '11,"American President, The (1995)",Comedy|Drama|Romance',
        '12,"Say ""Hi"" (2001) ",(no genres listed)',
        '13,Untitled,Sci-Fi|Film-Noir|IMAX',
      ].join('\r\n'),
      'ratings.csv':
        'userId,movieId,rating,timestamp\r\n1,11,4.5,964982703\r\n1,1,4.0,964982224\r\n7,99,2.5,964982224\r\n',
    });
    const ds = loadDataset(dir);
    expect(ds.ratings).toEqual([
      rating('u1', 'm1', 4, 964982224000),
      rating('u7', 'm99', 2.5, 964982224000),
      rating('u1', 'm11', 4.5, 964982703000),
    ]);
    expect(ds.items.get('m11')).toEqual({
      itemId: 'm11',
      title: 'American President, The (1995)',
      categories: ['comedy', 'drama', 'romance'],
      releasedAt: Date.UTC(1995, 0, 1),
    });
    expect(ds.items.get('m12')).toEqual({
      itemId: 'm12',
      title: 'Say "Hi" (2001)',
      categories: [],
      releasedAt: Date.UTC(2001, 0, 1),
    });
    expect(ds.items.get('m13')).toEqual({
      itemId: 'm13',
      title: 'Untitled',
      categories: ['sci_fi', 'film_noir', 'imax'],
      releasedAt: null,
    });
    // Rated but not in movies.csv: a bare entry.
    expect(ds.items.get('m99')).toEqual({ itemId: 'm99', title: null, categories: [], releasedAt: null });
  });

  it('reads a generic interactions.csv (seconds or ms, optional rating)', () => {
    const dir = fixture({
      'interactions.csv': 'user,item,rating,timestamp\nalice,post-1,,1700000000000\nbob,post_2,3,1700000001\n',
    });
    const ds = loadDataset(dir);
    expect(ds.ratings).toEqual([
      rating('ualice', 'mpost-1', 1, 1_700_000_000_000),
      rating('ubob', 'mpost_2', 3, 1_700_000_001_000),
    ]);
    expect([...ds.items.keys()].sort()).toEqual(['mpost-1', 'mpost_2']);

    const noRating = fixture({ 'interactions.csv': 'user,item,timestamp\nalice,x,5\n' });
    expect(loadDataset(noRating).ratings).toEqual([rating('ualice', 'mx', 1, 5000)]);

    const badId = fixture({ 'interactions.csv': 'user,item,timestamp\nal ice,x,5\n' });
    expect(() => loadDataset(badId)).toThrow(/interactions\.csv:2: id "al ice"/);
  });

  it('names the directory and the files it looked for when nothing matches', () => {
    const dir = fixture({ 'README.txt': 'nothing here' });
    expect(() => loadDataset(dir)).toThrow(dir);
    expect(() => loadDataset(dir)).toThrow(
      /u\.data \+ u\.item.*ratings\.dat \+ movies\.dat.*ratings\.csv \+ movies\.csv.*interactions\.csv/,
    );
  });

  it('normalises category names to [a-z0-9_]+', () => {
    expect(normaliseCategory("Children's")).toBe('childrens');
    expect(normaliseCategory('Sci-Fi')).toBe('sci_fi');
    expect(normaliseCategory('Film-Noir')).toBe('film_noir');
    expect(normaliseCategory(' Science Fiction ')).toBe('science_fiction');
    expect(normaliseCategory('unknown')).toBeNull();
    expect(normaliseCategory('(no genres listed)')).toBeNull();
  });
});
