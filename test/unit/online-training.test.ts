import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/model/evaluate.js';
import {
  cloneFtrlState,
  createFtrlState,
  DEFAULT_FTRL,
  ftrlParams,
  ftrlUpdate,
  ftrlWeights,
  type FtrlState,
} from '../../src/model/ftrl.js';
import { publishDecision } from '../../src/model/online-trainer.js';
import { predict } from '../../src/model/params.js';
import { randomSource } from '../../src/core/random.js';

const F = 6;
/** Clicks depend on column 0 (up) and 2 (down); the other columns are noise. */
function stream(seed: number, rows: number) {
  const rng = randomSource(seed);
  return Array.from({ length: rows }, () => {
    const x = Array.from({ length: F }, () => (rng() - 0.5) * 2);
    const z = -0.5 + 2.5 * (x[0] ?? 0) - 2 * (x[2] ?? 0);
    const label: 0 | 1 = rng() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    return { x, label };
  });
}
function learn(state: FtrlState, examples: ReturnType<typeof stream>, settings = DEFAULT_FTRL) {
  for (const e of examples) ftrlUpdate(state, settings, e.x, e.label);
  return state;
}

describe('online learning (FTRL)', () => {
  it('learns the signal, and L1 keeps noise columns at exactly zero', () => {
    const w = ftrlWeights(learn(createFtrlState(F), stream(1, 20_000)), DEFAULT_FTRL);
    expect(w[1]).toBeGreaterThan(1);
    expect(w[3]).toBeLessThan(-1);
    const noise = [w[2], w[4], w[5], w[6]].map((v) => Math.abs(v ?? 1));
    expect(Math.max(...noise)).toBeLessThan(0.1);
    // Stronger L1 zeroes noise columns outright; the bias is never regularised.
    const strong = { ...DEFAULT_FTRL, l1: 200 };
    const sparse = ftrlWeights(learn(createFtrlState(F), stream(1, 20_000), strong), strong);
    expect([sparse[2], sparse[4], sparse[5], sparse[6]]).toEqual([0, 0, 0, 0]);
    expect(sparse[0]).not.toBe(0);
    expect(sparse[1]).toBeGreaterThan(0.5);
  });

  it('a restart from the saved sums continues exactly where it stopped', () => {
    const examples = stream(2, 4_000);
    const straight = learn(createFtrlState(F), examples);
    const saved = cloneFtrlState(learn(createFtrlState(F), examples.slice(0, 1_500)));
    const resumed = learn(saved, examples.slice(1_500));
    expect(resumed).toEqual(straight);
  });

  it('each update returns the prediction made before learning from the example', () => {
    const state = createFtrlState(F);
    expect(ftrlUpdate(state, DEFAULT_FTRL, [1, 0, 0, 0, 0, 0], 1)).toBe(0.5);
    const before = cloneFtrlState(state);
    const w = ftrlWeights(before, DEFAULT_FTRL);
    const x = [0.3, -1, 0.2, 0, 0.5, 0.1];
    const z = x.reduce((s, v, i) => s + v * (w[i + 1] ?? 0), w[0] ?? 0);
    expect(ftrlUpdate(state, DEFAULT_FTRL, x, 0)).toBeCloseTo(1 / (1 + Math.exp(-z)), 12);
  });

  it('the exported parameters score as the learner predicts, through the standardisation', () => {
    const state = learn(createFtrlState(F), stream(3, 2_000));
    const mean = Float32Array.from({ length: F }, (_, i) => i);
    const std = Float32Array.from({ length: F }, (_, i) => 1 + i / 2);
    const params = ftrlParams(state, DEFAULT_FTRL, { mean, std });
    const raw = stream(4, 50).map((e) => e.x.map((v, i) => v * (std[i] ?? 1) + (mean[i] ?? 0)));
    const scores = predict(params, Float32Array.from(raw.flat()), raw.length);
    raw.forEach((row, r) => {
      const standardised = row.map((v, i) => (v - (mean[i] ?? 0)) / (std[i] ?? 1));
      const p = ftrlUpdate(cloneFtrlState(state), DEFAULT_FTRL, standardised, 0);
      expect(scores[r]).toBeCloseTo(p, 5);
    });
  });
});

describe('the online trainer publishes only a sound update', () => {
  const params = {
    kind: 'lr' as const,
    mean: new Float32Array(2),
    std: Float32Array.of(1, 1),
    weights: Float32Array.of(1, 2),
    bias: 0,
  };
  const good = evaluate(Float32Array.of(0.9, 0.1, 0.8, 0.2), Uint8Array.of(1, 0, 1, 0));

  it('refuses non-finite weights whatever the metrics say', () => {
    expect(
      publishDecision({ ...params, weights: Float32Array.of(1, Number.NaN) }, good, null, { minHeldOut: 1 }),
    ).toEqual({
      publish: false,
      reason: 'the update produced non-finite weights',
    });
    expect(publishDecision(params, good, null, { minHeldOut: 1 }).publish).toBe(true);
  });
});
