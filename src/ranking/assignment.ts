/**
 * Which experiment arm a user is in. The answer is a pure function of (experiment id, user id,
 * arm shares): every instance computes the same arm without coordination, and a user keeps their
 * arm between requests for as long as the experiment is unchanged. A new experiment id
 * reshuffles users, so one experiment's arms are independent of the previous one's.
 */
import { createHash } from 'node:crypto';

/**
 * A point in [0, 1) for the pair: the first 48 bits of SHA-1(experimentId NUL userId). SHA-1 is
 * here for its spread and portability (any language reproduces it), not for secrecy.
 */
export function assignmentPoint(experimentId: string, userId: string): number {
  const digest = createHash('sha1').update(experimentId).update('\0').update(userId).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

/**
 * The arm whose cumulative share first exceeds the user's point; arms keep their listed order,
 * so growing the last arm's share moves users only into it. Rounding leftovers go to the last arm.
 */
export function assignArm<A extends { name: string; share: number }>(
  arms: readonly A[],
  experimentId: string,
  userId: string,
): A {
  const last = arms.at(-1);
  if (!last) throw new RangeError('an experiment needs at least one arm');
  if (arms.length === 1) return last;
  const point = assignmentPoint(experimentId, userId);
  let cumulative = 0;
  for (const arm of arms) {
    cumulative += arm.share;
    if (point < cumulative) return arm;
  }
  return last;
}
