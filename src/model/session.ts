/**
 * Loads a ranking model for serving. The model's own metadata is checked against the feature
 * definitions before onnxruntime sees it, so a model trained on other columns (or in another
 * column order) is refused at start-up with a message that says what differs, instead of
 * scoring every candidate with the wrong inputs.
 */
import { readFile } from 'node:fs/promises';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { INPUT_NAME, OUTPUT_NAME } from './graphs.js';
import { METADATA_KEYS, parseModelMetadata, type ModelMetadata } from './metadata.js';
import { decodeModelInfo, OnnxFormatError, type ModelInfo } from './onnx-format.js';
import type { ModelKind } from './params.js';

/** The model cannot serve with these feature definitions; retrain or fix the deployment. */
export class ModelMismatchError extends Error {
  override name = 'ModelMismatchError';
  constructor(
    message: string,
    readonly source: string,
    readonly version: string | null,
    readonly missing: readonly string[] = [],
    readonly unexpected: readonly string[] = [],
  ) {
    super(message);
  }
}

export interface RankingModel {
  version: string;
  kind: ModelKind;
  featureNames: readonly string[];
  metadata: ModelMetadata;
  /**
   * Click probabilities for a row-major [rows × features] matrix, in row order: one
   * onnxruntime run for all candidates of a request.
   */
  score(matrix: Float32Array, rows: number): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface LoadOptions {
  /** Names the model in errors when it is given as bytes. */
  source?: string;
  /**
   * Defaults to one intra-op and one inter-op thread: a request's matrix is small, and the
   * server runs many requests at once, so threads inside one run only add hand-offs.
   */
  sessionOptions?: InferenceSession.SessionOptions;
}

const list = (names: readonly string[]) => `[${names.join(', ')}]`;

/** Throws ModelMismatchError unless `actual` is exactly `expected`, in the same order. */
function checkFeatureNames(label: string, meta: ModelMetadata, expected: readonly string[], source: string) {
  const actual = meta.featureNames;
  if (actual.length === expected.length && actual.every((name, i) => name === expected[i])) return;
  const have = new Set(actual);
  const want = new Set(expected);
  const missing = expected.filter((n) => !have.has(n));
  const unexpected = actual.filter((n) => !want.has(n));
  const prefix = `${label} does not match the feature definitions`;
  if (missing.length > 0 || unexpected.length > 0) {
    throw new ModelMismatchError(
      `${prefix}: missing ${list(missing)}, unexpected ${list(unexpected)}`,
      source,
      meta.version,
      missing,
      unexpected,
    );
  }
  const column = actual.findIndex((name, i) => name !== expected[i]);
  const detail =
    actual.length !== expected.length
      ? `the model has ${actual.length} columns for ${expected.length} features (a duplicate name)`
      : `column ${column} is "${actual[column]}" in the model but "${expected[column]}" in the definitions`;
  throw new ModelMismatchError(`${prefix}: same features in another order (${detail})`, source, meta.version);
}

/**
 * Opens a model file (or its bytes) for scoring, after checking that its `feature_names`
 * metadata equals `expectedFeatureNames` and that its graph reads `features` and writes `score`.
 */
export async function loadRankingModel(
  pathOrBytes: string | Uint8Array,
  expectedFeatureNames: readonly string[],
  options: LoadOptions = {},
): Promise<RankingModel> {
  const source = typeof pathOrBytes === 'string' ? pathOrBytes : (options.source ?? 'in-memory model');
  const bytes = typeof pathOrBytes === 'string' ? await readFile(pathOrBytes) : pathOrBytes;
  let info: ModelInfo;
  try {
    info = decodeModelInfo(bytes);
  } catch (err) {
    if (err instanceof OnnxFormatError) throw new OnnxFormatError(`${source}: ${err.message}`);
    throw err;
  }

  let metadata: ModelMetadata;
  try {
    metadata = parseModelMetadata(info.metadata);
  } catch (err) {
    const version = info.metadata[METADATA_KEYS.version] || null;
    const label = version ? `model ${version} (${source})` : `model (${source})`;
    throw new ModelMismatchError(
      `${label} has no usable metadata (${err instanceof Error ? err.message : String(err)}), so its features cannot be checked against the feature definitions`,
      source,
      version,
    );
  }
  const label = `model ${metadata.version} (${source})`;
  checkFeatureNames(label, metadata, expectedFeatureNames, source);
  const checkNames = (inputs: readonly string[], outputs: readonly string[]) => {
    if (inputs.length !== 1 || inputs[0] !== INPUT_NAME || !outputs.includes(OUTPUT_NAME)) {
      throw new ModelMismatchError(
        `${label} has inputs ${list(inputs)} and outputs ${list(outputs)}; expected input "${INPUT_NAME}" and output "${OUTPUT_NAME}"`,
        source,
        metadata.version,
      );
    }
  };
  checkNames(info.inputNames, info.outputNames);

  const session = await InferenceSession.create(
    bytes,
    options.sessionOptions ?? { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' },
  );
  const columns = expectedFeatureNames.length;
  try {
    checkNames(session.inputNames, session.outputNames);
    const input = session.inputMetadata[0];
    const width = input?.isTensor ? input.shape[1] : undefined;
    if (typeof width === 'number' && width !== columns) {
      throw new ModelMismatchError(
        `${label} takes ${width} feature columns but its metadata names ${columns}`,
        source,
        metadata.version,
      );
    }
  } catch (err) {
    await session.release();
    throw err;
  }

  return {
    version: metadata.version,
    kind: metadata.kind,
    featureNames: metadata.featureNames,
    metadata,
    async score(matrix, rows) {
      if (matrix.length !== rows * columns)
        throw new RangeError(`expected ${rows} × ${columns} feature values, got ${matrix.length}`);
      if (rows === 0) return new Float32Array(0);
      const results = await session.run({ [INPUT_NAME]: new Tensor('float32', matrix, [rows, columns]) });
      const data = results[OUTPUT_NAME]?.data;
      if (!(data instanceof Float32Array) || data.length !== rows)
        throw new Error(`${label} returned no float32 ${OUTPUT_NAME} of ${rows} values`);
      return data;
    },
    release: () => session.release(),
  };
}
