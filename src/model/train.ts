/**
 * Training for the ranking models on row-major Float32 matrices: mini-batch Adam on log-loss
 * with L2, seeded so that the same examples and options always give the same model (a retrained
 * model differs from the last one because the data did, not because of luck). Everything runs
 * on typed arrays allocated once per call, so tens of thousands of rows × ~30 features train in
 * about a second.
 */
import type { ModelKind, ModelParams, Standardisation } from './params.js';
import { randomSource } from '../core/random.js';

/** A training set: `features` is row-major [rows × cols], `labels` are 0/1. */
export interface Dataset {
  features: Float32Array;
  labels: Uint8Array;
  rows: number;
  cols: number;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Adam step size. */
  learningRate: number;
  /** L2 penalty on weights and factors (not on the bias), per example. */
  l2: number;
  seed: number;
  /** FM only: the latent dimension k. */
  factorCount: number;
  /** FM only: factors start as N(0, factorInitStd²) so that their gradients are not all zero. */
  factorInitStd: number;
}

export const DEFAULT_TRAIN_OPTIONS: Readonly<TrainOptions> = {
  epochs: 12,
  batchSize: 256,
  learningRate: 0.01,
  l2: 1e-4,
  seed: 1,
  factorCount: 4,
  factorInitStd: 0.01,
};

/** Row indices of a train / held-out split. */
export interface Split {
  train: Uint32Array;
  heldOut: Uint32Array;
}

/** FNV-1a over UTF-16 code units, 32 bits: a stable hash for deterministic splits. */
function hash32(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // A final avalanche so that keys differing only in their last character spread over [0, 2³²).
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

function toSplit(isHeldOut: (row: number) => boolean, rows: number): Split {
  let heldOutCount = 0;
  const flags = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    if (!isHeldOut(r)) continue;
    flags[r] = 1;
    heldOutCount++;
  }
  const train = new Uint32Array(rows - heldOutCount);
  const heldOut = new Uint32Array(heldOutCount);
  for (let r = 0, t = 0, h = 0; r < rows; r++) {
    if (flags[r]) heldOut[h++] = r;
    else train[t++] = r;
  }
  return { train, heldOut };
}

/**
 * Holds out whole groups (e.g. all rows of a user), chosen by a hash of the key: a model is then
 * judged on users it never saw, and the split does not depend on row order.
 */
export function splitByGroup(keys: readonly string[], heldOutFraction: number, seed = 0): Split {
  const threshold = heldOutFraction * 2 ** 32;
  const memo = new Map<string, boolean>();
  return toSplit((r) => {
    const key = keys[r] ?? '';
    let held = memo.get(key);
    if (held === undefined) memo.set(key, (held = hash32(key, seed) < threshold));
    return held;
  }, keys.length);
}

/**
 * Holds out the latest rows (by event time): the model is judged on the future it will serve.
 * Rows tied with the cutoff time are all held out.
 */
export function splitByTime(times: ArrayLike<number>, heldOutFraction: number): Split {
  const n = times.length;
  const sorted = Float64Array.from(times).sort();
  const cut = Math.min(n - 1, Math.floor(n * (1 - heldOutFraction)));
  const cutoff = heldOutFraction <= 0 || n === 0 ? Infinity : (sorted[cut] ?? Infinity);
  return toSplit((r) => (times[r] ?? 0) >= cutoff, n);
}

/** A new dataset with the given rows, in that order. */
export function takeRows(data: Dataset, rows: Uint32Array): Dataset {
  const { cols } = data;
  const features = new Float32Array(rows.length * cols);
  const labels = new Uint8Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] ?? 0;
    features.set(data.features.subarray(r * cols, (r + 1) * cols), i * cols);
    labels[i] = data.labels[r] ?? 0;
  }
  return { features, labels, rows: rows.length, cols };
}

/** Mean and (population) standard deviation per column; a constant column gets std 1. */
export function computeStandardisation(data: Dataset): Standardisation {
  const { rows, cols, features } = data;
  const sum = new Float64Array(cols);
  const sumSquares = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = features[r * cols + c] ?? 0;
      sum[c] = (sum[c] ?? 0) + x;
      sumSquares[c] = (sumSquares[c] ?? 0) + x * x;
    }
  }
  const mean = new Float32Array(cols);
  const std = new Float32Array(cols);
  for (let c = 0; c < cols; c++) {
    const m = rows === 0 ? 0 : (sum[c] ?? 0) / rows;
    const variance = rows === 0 ? 0 : Math.max(0, (sumSquares[c] ?? 0) / rows - m * m);
    const s = Math.sqrt(variance);
    mean[c] = m;
    // Float32 rounding leaves a tiny variance on constant columns; treat it as none.
    std[c] = s > 1e-6 * Math.max(1, Math.abs(m)) ? s : 1;
  }
  return { mean, std };
}

