/**
 * What a model file says about itself, stored as ONNX `metadata_props` (string → string). The
 * feature list travels with the weights so that a server can refuse a model trained on other
 * columns instead of silently scoring garbage.
 */
import { MODEL_KINDS, type ModelKind } from './params.js';
import { isRecord } from '../core/records.js';

export const METADATA_KEYS = {
  featureNames: 'feature_names',
  version: 'model_version',
  kind: 'model_kind',
  trainedAt: 'trained_at',
  trainingRange: 'training_range',
  metrics: 'metrics',
  evaluation: 'evaluation',
} as const;

export interface ModelMetadata {
  /** Column order of the `features` input. */
  featureNames: string[];
  version: string;
  kind: ModelKind;
  /** ISO 8601. */
  trainedAt: string;
  /** Event times (epoch ms) of the first and last training example. */
  trainingRange?: { from: number; to: number };
  /** Held-out evaluation, e.g. `{ auc, logLoss, examples }`. */
  metrics?: Record<string, number | null>;
  /**
   * Relevance on a real interaction log as `npm run eval -- --annotate` measured it, served in the
   * default configuration, beside the baselines of the same run (dataset, split, Recall@20, …).
   */
  evaluation?: Record<string, unknown>;
}

/** The `metadata_props` entries of a model, values JSON where they are not plain strings. */
export function metadataProps(meta: ModelMetadata): Record<string, string> {
  const props: Record<string, string> = {
    [METADATA_KEYS.featureNames]: JSON.stringify(meta.featureNames),
    [METADATA_KEYS.version]: meta.version,
    [METADATA_KEYS.kind]: meta.kind,
    [METADATA_KEYS.trainedAt]: meta.trainedAt,
  };
  if (meta.trainingRange) props[METADATA_KEYS.trainingRange] = JSON.stringify(meta.trainingRange);
  if (meta.metrics) props[METADATA_KEYS.metrics] = JSON.stringify(meta.metrics);
  if (meta.evaluation) props[METADATA_KEYS.evaluation] = JSON.stringify(meta.evaluation);
  return props;
}

function parseJson(key: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${key} is not valid JSON`);
  }
}

/** Reads metadata back; throws an Error naming the first missing or malformed entry. */
export function parseModelMetadata(props: Readonly<Record<string, string>>): ModelMetadata {
  const required = (key: string) => {
    const value = props[key];
    if (value === undefined || value === '') throw new Error(`${key} is missing`);
    return value;
  };
  const names = parseJson(METADATA_KEYS.featureNames, required(METADATA_KEYS.featureNames));
  if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string'))
    throw new Error(`${METADATA_KEYS.featureNames} is not a JSON array of strings`);
  const kind = required(METADATA_KEYS.kind);
  if (!(MODEL_KINDS as readonly string[]).includes(kind))
    throw new Error(`${METADATA_KEYS.kind} "${kind}" is not one of ${MODEL_KINDS.join(', ')}`);
  const meta: ModelMetadata = {
    featureNames: names,
    version: required(METADATA_KEYS.version),
    kind: kind as ModelKind,
    trainedAt: props[METADATA_KEYS.trainedAt] ?? '',
  };
  const range = props[METADATA_KEYS.trainingRange];
  if (range) {
    const parsed = parseJson(METADATA_KEYS.trainingRange, range);
    if (!isRecord(parsed) || typeof parsed.from !== 'number' || typeof parsed.to !== 'number')
      throw new Error(`${METADATA_KEYS.trainingRange} is not {"from": ms, "to": ms}`);
    meta.trainingRange = { from: parsed.from, to: parsed.to };
  }
  const metrics = props[METADATA_KEYS.metrics];
  if (metrics) {
    const parsed = parseJson(METADATA_KEYS.metrics, metrics);
    if (!isRecord(parsed)) throw new Error(`${METADATA_KEYS.metrics} is not a JSON object`);
    meta.metrics = Object.fromEntries(
      Object.entries(parsed).filter((e): e is [string, number | null] => typeof e[1] === 'number' || e[1] === null),
    );
  }
  const evaluation = props[METADATA_KEYS.evaluation];
  if (evaluation) {
    const parsed = parseJson(METADATA_KEYS.evaluation, evaluation);
    if (!isRecord(parsed)) throw new Error(`${METADATA_KEYS.evaluation} is not a JSON object`);
    meta.evaluation = parsed;
  }
  return meta;
}
