import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auc, logLoss } from '../../src/model/evaluate.js';
import { INPUT_NAME, OUTPUT_NAME } from '../../src/model/graphs.js';
import { parseModelMetadata } from '../../src/model/metadata.js';
import { decodeModelInfo, encodeModel, OnnxFormatError } from '../../src/model/onnx-format.js';
import { predict, type ModelKind } from '../../src/model/params.js';
import { loadRankingModel, ModelMismatchError } from '../../src/model/session.js';
import {
  joinImpressions,
  trainFromExamples,
  writeModel,
  type Example,
  type ImpressionRecord,
  type InteractionRecord,
} from '../../src/model/training.js';
import { randomSource } from '../../src/core/random.js';
import { splitByGroup, splitByTime } from '../../src/model/train.js';

const FEATURES = Array.from({ length: 30 }, (_, i) => `f${i}`);
const T0 = Date.UTC(2025, 0, 1);

/**
 * Examples whose click probability depends on f0, f3 (linearly) and on f5·f6 (an interaction
 * only the FM can represent); the other columns are noise on very different scales, so
 * standardisation matters. With `shuffled`, the labels are permuted: there is nothing to learn.
 */
function syntheticExamples(rows: number, seed: number, shuffled = false): Example[] {
  const rng = randomSource(seed);
  const examples: Example[] = [];
  for (let r = 0; r < rows; r++) {
    const features = FEATURES.map((_, c) => (rng() - 0.5) * 2 * (c + 1) + c * 10);
    const [f0 = 0, f3 = 0, f5 = 0, f6 = 0] = [features[0], features[3], features[5], features[6]];
    const z = -0.5 + 3 * f0 - 0.8 * (f3 - 30) + 0.1 * (f5 - 50) * (f6 - 60);
    const label = rng() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    examples.push({ features, label, userId: `u${Math.floor(rng() * 400)}`, at: T0 + r * 1000 });
  }
  if (shuffled) {
    const labels = examples.map((e) => e.label);
    for (let i = labels.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [labels[i], labels[j]] = [labels[j] ?? 0, labels[i] ?? 0];
    }
    examples.forEach((e, i) => (e.label = labels[i] ?? 0));
  }
  return examples;
}

/** Rows like the training data, every tenth pushed far outside its range. */
function randomMatrix(rows: number, seed: number): Float32Array {
  const rng = randomSource(seed + 1);
  const matrix = new Float32Array(rows * FEATURES.length);
  syntheticExamples(rows, seed).forEach((e, r) => {
    const stretch = r % 10 === 0 ? 1 + 4 * rng() : 1;
    matrix.set(
      Array.from(e.features, (v) => v * stretch),
      r * FEATURES.length,
    );
  });
  return matrix;
}

const trained = (kind: ModelKind) =>
  trainFromExamples(syntheticExamples(20_000, 11), {
    featureNames: FEATURES,
    kind,
    version: `v-${kind}`,
    trainedAt: new Date(T0),
  });

describe('the exported model scores exactly as it was trained', () => {
  for (const kind of ['lr', 'fm'] as const) {
    it(`an ${kind.toUpperCase()} model in onnxruntime gives the TypeScript forward pass's scores`, async () => {
      const { bytes, params } = trained(kind);
      const model = await loadRankingModel(bytes, FEATURES);
      try {
        const rows = 2_000;
        const matrix = randomMatrix(rows, 5);
        const fromOnnx = await model.score(matrix, rows);
        const reference = predict(params, matrix, rows);
        expect(fromOnnx).toHaveLength(rows);
        let worst = 0;
        for (let i = 0; i < rows; i++) worst = Math.max(worst, Math.abs((fromOnnx[i] ?? 0) - (reference[i] ?? 0)));
        expect(worst).toBeLessThan(1e-5);
        // Not a constant: the comparison would prove nothing if every score were 0 or 1.
        expect(new Set(Array.from(fromOnnx, (s) => s.toFixed(3))).size).toBeGreaterThan(100);
        expect(await model.score(new Float32Array(0), 0)).toHaveLength(0);
      } finally {
        await model.release();
      }
    });
  }

  it('a matrix of the wrong width is rejected before it reaches onnxruntime', async () => {
    const model = await loadRankingModel(trained('lr').bytes, FEATURES);
    await expect(model.score(new Float32Array(29), 1)).rejects.toThrow(/expected 1 × 30 feature values, got 29/);
    await model.release();
  });
});

