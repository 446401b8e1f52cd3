/**
 * Offline metrics for a ranking model: AUC (does it order clicked items above the others?) and
 * log-loss (are its probabilities calibrated?). Both take typed arrays and allocate O(n) once.
 */

export interface Evaluation {
  /** NaN when the labels are all 0 or all 1: there is no pair to order. */
  auc: number;
  logLoss: number;
  examples: number;
  positiveRate: number;
}

function checkLengths(scores: ArrayLike<number>, labels: ArrayLike<number>) {
  if (scores.length !== labels.length) throw new RangeError(`${scores.length} scores for ${labels.length} labels`);
}

/**
 * Area under the ROC curve from ranks (Mann–Whitney U): the probability that a random positive
 * scores above a random negative, with tied scores sharing their average rank (a tie counts ½).
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(scores, labels);
  const n = scores.length;
  const values = Float64Array.from(scores);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => (values[a] ?? 0) - (values[b] ?? 0));
  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < n;) {
    const value = values[order[start] ?? 0];
    let end = start + 1;
    while (end < n && values[order[end] ?? 0] === value) end++;
    // Ranks start..end-1 (0-based) share the average 1-based rank.
    const rank = (start + end + 1) / 2;
    for (let i = start; i < end; i++) {
      if (labels[order[i] ?? 0] === 1) {
        positives++;
        positiveRankSum += rank;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean binary cross-entropy; probabilities are clipped to [eps, 1 − eps] so one 0 is not ∞. */
export function logLoss(scores: ArrayLike<number>, labels: ArrayLike<number>, eps = 1e-15): number {
  checkLengths(scores, labels);
  if (scores.length === 0) return NaN;
  let total = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = Math.min(1 - eps, Math.max(eps, scores[i] ?? 0));
    total -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return total / scores.length;
}

export function evaluate(scores: ArrayLike<number>, labels: ArrayLike<number>): Evaluation {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) positives++;
  return {
    auc: auc(scores, labels),
    logLoss: logLoss(scores, labels),
    examples: labels.length,
    positiveRate: labels.length === 0 ? NaN : positives / labels.length,
  };
}
