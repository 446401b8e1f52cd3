/**
 * Online logistic regression with FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View
 * from the Trenches", 2013): each coordinate keeps two sums (z, n) and gets its own learning
 * rate α / (β + √n), so rarely active features still move fast while busy ones settle. The state
 * is two small arrays, which is what makes learning resumable: save them, load them, go on.
 *
 * Coordinate 0 is the bias (x₀ = 1, never regularised); coordinates 1…F are the standardised
 * features. Standardisation is fixed (from the first round of data) so that the learned weights
 * and the ONNX graph's (x − mean) / std mean the same thing forever.
 */
import type { LogisticRegressionParams, Standardisation } from './params.js';

export interface FtrlSettings {
  /** Per-coordinate learning rate scale. */
  alpha: number;
  /** Smooths the learning rate of coordinates that have seen little gradient yet. */
  beta: number;
  /** L1: weights whose |z| stays below it are exactly 0. */
  l1: number;
  l2: number;
}

export const DEFAULT_FTRL: Readonly<FtrlSettings> = { alpha: 0.1, beta: 1, l1: 0.1, l2: 1 };

export interface FtrlState {
  z: Float64Array;
  n: Float64Array;
}

export function createFtrlState(features: number): FtrlState {
  return { z: new Float64Array(features + 1), n: new Float64Array(features + 1) };
}

export const cloneFtrlState = (s: FtrlState): FtrlState => ({ z: Float64Array.from(s.z), n: Float64Array.from(s.n) });

/** The weights the sums stand for: bias first, then one per feature. */
export function ftrlWeights(
  state: FtrlState,
  settings: FtrlSettings,
  out = new Float64Array(state.z.length),
): Float64Array {
  const { alpha, beta, l1, l2 } = settings;
  for (let i = 0; i < state.z.length; i++) {
    const z = state.z[i] ?? 0;
    const n = state.n[i] ?? 0;
    const reg1 = i === 0 ? 0 : l1;
    const reg2 = i === 0 ? 0 : l2;
    out[i] = Math.abs(z) <= reg1 ? 0 : -(z - Math.sign(z) * reg1) / ((beta + Math.sqrt(n)) / alpha + reg2);
  }
  return out;
}

/**
 * Learns from one example: `x` holds the standardised features (no bias column). Returns the
 * probability the model gave before the update (its "progressive validation" prediction).
 */
export function ftrlUpdate(
  state: FtrlState,
  settings: FtrlSettings,
  x: ArrayLike<number>,
  label: 0 | 1,
  scratch = new Float64Array(state.z.length),
): number {
  const w = ftrlWeights(state, settings, scratch);
  let logit = w[0] ?? 0;
  for (let i = 0; i < x.length; i++) logit += (w[i + 1] ?? 0) * (x[i] ?? 0);
  const p = 1 / (1 + Math.exp(-logit));
  const g = p - label;
  for (let i = 0; i < state.z.length; i++) {
    const gi = i === 0 ? g : g * (x[i - 1] ?? 0);
    if (gi === 0) continue;
    const n = state.n[i] ?? 0;
    const sigma = (Math.sqrt(n + gi * gi) - Math.sqrt(n)) / settings.alpha;
    state.z[i] = (state.z[i] ?? 0) + gi - sigma * (w[i] ?? 0);
    state.n[i] = n + gi * gi;
  }
  return p;
}

/** The state as logistic-regression parameters for `buildModel` (the graph standardises). */
export function ftrlParams(
  state: FtrlState,
  settings: FtrlSettings,
  standardisation: Standardisation,
): LogisticRegressionParams {
  const w = ftrlWeights(state, settings);
  return {
    kind: 'lr',
    mean: standardisation.mean,
    std: standardisation.std,
    weights: Float32Array.from(w.subarray(1)),
    bias: Math.fround(w[0] ?? 0),
  };
}