describe('a model file carries its feature list and version', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'feedrec-model-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('metadata, producer and graph names round-trip through the file', async () => {
    const { bytes, metadata } = trained('fm');
    const path = join(dir, 'models', 'fm.onnx');
    await writeModel(path, bytes);
    const model = await loadRankingModel(path, FEATURES);
    try {
      expect(model.version).toBe('v-fm');
      expect(model.kind).toBe('fm');
      expect(model.featureNames).toEqual(FEATURES);
      expect(model.metadata).toEqual(metadata);
    } finally {
      await model.release();
    }
    const info = decodeModelInfo(bytes);
    expect(info).toMatchObject({
      irVersion: 8,
      producerName: 'feedrec',
      opsets: [{ domain: '', version: 13 }],
      inputNames: [INPUT_NAME],
      outputNames: [OUTPUT_NAME],
    });
    const meta = parseModelMetadata(info.metadata);
    expect(meta.featureNames).toEqual(FEATURES);
    expect(meta.trainedAt).toBe(new Date(T0).toISOString());
    expect(meta.trainingRange?.from).toBeGreaterThanOrEqual(T0);
    expect(typeof meta.metrics?.auc).toBe('number');
    expect(typeof meta.metrics?.logLoss).toBe('number');
    expect(JSON.parse(info.metadata.feature_names ?? '')).toEqual(FEATURES);
  });

  it('retraining with the same examples and seed writes the same bytes', () => {
    expect(Buffer.from(trained('lr').bytes).equals(Buffer.from(trained('lr').bytes))).toBe(true);
  });

  it('a model trained on other features is refused, naming the missing and unexpected ones', async () => {
    const { bytes } = trained('lr');
    const definitions = [...FEATURES.slice(0, 28), 'dwell_5m', 'likes_1h'];
    const refusal = await loadRankingModel(bytes, definitions, { source: 'models/x.onnx' }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(ModelMismatchError);
    expect((refusal as Error).message).toBe(
      'model v-lr (models/x.onnx) does not match the feature definitions: missing [dwell_5m, likes_1h], unexpected [f28, f29]',
    );
    expect(refusal).toMatchObject({ missing: ['dwell_5m', 'likes_1h'], unexpected: ['f28', 'f29'], version: 'v-lr' });
  });

  it('a model with the same features in another column order is refused', async () => {
    const { bytes } = trained('lr');
    const reordered = [FEATURES[1] ?? '', FEATURES[0] ?? '', ...FEATURES.slice(2)];
    await expect(loadRankingModel(bytes, reordered, { source: 'm.onnx' })).rejects.toThrow(
      'model v-lr (m.onnx) does not match the feature definitions: same features in another order (column 0 is "f0" in the model but "f1" in the definitions)',
    );
    await expect(loadRankingModel(bytes, FEATURES.slice(0, 29))).rejects.toThrow(/missing \[\], unexpected \[f29\]/);
  });

  it('a model without metadata, or reading another input, is refused', async () => {
    const plain = encodeModel({
      producerName: 'elsewhere',
      producerVersion: '0',
      graphName: 'g',
      nodes: [{ opType: 'Sigmoid', inputs: ['features'], outputs: ['score'] }],
      initializers: [],
      inputs: [{ name: 'features', shape: ['N', 30] }],
      outputs: [{ name: 'score', shape: ['N', 30] }],
      metadata: {},
    });
    await expect(loadRankingModel(plain, FEATURES, { source: 'plain.onnx' })).rejects.toThrow(
      /^model \(plain\.onnx\) has no usable metadata \(feature_names is missing\)/,
    );
    const otherInput = encodeModel({
      producerName: 'elsewhere',
      producerVersion: '0',
      graphName: 'g',
      nodes: [{ opType: 'Sigmoid', inputs: ['input'], outputs: ['score'] }],
      initializers: [],
      inputs: [{ name: 'input', shape: ['N', 30] }],
      outputs: [{ name: 'score', shape: ['N', 30] }],
      metadata: { feature_names: JSON.stringify(FEATURES), model_version: 'v9', model_kind: 'lr' },
    });
    await expect(loadRankingModel(otherInput, FEATURES)).rejects.toThrow(
      'model v9 (in-memory model) has inputs [input] and outputs [score]; expected input "features" and output "score"',
    );
  });

  it('a model whose input width differs from its feature list is refused', async () => {
    const narrow = encodeModel({
      producerName: 'elsewhere',
      producerVersion: '0',
      graphName: 'g',
      nodes: [{ opType: 'Sigmoid', inputs: ['features'], outputs: ['score'] }],
      initializers: [],
      inputs: [{ name: 'features', shape: ['N', 29] }],
      outputs: [{ name: 'score', shape: ['N', 29] }],
      metadata: { feature_names: JSON.stringify(FEATURES), model_version: 'v9', model_kind: 'lr' },
    });
    await expect(loadRankingModel(narrow, FEATURES)).rejects.toThrow(
      'model v9 (in-memory model) takes 29 feature columns but its metadata names 30',
    );
  });

  it('bytes that are not an ONNX model are refused as such', async () => {
    await expect(loadRankingModel(new TextEncoder().encode('{"not": "onnx"}'), FEATURES)).rejects.toThrow(
      OnnxFormatError,
    );
  });
});

