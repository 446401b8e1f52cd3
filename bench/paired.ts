/**
 * Comparing two builds on a noisy machine: each round measures both, one right after the other
 * (in alternating order), so a round's two figures saw the same machine; what a comparison can
 * trust is how often and by how much B beat A within the rounds, not two medians of windows that
 * saw different machines.
 */
import { median } from './types.js';

export interface PairedSummary {
  rounds: number;
  /** Rounds in which B's figure was better (higher, or lower with `lowerIsBetter`). */
  bWins: number;
  medianA: number;
  medianB: number;
  /** Mean of B − A over the rounds. */
  meanDiff: number;
  /** meanDiff as a share of A's mean. */
  meanDiffShare: number;
}

export function pairedSummary(a: readonly number[], b: readonly number[], lowerIsBetter = false): PairedSummary {
  if (a.length !== b.length || a.length === 0)
    throw new RangeError('paired figures need as many rounds of each, at least one');
  const diffs = a.map((x, i) => b[i]! - x);
  const meanA = a.reduce((s, x) => s + x, 0) / a.length;
  const meanDiff = diffs.reduce((s, d) => s + d, 0) / diffs.length;
  return {
    rounds: a.length,
    bWins: diffs.filter((d) => (lowerIsBetter ? d < 0 : d > 0)).length,
    medianA: median([...a]),
    medianB: median([...b]),
    meanDiff,
    meanDiffShare: meanA === 0 ? 0 : meanDiff / meanA,
  };
}