function checkDataset(data: Dataset) {
  if (data.features.length !== data.rows * data.cols)
    throw new RangeError(`expected ${data.rows} × ${data.cols} feature values, got ${data.features.length}`);
  if (data.labels.length !== data.rows) throw new RangeError(`${data.labels.length} labels for ${data.rows} rows`);
  if (data.rows === 0) throw new RangeError('cannot train on zero rows');
  for (let i = 0; i < data.features.length; i++) {
    if (!Number.isFinite(data.features[i]))
      throw new RangeError(`feature value at row ${Math.floor(i / data.cols)}, column ${i % data.cols} is not finite`);
  }
}

/**
 * Fits `kind` on `data`. Parameters live in one Float64Array, [bias, weights…, factors…], so
 * the Adam step is one loop whatever the model; the gradients of one mini-batch are summed into a
 * buffer allocated once.
 */
export function trainModel(kind: ModelKind, data: Dataset, options: Partial<TrainOptions> = {}): ModelParams {
  const o = { ...DEFAULT_TRAIN_OPTIONS, ...options };
  checkDataset(data);
  const { rows, cols, labels } = data;
  const { mean, std } = computeStandardisation(data);
  const x = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      x[i] = ((data.features[i] ?? 0) - (mean[c] ?? 0)) / (std[c] ?? 1);
    }
  }

  const k = kind === 'fm' ? o.factorCount : 0;
  const W = 1; // weights start after the bias
  const V = 1 + cols; // factors start after the weights
  const size = 1 + cols + cols * k;
  const theta = new Float64Array(size);
  const rng = randomSource(o.seed);
  for (let i = V; i < size; i++) {
    // Box–Muller: a normal draw from two uniforms.
    const u = 1 - rng();
    theta[i] = o.factorInitStd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  }
  const grad = new Float64Array(size);
  const m1 = new Float64Array(size);
  const m2 = new Float64Array(size);
  const sums = new Float64Array(k);
  const order = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) order[r] = r;
  const beta1 = 0.9;
  const beta2 = 0.999;
  const epsilon = 1e-8;
  let step = 0;

  for (let epoch = 0; epoch < o.epochs; epoch++) {
    for (let i = rows - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      const t = order[i] ?? 0;
      order[i] = order[j] ?? 0;
      order[j] = t;
    }
    for (let start = 0; start < rows; start += o.batchSize) {
      const end = Math.min(rows, start + o.batchSize);
      grad.fill(0);
      for (let b = start; b < end; b++) {
        const r = order[b] ?? 0;
        const base = r * cols;
        let z = theta[0] ?? 0;
        let squares = 0;
        sums.fill(0);
        for (let c = 0; c < cols; c++) {
          const xc = x[base + c] ?? 0;
          z += xc * (theta[W + c] ?? 0);
          for (let f = 0; f < k; f++) {
            const v = theta[V + c * k + f] ?? 0;
            sums[f] = (sums[f] ?? 0) + xc * v;
            squares += xc * xc * v * v;
          }
        }
        for (let f = 0; f < k; f++) z += 0.5 * (sums[f] ?? 0) ** 2;
        z -= 0.5 * squares;
        const error = 1 / (1 + Math.exp(-z)) - (labels[r] ?? 0);
        grad[0] = (grad[0] ?? 0) + error;
        for (let c = 0; c < cols; c++) {
          const xc = x[base + c] ?? 0;
          if (xc === 0) continue;
          grad[W + c] = (grad[W + c] ?? 0) + error * xc;
          for (let f = 0; f < k; f++) {
            const i = V + c * k + f;
            grad[i] = (grad[i] ?? 0) + error * xc * ((sums[f] ?? 0) - (theta[i] ?? 0) * xc);
          }
        }
      }
      step++;
      const scale = 1 / (end - start);
      const lr = (o.learningRate * Math.sqrt(1 - beta2 ** step)) / (1 - beta1 ** step);
      for (let i = 0; i < size; i++) {
        const t = theta[i] ?? 0;
        const g = (grad[i] ?? 0) * scale + (i === 0 ? 0 : o.l2 * t);
        const a = beta1 * (m1[i] ?? 0) + (1 - beta1) * g;
        const s = beta2 * (m2[i] ?? 0) + (1 - beta2) * g * g;
        m1[i] = a;
        m2[i] = s;
        theta[i] = t - (lr * a) / (Math.sqrt(s) + epsilon);
      }
    }
  }

  const weights = Float32Array.from(theta.subarray(W, V));
  const bias = Math.fround(theta[0] ?? 0);
  if (kind === 'lr') return { kind, mean, std, weights, bias };
  return { kind, mean, std, weights, bias, factors: Float32Array.from(theta.subarray(V)), factorCount: k };
}
