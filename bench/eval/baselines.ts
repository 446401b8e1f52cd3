/**
 * Reference recommenders fitted on the train side of a Split, so that the service's quality can be
 * read against known baselines (popularity, session co-visitation, item kNN, EASE). Everything is
 * held in typed arrays indexed by item position, because the pair counts dominate the cost.
 *
 * Items are numbered in id order, so "ties broken by item id" is "ties broken by index".
 */
import { compareIds } from './dataset.js';
import type { Split } from './split.js';

/** Top `k` item ids for a user, never an item the user has in train, ties broken by item id. */
export type Recommender = (userId: string, k: number) => string[];

export interface CovisitationOptions {
  /** Two positives of one user count as a pair when at most this far apart. */
  windowMs?: number;
}

export interface ItemKnnOptions {
  /** Neighbours kept per item. */
  neighbours?: number;
}

export interface EaseOptions {
  /** L2 regularisation of the item-item weights. */
  lambda?: number;
  /** Only the most frequent items get weights: the inverse costs O(maxItems³). */
  maxItems?: number;
}

/** Train positives in index form, shared by every baseline. */
interface TrainIndex {
  /** Item ids in id order; an item's index is its position here. */
  ids: string[];
  index: Map<string, number>;
  /** Item indices by train positive count (descending), then id. */
  popular: Int32Array;
  users: Map<string, number>;
  /** Per user (CSR): train positives in time order, repeats kept. */
  start: Int32Array;
  items: Int32Array;
  times: Float64Array;
  /** Per user (CSR): distinct train positives, i.e. the rows of the binary matrix. */
  distinctStart: Int32Array;
  distinctItems: Int32Array;
  seen: Map<string, Set<string>>;
}

function indexTrain(split: Split): TrainIndex {
  const idSet = new Set<string>();
  for (const r of split.train) idSet.add(r.itemId);
  const ids = [...idSet].sort(compareIds);
  const index = new Map(ids.map((id, i) => [id, i]));
  const n = ids.length;

  const users = new Map<string, number>();
  let total = 0;
  for (const [userId, positives] of split.trainPositives) {
    users.set(userId, users.size);
    total += positives.length;
  }
  const start = new Int32Array(users.size + 1);
  const items = new Int32Array(total);
  const times = new Float64Array(total);
  const distinctStart = new Int32Array(users.size + 1);
  const distinct: number[] = [];
  const count = new Float64Array(n);
  const mark = new Uint8Array(n);
  let p = 0;
  let u = 0;
  for (const positives of split.trainPositives.values()) {
    start[u] = p;
    distinctStart[u] = distinct.length;
    for (const r of positives) {
      const i = index.get(r.itemId);
      if (i === undefined) throw new Error(`train positive ${r.itemId} of ${r.userId} is not in split.train`);
      items[p] = i;
      times[p] = r.at;
      p++;
      count[i]!++;
      if (!mark[i]) {
        mark[i] = 1;
        distinct.push(i);
      }
    }
    for (let d = distinctStart[u]!; d < distinct.length; d++) mark[distinct[d]!] = 0;
    u++;
  }
  start[u] = p;
  distinctStart[u] = distinct.length;

  const popular = Int32Array.from(ids.keys()).sort((a, b) => count[b]! - count[a]! || a - b);
  return {
    ids,
    index,
    popular,
    users,
    start,
    items,
    times,
    distinctStart,
    distinctItems: Int32Array.from(distinct),
    seen: split.seen,
  };
}

/** Sparse score accumulator over item indices that remembers which entries it touched. */
class Accumulator {
  readonly score: Float64Array;
  readonly touched: Int32Array;
  private readonly flag: Uint8Array;
  count = 0;

  constructor(n: number) {
    this.score = new Float64Array(n);
    this.touched = new Int32Array(n);
    this.flag = new Uint8Array(n);
  }

  add(i: number, w: number): void {
    if (!this.flag[i]) {
      this.flag[i] = 1;
      this.touched[this.count++] = i;
    }
    this.score[i]! += w;
  }

  reset(): void {
    for (let t = 0; t < this.count; t++) {
      const i = this.touched[t]!;
      this.flag[i] = 0;
      this.score[i] = 0;
    }
    this.count = 0;
  }
}

/**
 * The best `k` of `candidates[0..count)` by score (descending), then index (ascending), skipping
 * `excluded`. A bounded heap keeps this O(count log k) instead of sorting every candidate.
 */
