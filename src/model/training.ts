/**
 * Retraining: logged impressions joined with later interactions become labelled examples; the
 * examples become an ONNX model file whose metadata carries its feature list, version and
 * held-out metrics. The functions are pure (no Kafka here) so a topic reader, a test or the
 * `tools/train.ts` command line can drive them.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { isEngaged, type Action } from '../core/events.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { buildModel } from './graphs.js';
import type { ModelMetadata } from './metadata.js';
import { predict, type ModelKind, type ModelParams } from './params.js';
import { splitByGroup, splitByTime, takeRows, trainModel, type Dataset, type TrainOptions } from './train.js';

/** One labelled row: what the model saw for a served item, and whether the user engaged. */
export interface Example {
  features: number[] | Float32Array;
  label: 0 | 1;
  userId: string;
  /** When the item was served (epoch ms): the time the features describe. */
  at: number;
}

/** One served feed as logged by the API: the feature values each candidate was scored with. */
export interface ImpressionRecord {
  impressionId: string;
  userId: string;
  servedAt: number;
  modelVersion: string;
  featureNames: string[];
  items: { itemId: string; rank: number; score: number; features: number[] }[];
}

export interface InteractionRecord {
  userId: string;
  itemId: string;
  action: Action;
  occurredAt: number;
  /**
   * When the API received it. Labels are timed by it when present: "what the user did after the
   * feed was served" on the service's own clock, which a client's (possibly backdated) event
   * time cannot move.
   */
  receivedAt?: number;
}

export interface JoinOptions {
  /** An item is positive if the user engaged with it at most this long after it was served. */
  labelWindowMs: number;
  /**
   * Keep only impressions logged with exactly this feature list. Without it, all impressions
   * must share one list: columns of different lists cannot be mixed in one matrix.
   */
  featureNames?: readonly string[];
}

const sameNames = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((name, i) => name === b[i]);

/**
 * Labels every served item: 1 when the same user CLICKed, LIKEd, COMMENTed on or SHAREd it
 * within `labelWindowMs` after it was served, else 0. Impressions delivered twice (the log is
 * at-least-once) count once.
 */
export function joinImpressions(
  impressions: Iterable<ImpressionRecord>,
  interactions: Iterable<InteractionRecord>,
  options: JoinOptions,
): Example[] {
  const engagedAt = new Map<string, number[]>();
  const pairKey = (userId: string, itemId: string) => `${userId}\u0000${itemId}`;
  for (const i of interactions) {
    if (!isEngaged(i.action)) continue; // a view, skip or hide does not make a positive
    const key = pairKey(i.userId, i.itemId);
    const times = engagedAt.get(key);
    const at = i.receivedAt ?? i.occurredAt;
    if (times) times.push(at);
    else engagedAt.set(key, [at]);
  }

  let featureNames = options.featureNames;
  const seen = new Set<string>();
  const examples: Example[] = [];
  for (const imp of impressions) {
    if (seen.has(imp.impressionId)) continue;
    seen.add(imp.impressionId);
    if (featureNames === undefined) featureNames = imp.featureNames;
    else if (!sameNames(featureNames, imp.featureNames)) {
      if (options.featureNames) continue;
      throw new Error(
        `impression ${imp.impressionId} was logged with other feature names than earlier ones; pass featureNames to choose one list`,
      );
    }
    const end = imp.servedAt + options.labelWindowMs;
    for (const item of imp.items) {
      const times = engagedAt.get(pairKey(imp.userId, item.itemId));
      const engaged = times?.some((t) => t >= imp.servedAt && t <= end) ?? false;
      examples.push({ features: item.features, label: engaged ? 1 : 0, userId: imp.userId, at: imp.servedAt });
    }
  }
  return examples;
}

export interface TrainFromExamplesOptions {
  featureNames: readonly string[];
  kind: ModelKind;
  version: string;
  /**
   * How to hold rows out for the reported metrics: whole users (default, 20 %), or the latest
   * rows by time.
   */
  heldOut?: { by: 'user' | 'time'; fraction: number };
  /** Seeds the split and the training; the same seed and examples give the same model. */
  seed?: number;
  /** Defaults to now; fix it to make the file byte-for-byte reproducible. */
  trainedAt?: Date;
  training?: Partial<Omit<TrainOptions, 'seed'>>;
}

