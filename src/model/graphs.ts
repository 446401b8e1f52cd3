/**
 * ONNX graphs for the ranking models. Every graph takes the raw feature matrix `features`
 * [N × F] (N dynamic, so one run scores all candidates of a request) and returns `score` [N × 1],
 * a probability. Standardisation is part of the graph, so serving feeds raw feature values.
 */
import { metadataProps, type ModelMetadata } from './metadata.js';
import { encodeModel, type FloatInitializer, type GraphNode } from './onnx-format.js';
import type { FactorizationMachineParams, LogisticRegressionParams, ModelParams } from './params.js';

export const INPUT_NAME = 'features';
export const OUTPUT_NAME = 'score';
/** The symbolic batch dimension: the number of candidates in one run. */
const BATCH = 'N';
export const PRODUCER_NAME = 'feedrec';
export const PRODUCER_VERSION = '1';

const node = (opType: string, inputs: string[], output: string): GraphNode => ({
  opType,
  inputs,
  outputs: [output],
  name: output,
});

/** (x − mean) / std, then the linear term x·W + b: the part LR and FM share. */
function standardisedLinear(params: ModelParams): { nodes: GraphNode[]; initializers: FloatInitializer[] } {
  const f = params.mean.length;
  return {
    initializers: [
      { name: 'mean', dims: [f], data: params.mean },
      { name: 'std', dims: [f], data: params.std },
      { name: 'weights', dims: [f, 1], data: params.weights },
      { name: 'bias', dims: [1], data: Float32Array.of(params.bias) },
    ],
    nodes: [
      node('Sub', [INPUT_NAME, 'mean'], 'centred'),
      node('Div', ['centred', 'std'], 'x'),
      node('MatMul', ['x', 'weights'], 'linear_xw'),
      node('Add', ['linear_xw', 'bias'], 'linear'),
    ],
  };
}

function logisticRegressionGraph(params: LogisticRegressionParams) {
  const { nodes, initializers } = standardisedLinear(params);
  return { nodes: [...nodes, node('Sigmoid', ['linear'], OUTPUT_NAME)], initializers };
}

/**
 * The pairwise term Σ_{i<j} ⟨v_i, v_j⟩ x_i x_j in its O(F·k) form
 * 0.5 · Σ_k ((xV)_k² − (x²)(V²)_k); the sum over k and the 0.5 are one MatMul with a column of
 * 0.5s, so the graph needs no ReduceSum (whose axes moved from attribute to input in opset 13).
 */
function factorizationMachineGraph(params: FactorizationMachineParams) {
  const { nodes, initializers } = standardisedLinear(params);
  const f = params.mean.length;
  const k = params.factorCount;
  const squaredFactors = params.factors.map((v) => v * v);
  return {
    initializers: [
      ...initializers,
      { name: 'factors', dims: [f, k], data: params.factors },
      { name: 'factors_squared', dims: [f, k], data: squaredFactors },
      { name: 'half', dims: [k, 1], data: new Float32Array(k).fill(0.5) },
    ],
    nodes: [
      ...nodes,
      node('MatMul', ['x', 'factors'], 'xv'),
      node('Mul', ['xv', 'xv'], 'xv_squared'),
      node('Mul', ['x', 'x'], 'x_squared'),
      node('MatMul', ['x_squared', 'factors_squared'], 'x2v2'),
      node('Sub', ['xv_squared', 'x2v2'], 'pair_terms'),
      node('MatMul', ['pair_terms', 'half'], 'pairwise'),
      node('Add', ['linear', 'pairwise'], 'logit'),
      node('Sigmoid', ['logit'], OUTPUT_NAME),
    ],
  };
}

/** The ONNX bytes of a trained model, with its feature list and version in the metadata. */
export function buildModel(params: ModelParams, metadata: ModelMetadata): Uint8Array {
  const f = params.mean.length;
  if (metadata.featureNames.length !== f)
    throw new RangeError(`the model has ${f} features but ${metadata.featureNames.length} feature names`);
  if (metadata.kind !== params.kind)
    throw new RangeError(`metadata says ${metadata.kind}, parameters are ${params.kind}`);
  const graph = params.kind === 'lr' ? logisticRegressionGraph(params) : factorizationMachineGraph(params);
  return encodeModel({
    producerName: PRODUCER_NAME,
    producerVersion: PRODUCER_VERSION,
    docString: `feed ranking model ${metadata.version} (${params.kind})`,
    graphName: `ranking_${params.kind}`,
    nodes: graph.nodes,
    initializers: graph.initializers,
    inputs: [{ name: INPUT_NAME, shape: [BATCH, f] }],
    outputs: [{ name: OUTPUT_NAME, shape: [BATCH, 1] }],
    metadata: metadataProps(metadata),
  });
}