export function topK(
  score: Float64Array,
  candidates: ArrayLike<number>,
  count: number,
  k: number,
  excluded?: Uint8Array,
): number[] {
  const heap: number[] = [];
  if (k <= 0) return heap;
  // Root is the worst kept candidate.
  const worse = (a: number, b: number) => score[a]! < score[b]! || (score[a] === score[b] && a > b);
  for (let c = 0; c < count; c++) {
    const i = candidates[c]!;
    if (excluded?.[i]) continue;
    if (heap.length < k) {
      let pos = heap.length;
      heap.push(i);
      while (pos > 0) {
        const parent = (pos - 1) >> 1;
        if (!worse(heap[pos]!, heap[parent]!)) break;
        [heap[pos], heap[parent]] = [heap[parent]!, heap[pos]!];
        pos = parent;
      }
    } else if (worse(heap[0]!, i)) {
      heap[0] = i;
      let pos = 0;
      for (;;) {
        const l = 2 * pos + 1;
        let w = pos;
        if (l < k && worse(heap[l]!, heap[w]!)) w = l;
        if (l + 1 < k && worse(heap[l + 1]!, heap[w]!)) w = l + 1;
        if (w === pos) break;
        [heap[pos], heap[w]] = [heap[w]!, heap[pos]!];
        pos = w;
      }
    }
  }
  return heap.sort((a, b) => score[b]! - score[a]! || a - b);
}

/**
 * Turns a user's scores into their list: best scored candidates first, then popular items to fill
 * up to `k`, never a seen item.
 */
function ranker(train: TrainIndex) {
  const excluded = new Uint8Array(train.ids.length);
  return (userId: string, k: number, score?: Float64Array, candidates?: ArrayLike<number>, count = 0): string[] => {
    if (k <= 0) return [];
    const marked: number[] = [];
    for (const id of train.seen.get(userId) ?? []) {
      const i = train.index.get(id);
      if (i !== undefined && !excluded[i]) {
        excluded[i] = 1;
        marked.push(i);
      }
    }
    const chosen = score && candidates ? topK(score, candidates, count, k, excluded) : [];
    for (const i of chosen) {
      excluded[i] = 1;
      marked.push(i);
    }
    for (let p = 0; p < train.popular.length && chosen.length < k; p++) {
      const i = train.popular[p]!;
      if (!excluded[i]) chosen.push(i);
    }
    for (const i of marked) excluded[i] = 0;
    return chosen.map((i) => train.ids[i]!);
  };
}

/** Sparse item-item weights: per item its neighbours and their weights. */
interface ItemRows {
  neighbours: Int32Array[];
  weights: Float32Array[];
}

/** A recommender scoring item i by Σ over the user's distinct positives j of rows[j][i]. */
function rowSumRecommender(train: TrainIndex, rows: ItemRows): Recommender {
  const rank = ranker(train);
  const acc = new Accumulator(train.ids.length);
  return (userId, k) => {
    const u = train.users.get(userId);
    if (u === undefined) return rank(userId, k);
    for (let d = train.distinctStart[u]!; d < train.distinctStart[u + 1]!; d++) {
      const j = train.distinctItems[d]!;
      const neighbours = rows.neighbours[j]!;
      const weights = rows.weights[j]!;
      for (let e = 0; e < neighbours.length; e++) acc.add(neighbours[e]!, weights[e]!);
    }
    const list = rank(userId, k, acc.score, acc.touched, acc.count);
    acc.reset();
    return list;
  };
}

/** Most train positives first: the floor every personalised model has to beat. */
export function popularity(split: Split): Recommender {
  const rank = ranker(indexTrain(split));
  return (userId, k) => rank(userId, k);
}

/**
 * Session co-visitation: how often two items were liked by one user within `windowMs` of each
 * other (symmetric, counted per pair of positives). Computed one item row at a time into a dense
 * accumulator, so the cost is the number of in-window pairs, not items².
 */
