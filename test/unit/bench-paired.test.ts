import { describe, expect, it } from 'vitest';
import { pairedSummary } from '../../bench/paired.js';

describe("the A/B tool's paired summary", () => {
  it('counts the rounds B won and the mean difference within rounds, whatever the rounds had in common', () => {
    // The machine got faster over the rounds; B was 10 ahead in 3 of 4 rounds and 10 behind in one.
    const a = [100, 200, 300, 400];
    const b = [110, 210, 290, 410];
    expect(pairedSummary(a, b)).toEqual({
      rounds: 4,
      bWins: 3,
      medianA: 250,
      medianB: 250,
      meanDiff: 5,
      meanDiffShare: 5 / 250,
    });
  });

  it('for a cost, a lower figure wins', () => {
    const cost = pairedSummary([2, 2, 2], [1.5, 2.5, 1.9], true);
    expect(cost.bWins).toBe(2);
    expect(cost.meanDiff).toBeCloseTo(-0.1 / 3, 10);
  });

  it('refuses rounds that do not pair up', () => {
    expect(() => pairedSummary([1, 2], [1])).toThrow(RangeError);
    expect(() => pairedSummary([], [])).toThrow(RangeError);
  });
});