describe('training learns what is in the data and nothing else', () => {
  for (const kind of ['lr', 'fm'] as const) {
    it(`${kind}: a known signal gives held-out AUC > 0.8 and beats the constant-rate baseline`, () => {
      const { report } = trainFromExamples(syntheticExamples(30_000, 3), {
        featureNames: FEATURES,
        kind,
        version: 'v1',
      });
      expect(report.model.auc).toBeGreaterThan(0.8);
      expect(report.baseline.auc).toBe(0.5);
      expect(report.model.logLoss).toBeLessThan(report.baseline.logLoss);
      expect(report.heldOutExamples).toBeGreaterThan(3_000);
    });
  }

  it('the FM finds the interaction the LR cannot represent', () => {
    const examples = syntheticExamples(30_000, 3);
    const options = { featureNames: FEATURES, version: 'v1', heldOut: { by: 'time', fraction: 0.2 } } as const;
    const lr = trainFromExamples(examples, { ...options, kind: 'lr' }).report;
    const fm = trainFromExamples(examples, { ...options, kind: 'fm' }).report;
    expect(fm.model.auc).toBeGreaterThan(lr.model.auc + 0.03);
  });

  it('shuffled labels (no signal) stay near AUC 0.5', () => {
    for (const kind of ['lr', 'fm'] as const) {
      const { report } = trainFromExamples(syntheticExamples(30_000, 4, true), {
        featureNames: FEATURES,
        kind,
        version: 'control',
      });
      expect(Math.abs(report.model.auc - 0.5)).toBeLessThan(0.04);
    }
  });

  it('a user split keeps each user on one side, and is the same on every run', () => {
    const users = Array.from({ length: 10_000 }, (_, i) => `user-${i % 997}`);
    const split = splitByGroup(users, 0.25, 9);
    const held = new Set(Array.from(split.heldOut, (r) => users[r]));
    expect(Array.from(split.train).some((r) => held.has(users[r]))).toBe(false);
    expect(split.heldOut.length / users.length).toBeGreaterThan(0.18);
    expect(split.heldOut.length / users.length).toBeLessThan(0.32);
    expect(splitByGroup(users, 0.25, 9)).toEqual(split);

    const times = [5, 1, 4, 2, 3, 5, 0, 6, 7, 8];
    expect(Array.from(splitByTime(times, 0.3).heldOut)).toEqual([7, 8, 9]);
    expect(Array.from(splitByTime(times, 0.45).heldOut)).toEqual([0, 5, 7, 8, 9]);
  });
});