export function covisitation(split: Split, options: CovisitationOptions = {}): Recommender {
  const windowMs = options.windowMs ?? 30 * 60_000;
  if (!(windowMs >= 0)) throw new Error(`windowMs must be >= 0, got ${windowMs}`);
  const train = indexTrain(split);
  const n = train.ids.length;
  const { start, items, times } = train;

  // Which user each position belongs to, and where each item occurs.
  const userOf = new Int32Array(items.length);
  for (let u = 0; u + 1 < start.length; u++) userOf.fill(u, start[u], start[u + 1]);
  const { offsets, values: occurrences } = groupBy(items, n);

  const rows: ItemRows = { neighbours: [], weights: [] };
  const acc = new Accumulator(n);
  for (let i = 0; i < n; i++) {
    for (let o = offsets[i]!; o < offsets[i + 1]!; o++) {
      const g = occurrences[o]!;
      const u = userOf[g]!;
      const t = times[g]!;
      const end = start[u + 1]!;
      for (let p = lowerBound(times, start[u]!, end, t - windowMs); p < end && times[p]! <= t + windowMs; p++) {
        const j = items[p]!;
        if (p !== g && j !== i) acc.add(j, 1);
      }
    }
    rows.neighbours.push(acc.touched.slice(0, acc.count));
    rows.weights.push(Float32Array.from(rows.neighbours[i]!, (j) => acc.score[j]!));
    acc.reset();
  }
  return rowSumRecommender(train, rows);
}

/**
 * Item kNN with cosine similarity on the binary user×item matrix of train positives, keeping the
 * `neighbours` most similar items per item (Sarwar et al. 2001; Deshpande & Karypis 2004).
 */
export function itemKnn(split: Split, options: ItemKnnOptions = {}): Recommender {
  const keep = options.neighbours ?? 100;
  if (!(keep >= 1)) throw new Error(`neighbours must be >= 1, got ${keep}`);
  const train = indexTrain(split);
  const n = train.ids.length;
  const { offsets: userOffsets, values: itemUsers } = itemUserLists(train);

  const rows: ItemRows = { neighbours: [], weights: [] };
  const acc = new Accumulator(n);
  for (let i = 0; i < n; i++) {
    const ni = userOffsets[i + 1]! - userOffsets[i]!;
    for (let o = userOffsets[i]!; o < userOffsets[i + 1]!; o++) {
      const u = itemUsers[o]!;
      for (let d = train.distinctStart[u]!; d < train.distinctStart[u + 1]!; d++) {
        const j = train.distinctItems[d]!;
        if (j !== i) acc.add(j, 1);
      }
    }
    for (let t = 0; t < acc.count; t++) {
      const j = acc.touched[t]!;
      acc.score[j] = acc.score[j]! / Math.sqrt(ni * (userOffsets[j + 1]! - userOffsets[j]!));
    }
    const best = topK(acc.score, acc.touched, acc.count, keep);
    rows.neighbours.push(Int32Array.from(best));
    rows.weights.push(Float32Array.from(best, (j) => acc.score[j]!));
    acc.reset();
  }
  return rowSumRecommender(train, rows);
}

/**
 * EASE (Steck 2019): the closed-form item-item ridge regression with a zero diagonal, fitted on
 * the binary train-positive matrix of the `maxItems` most frequent items. Other items are only
 * reachable through the popularity fill.
 */
export function ease(split: Split, options: EaseOptions = {}): Recommender {
  const lambda = options.lambda ?? 500;
  const maxItems = options.maxItems ?? 3000;
  if (!(lambda > 0)) throw new Error(`lambda must be > 0, got ${lambda}`);
  const train = indexTrain(split);
  const n = train.ids.length;
  const { offsets: userOffsets } = itemUserLists(train);

  // The maxItems items with the most positive users (ties by id); local index = position here.
  const frequent = Int32Array.from(train.ids.keys())
    .filter((i) => userOffsets[i + 1]! > userOffsets[i]!)
    .sort((a, b) => userOffsets[b + 1]! - userOffsets[b]! - (userOffsets[a + 1]! - userOffsets[a]!) || a - b)
    .slice(0, Math.max(0, maxItems));
  const m = frequent.length;
  const local = new Int32Array(n).fill(-1);
  frequent.forEach((i, l) => (local[i] = l));

  // Lower triangle of XᵀX + λI; the inverse below reads nothing else.
  const weights = new Float64Array(m * m);
  const row: number[] = [];
  const localRow = (u: number) => {
    row.length = 0;
    for (let d = train.distinctStart[u]!; d < train.distinctStart[u + 1]!; d++) {
      const l = local[train.distinctItems[d]!]!;
      if (l >= 0) row.push(l);
    }
    return row;
  };
  for (let u = 0; u < train.users.size; u++) {
    const ls = localRow(u);
    for (const a of ls) for (const b of ls) if (b <= a) weights[a * m + b]! += 1;
  }
  for (let l = 0; l < m; l++) weights[l * m + l]! += lambda;
  easeInPlace(weights, m);

  const rank = ranker(train);
  const localScore = new Float64Array(m);
  const score = new Float64Array(n);
  return (userId, k) => {
    const u = train.users.get(userId);
    const ls = u === undefined ? [] : localRow(u);
    if (ls.length === 0) return rank(userId, k);
    localScore.fill(0);
    for (const a of ls) {
      const base = a * m;
      for (let c = 0; c < m; c++) localScore[c]! += weights[base + c]!;
    }
    for (let l = 0; l < m; l++) score[frequent[l]!] = localScore[l]!;
    return rank(userId, k, score, frequent, m);
  };
}

