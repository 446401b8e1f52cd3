/**
 * Top-k accuracy and catalogue coverage of ranked lists against held-out positives: the numbers
 * the offline baselines are compared on.
 */

export interface Metrics {
  /** Users evaluated (users in `test`). */
  users: number;
  recall20: number;
  ndcg10: number;
  hitRate20: number;
  /** Distinct items in all top-20 lists / catalogue size. */
  coverage20: number;
}

/**
 * `lists`: per evaluated user their ranked list (may be shorter than 20). recall@k = hits/|test|;
 * NDCG@k with binary gains, the ideal being min(k, |test|) hits at the top; all averaged over the
 * users in `test` (a user missing from `lists` counts as 0). Coverage counts every list given. An
 * item repeated within a list counts once, so a list cannot earn more than its distinct hits.
 */
export function evaluate(
  lists: Map<string, readonly string[]>,
  test: Map<string, Set<string>>,
  catalogueSize: number,
): Metrics {
  let recall = 0;
  let ndcg = 0;
  let hits = 0;
  for (const [userId, relevant] of test) {
    if (relevant.size === 0) continue;
    const list = lists.get(userId) ?? [];
    const counted = new Set<string>();
    let hits20 = 0;
    let dcg = 0;
    for (let r = 0; r < Math.min(20, list.length); r++) {
      const item = list[r] as string;
      if (counted.has(item) || !relevant.has(item)) continue;
      counted.add(item);
      hits20++;
      if (r < 10) dcg += 1 / Math.log2(r + 2);
    }
    let ideal = 0;
    for (let r = 0; r < Math.min(10, relevant.size); r++) ideal += 1 / Math.log2(r + 2);
    recall += hits20 / relevant.size;
    ndcg += dcg / ideal;
    if (hits20 > 0) hits++;
  }
  const covered = new Set<string>();
  for (const list of lists.values()) for (const item of list.slice(0, 20)) covered.add(item);
  const users = test.size;
  return {
    users,
    recall20: users ? recall / users : 0,
    ndcg10: users ? ndcg / users : 0,
    hitRate20: users ? hits / users : 0,
    coverage20: catalogueSize > 0 ? covered.size / catalogueSize : 0,
  };
}