describe('offline metrics', () => {
  it('AUC and log-loss match values computed by hand, ties included', () => {
    const scores = [0.1, 0.4, 0.35, 0.8, 0.4];
    const labels = [0, 0, 1, 1, 1];
    // Positive/negative pairs: 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4, 0.4>0.1, 0.4=0.4 (½) → 4.5 / 6.
    expect(auc(scores, labels)).toBeCloseTo(0.75, 12);
    const expected = -(Math.log(0.9) + Math.log(0.6) + Math.log(0.35) + Math.log(0.8) + Math.log(0.4)) / 5;
    expect(logLoss(scores, labels)).toBeCloseTo(expected, 12);
    expect(auc([0.5, 0.5, 0.5], [0, 1, 1])).toBe(0.5);
    expect(auc([0.2, 0.3], [1, 1])).toBeNaN();
    expect(Number.isFinite(logLoss([0, 1], [1, 0]))).toBe(true);
  });

  it('rank-based AUC equals counting every positive/negative pair', () => {
    const rng = randomSource(21);
    for (let trial = 0; trial < 20; trial++) {
      const n = 50 + Math.floor(rng() * 200);
      // Few distinct scores, so ties are common.
      const scores = Array.from({ length: n }, () => Math.floor(rng() * 12) / 12);
      const labels = Array.from({ length: n }, () => (rng() < 0.3 ? 1 : 0));
      let wins = 0;
      let pairs = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          if (labels[i] !== 1 || labels[j] !== 0) continue;
          pairs++;
          const si = scores[i] ?? 0;
          const sj = scores[j] ?? 0;
          wins += si > sj ? 1 : si === sj ? 0.5 : 0;
        }
      }
      expect(auc(scores, labels)).toBeCloseTo(wins / pairs, 12);
    }
  });
});

describe('logged impressions become labelled examples', () => {
  const names = ['a', 'b'];
  const impression = (id: string, userId: string, servedAt: number, items: string[]): ImpressionRecord => ({
    impressionId: id,
    userId,
    servedAt,
    modelVersion: 'v1',
    featureNames: names,
    items: items.map((itemId, rank) => ({ itemId, rank, score: 0.5, features: [rank, 1] })),
  });
  const act = (userId: string, itemId: string, action: InteractionRecord['action'], occurredAt: number) => ({
    userId,
    itemId,
    action,
    occurredAt,
  });
  const WINDOW = 30 * 60_000;

  it('a click within the window is a positive; late clicks, skips, hides, views and other users are not', () => {
    const served = T0;
    const examples = joinImpressions(
      [impression('imp-1', 'alice', served, ['clicked', 'late', 'skipped', 'hidden', 'viewed', 'bobs', 'liked', 'x'])],
      [
        act('alice', 'clicked', 'CLICK', served + 60_000),
        act('alice', 'late', 'CLICK', served + WINDOW + 1),
        act('alice', 'skipped', 'SKIP', served + 1_000),
        act('alice', 'hidden', 'HIDE', served + 1_000),
        act('alice', 'viewed', 'VIEW', served + 1_000),
        act('bob', 'bobs', 'LIKE', served + 1_000),
        act('alice', 'liked', 'LIKE', served + WINDOW),
        act('alice', 'x', 'SHARE', served - 1),
      ],
      { labelWindowMs: WINDOW },
    );
    expect(examples.map((e) => e.label)).toEqual([1, 0, 0, 0, 0, 0, 1, 0]);
    expect(examples[0]).toEqual({ features: [0, 1], label: 1, userId: 'alice', at: served });
  });

  it('an impression logged twice counts once, and each serving is labelled on its own', () => {
    const first = impression('imp-1', 'alice', T0, ['i']);
    const later = impression('imp-2', 'alice', T0 + 2 * WINDOW, ['i']);
    const examples = joinImpressions([first, first, later], [act('alice', 'i', 'COMMENT', T0 + 2 * WINDOW + 5)], {
      labelWindowMs: WINDOW,
    });
    expect(examples.map((e) => [e.at, e.label])).toEqual([
      [T0, 0],
      [T0 + 2 * WINDOW, 1],
    ]);
  });

  it('impressions logged under another feature list are not mixed in', () => {
    const other = { ...impression('imp-2', 'alice', T0, ['i']), featureNames: ['a', 'c'] };
    expect(() => joinImpressions([impression('imp-1', 'alice', T0, ['i']), other], [], { labelWindowMs: 1 })).toThrow(
      /other feature names/,
    );
    expect(
      joinImpressions([impression('imp-1', 'alice', T0, ['i']), other], [], { labelWindowMs: 1, featureNames: names }),
    ).toHaveLength(1);
  });
});
