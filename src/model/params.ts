/**
 * The learned numbers of a ranking model and the forward pass they define. Training produces
 * these, `graphs.ts` bakes them into an ONNX graph, and the forward pass here is the reference the
 * exported graph is tested against.
 */

export const MODEL_KINDS = ['lr', 'fm'] as const;
/** `lr`: logistic regression; `fm`: second-order factorization machine. */
export type ModelKind = (typeof MODEL_KINDS)[number];

/**
 * Per-feature standardisation, applied inside the model so that serving feeds raw feature
 * values and cannot forget (or apply twice) the scaling used in training.
 */
export interface Standardisation {
  mean: Float32Array;
  /** Never 0: a constant feature gets 1. */
  std: Float32Array;
}

export interface LogisticRegressionParams extends Standardisation {
  kind: 'lr';
  weights: Float32Array;
  bias: number;
}

export interface FactorizationMachineParams extends Standardisation {
  kind: 'fm';
  weights: Float32Array;
  bias: number;
  /** Row-major [features × factorCount]: feature f's latent vector is row f. */
  factors: Float32Array;
  factorCount: number;
}

export type ModelParams = LogisticRegressionParams | FactorizationMachineParams;

export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * The click probability for each row of a row-major [rows × features] matrix, as the exported
 * graph computes it: standardise, linear term, (FM) pairwise term, sigmoid.
 */
export function predict(
  params: ModelParams,
  matrix: Float32Array,
  rows: number,
  out = new Float32Array(rows),
): Float32Array {
  const cols = params.mean.length;
  if (matrix.length !== rows * cols) throw new RangeError(`expected ${rows} × ${cols} values, got ${matrix.length}`);
  const { mean, std, weights, bias } = params;
  const k = params.kind === 'fm' ? params.factorCount : 0;
  const factors = params.kind === 'fm' ? params.factors : new Float32Array(0);
  const sum = new Float64Array(k);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let z = bias;
    let squares = 0;
    sum.fill(0);
    for (let c = 0; c < cols; c++) {
      const x = ((matrix[base + c] ?? 0) - (mean[c] ?? 0)) / (std[c] ?? 1);
      z += x * (weights[c] ?? 0);
      for (let j = 0; j < k; j++) {
        const v = factors[c * k + j] ?? 0;
        sum[j] = (sum[j] ?? 0) + x * v;
        squares += x * x * v * v;
      }
    }
    for (let j = 0; j < k; j++) z += 0.5 * (sum[j] ?? 0) ** 2;
    z -= 0.5 * squares;
    out[r] = sigmoid(z);
  }
  return out;
}