export interface TrainingReport {
  trainExamples: number;
  heldOutExamples: number;
  /** Positive rate in the training rows: the constant baseline's prediction. */
  trainPositiveRate: number;
  /** The model on held-out rows. */
  model: Evaluation;
  /** Predicting the training positive rate for every held-out row; the model should beat it. */
  baseline: Evaluation;
}

export interface TrainedModel {
  bytes: Uint8Array;
  metadata: ModelMetadata;
  params: ModelParams;
  report: TrainingReport;
}

function toDataset(examples: readonly Example[], cols: number): Dataset {
  const features = new Float32Array(examples.length * cols);
  const labels = new Uint8Array(examples.length);
  examples.forEach((e, r) => {
    if (e.features.length !== cols)
      throw new RangeError(`example ${r} has ${e.features.length} feature values for ${cols} feature names`);
    if (e.label !== 0 && e.label !== 1) throw new RangeError(`example ${r} has label ${String(e.label)}, not 0 or 1`);
    features.set(e.features, r * cols);
    labels[r] = e.label;
  });
  return { features, labels, rows: examples.length, cols };
}

/**
 * Trains on one part of the examples and measures on the rest. The model returned is the one
 * measured (it has not seen the held-out rows), so the metrics in its metadata describe exactly
 * the file that is deployed.
 */
export function trainFromExamples(examples: readonly Example[], options: TrainFromExamplesOptions): TrainedModel {
  if (examples.length === 0) throw new RangeError('no examples to train on');
  const seed = options.seed ?? 1;
  const all = toDataset(examples, options.featureNames.length);
  const heldOutSpec = options.heldOut ?? { by: 'user', fraction: 0.2 };
  const split =
    heldOutSpec.by === 'user'
      ? splitByGroup(
          examples.map((e) => e.userId),
          heldOutSpec.fraction,
          seed,
        )
      : splitByTime(
          examples.map((e) => e.at),
          heldOutSpec.fraction,
        );
  if (split.train.length === 0) throw new RangeError('the held-out split left no training examples');
  const train = takeRows(all, split.train);
  const heldOut = takeRows(all, split.heldOut);
  let positives = 0;
  for (const label of train.labels) positives += label;
  if (positives === 0 || positives === train.rows)
    throw new RangeError(`the training examples are all ${positives === 0 ? 0 : 1}: nothing to learn`);

  const params = trainModel(options.kind, train, { ...options.training, seed });
  const rate = positives / train.rows;
  const report: TrainingReport = {
    trainExamples: train.rows,
    heldOutExamples: heldOut.rows,
    trainPositiveRate: rate,
    model: evaluate(predict(params, heldOut.features, heldOut.rows), heldOut.labels),
    baseline: evaluate(new Float32Array(heldOut.rows).fill(rate), heldOut.labels),
  };

  let from = Infinity;
  let to = -Infinity;
  for (const r of split.train) {
    const at = examples[r]?.at ?? 0;
    if (at < from) from = at;
    if (at > to) to = at;
  }
  // JSON has no NaN: an undefined metric (e.g. AUC with one class held out) is written as null.
  const finite = (v: number) => (Number.isFinite(v) ? v : null);
  const metadata: ModelMetadata = {
    featureNames: [...options.featureNames],
    version: options.version,
    kind: options.kind,
    trainedAt: (options.trainedAt ?? new Date()).toISOString(),
    trainingRange: { from, to },
    metrics: {
      auc: finite(report.model.auc),
      logLoss: finite(report.model.logLoss),
      examples: report.heldOutExamples,
      trainExamples: report.trainExamples,
      positiveRate: finite(report.model.positiveRate),
      baselineAuc: finite(report.baseline.auc),
      baselineLogLoss: finite(report.baseline.logLoss),
    },
  };
  return { bytes: buildModel(params, metadata), metadata, params, report };
}

/** Writes to a temporary file and renames it, so a server never loads half a model. */
export async function writeModel(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, bytes);
  await rename(temporary, path);
}