/**
 * EASE weights B from the Gram matrix XᵀX (n×n, row-major): P = (XᵀX + λI)⁻¹,
 * B = −P / diag(P) column-wise, diag(B) = 0. Returns a new array.
 */
export function easeWeights(gram: Float64Array, n: number, lambda: number): Float64Array {
  const b = Float64Array.from(gram);
  for (let i = 0; i < n; i++) b[i * n + i]! += lambda;
  easeInPlace(b, n);
  return b;
}

/** Inverse of a symmetric positive definite n×n row-major matrix. Returns a new array. */
export function invertSpd(matrix: Float64Array, n: number): Float64Array {
  const a = Float64Array.from(matrix);
  invertSpdInPlace(a, n);
  return a;
}

/** Turns the lower triangle of G = XᵀX + λI into B, in place. */
function easeInPlace(a: Float64Array, n: number): void {
  invertSpdInPlace(a, n);
  const diag = new Float64Array(n);
  for (let j = 0; j < n; j++) diag[j] = a[j * n + j]!;
  for (let i = 0; i < n; i++) {
    const base = i * n;
    for (let j = 0; j < n; j++) a[base + j] = i === j ? 0 : -a[base + j]! / diag[j]!;
  }
}

/**
 * Inverts an SPD matrix in place through Cholesky: G = LLᵀ, M = L⁻¹, G⁻¹ = MᵀM (~n³/2
 * multiply-adds). Reads only the lower triangle and writes the full symmetric inverse. Every inner
 * loop runs along a row and handles four output rows per pass over the shared row, which quarters
 * the memory traffic: 3,000 items take ~10–15 s on one core instead of ~25 s.
 */
function invertSpdInPlace(a: Float64Array, n: number): void {
  cholesky(a, n);
  invertLower(a, n);
  lowerGram(a, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[j * n + i] = a[i * n + j]!;
}

/** Cholesky–Banachiewicz, row by row: L overwrites the lower triangle. */
function cholesky(a: Float64Array, n: number): void {
  let i0 = 0;
  for (; i0 + 4 <= n; i0 += 4) {
    const r0 = i0 * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    for (let j = 0; j < i0; j++) {
      const rj = j * n;
      let s0 = a[r0 + j]!;
      let s1 = a[r1 + j]!;
      let s2 = a[r2 + j]!;
      let s3 = a[r3 + j]!;
      for (let k = 0; k < j; k++) {
        const x = a[rj + k]!;
        s0 -= a[r0 + k]! * x;
        s1 -= a[r1 + k]! * x;
        s2 -= a[r2 + k]! * x;
        s3 -= a[r3 + k]! * x;
      }
      const d = a[rj + j]!;
      a[r0 + j] = s0 / d;
      a[r1 + j] = s1 / d;
      a[r2 + j] = s2 / d;
      a[r3 + j] = s3 / d;
    }
    for (let i = i0; i < i0 + 4; i++) choleskyRow(a, n, i, i0);
  }
  for (let i = i0; i < n; i++) choleskyRow(a, n, i, 0);
}

/** Entries j = from..i of row i of L, given all of L's earlier rows and row i's first `from`. */
function choleskyRow(a: Float64Array, n: number, i: number, from: number): void {
  const ri = i * n;
  for (let j = from; j <= i; j++) {
    const rj = j * n;
    let s = a[ri + j]!;
    for (let k = 0; k < j; k++) s -= a[ri + k]! * a[rj + k]!;
    if (i !== j) a[ri + j] = s / a[rj + j]!;
    else if (s > 0) a[ri + i] = Math.sqrt(s);
    else throw new Error(`matrix is not positive definite (pivot ${i} is ${s})`);
  }
}

/** M = L⁻¹ over L, row by row: M[i] = (e_i − Σ_{k<i} L[i][k] M[k]) / L[i][i]. */
function invertLower(a: Float64Array, n: number): void {
  const t = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)] as const;
  const [t0, t1, t2, t3] = t;
  for (let i0 = 0; i0 < n; i0 += 4) {
    const rows = Math.min(4, n - i0);
    for (let b = 0; b < 4; b++) t[b]!.fill(0, 0, i0 + 4);
    for (let b = 0; b < rows; b++) t[b]![i0 + b] = 1;
    // Rows k before the block: one pass over M[k] serves all four rows.
    if (rows === 4) {
      const r0 = i0 * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      for (let k = 0; k < i0; k++) {
        const rk = k * n;
        const l0 = a[r0 + k]!;
        const l1 = a[r1 + k]!;
        const l2 = a[r2 + k]!;
        const l3 = a[r3 + k]!;
        for (let c = 0; c <= k; c++) {
          const x = a[rk + c]!;
          t0[c]! -= l0 * x;
          t1[c]! -= l1 * x;
          t2[c]! -= l2 * x;
          t3[c]! -= l3 * x;
        }
      }
    }
    // Rows k inside the block (and everything, for a short last block), then divide.
    for (let b = 0; b < rows; b++) {
      const i = i0 + b;
      const ri = i * n;
      const tb = t[b]!;
      for (let k = rows === 4 ? i0 : 0; k < i; k++) {
        const l = a[ri + k]!;
        const rk = k * n;
        for (let c = 0; c <= k; c++) tb[c]! -= l * a[rk + c]!;
      }
      const inv = 1 / a[ri + i]!;
      for (let c = 0; c <= i; c++) a[ri + c] = tb[c]! * inv;
    }
  }
}

/** P = MᵀM over M's lower triangle: P[r][c] = Σ_{k≥r} M[k][r] M[k][c], so row r needs only rows k ≥ r. */
function lowerGram(a: Float64Array, n: number): void {
  const t = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)] as const;
  const [t0, t1, t2, t3] = t;
  for (let r0 = 0; r0 < n; r0 += 4) {
    const rows = Math.min(4, n - r0);
    for (let b = 0; b < 4; b++) t[b]!.fill(0, 0, r0 + 4);
    // Rows k inside the block (k >= r).
    for (let b = 0; b < rows; b++) {
      const r = r0 + b;
      const tb = t[b]!;
      for (let k = r; k < r0 + rows; k++) {
        const rk = k * n;
        const m = a[rk + r]!;
        for (let c = 0; c <= r; c++) tb[c]! += m * a[rk + c]!;
      }
    }
    // Rows k after the block: one pass over M[k] serves all four rows.
    if (rows === 4) {
      for (let k = r0 + 4; k < n; k++) {
        const rk = k * n;
        const m0 = a[rk + r0]!;
        const m1 = a[rk + r0 + 1]!;
        const m2 = a[rk + r0 + 2]!;
        const m3 = a[rk + r0 + 3]!;
        for (let c = 0; c <= r0; c++) {
          const x = a[rk + c]!;
          t0[c]! += m0 * x;
          t1[c]! += m1 * x;
          t2[c]! += m2 * x;
          t3[c]! += m3 * x;
        }
        t1[r0 + 1]! += m1 * m1;
        t2[r0 + 1]! += m2 * m1;
        t3[r0 + 1]! += m3 * m1;
        t2[r0 + 2]! += m2 * m2;
        t3[r0 + 2]! += m3 * m2;
        t3[r0 + 3]! += m3 * m3;
      }
    }
    for (let b = 0; b < rows; b++) {
      const rr = (r0 + b) * n;
      const tb = t[b]!;
      for (let c = 0; c <= r0 + b; c++) a[rr + c] = tb[c]!;
    }
  }
}

/** Per item (CSR): the users with it among their distinct train positives. */
function itemUserLists(train: TrainIndex) {
  const owner = new Int32Array(train.distinctItems.length);
  for (let u = 0; u + 1 < train.distinctStart.length; u++) {
    owner.fill(u, train.distinctStart[u], train.distinctStart[u + 1]);
  }
  const { offsets, values: positions } = groupBy(train.distinctItems, train.ids.length);
  return { offsets, values: positions.map((p) => owner[p]!) };
}

/** Positions of `keys` grouped by key (CSR, positions ascending within a key). */
function groupBy(keys: Int32Array, n: number): { offsets: Int32Array; values: Int32Array } {
  const offsets = new Int32Array(n + 1);
  for (const key of keys) offsets[key + 1]!++;
  for (let i = 0; i < n; i++) offsets[i + 1]! += offsets[i]!;
  const fill = offsets.slice(0, n);
  const values = new Int32Array(keys.length);
  keys.forEach((key, p) => (values[fill[key]!++] = p));
  return { offsets, values };
}

/** First position in [lo, hi) of the ascending `values` with value >= target. */
function lowerBound(values: Float64Array, lo: number, hi: number, target: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
