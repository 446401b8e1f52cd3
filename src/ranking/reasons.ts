/**
 * Reasons in words, from the same signals the ranking used, so a product team can read why an
 * item is in a feed ("3 pets items liked in the last 5 minutes").
 */
import { NEW_ITEM_AGE_MS } from '../features/ranking-features.js';
import type { ItemFeatures } from '../features/item-features.js';
import type { UserLongHorizon, UserRealtime } from '../features/user-features.js';
import { tagReasonText } from '../features/definitions.js';
import type { Action } from '../core/events.js';
import { SOURCE, type Candidate } from './recall.js';

const VERBS: Partial<Record<Action, string>> = {
  SHARE: 'shared',
  COMMENT: 'commented on',
  LIKE: 'liked',
  CLICK: 'opened',
  VIEW: 'viewed',
};
const STRONGEST_FIRST: Action[] = ['SHARE', 'COMMENT', 'LIKE', 'CLICK', 'VIEW'];
const MAX_REASONS = 3;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const ago = (ms: number) =>
  ms < 3_600_000 ? plural(Math.max(1, Math.round(ms / 60_000)), 'minute') : plural(Math.round(ms / 3_600_000), 'hour');

/** Reason builders for one request: the user's 5-minute counts are indexed once. */
export function createReasoner(
  user: UserRealtime,
  lt: UserLongHorizon,
  at: number,
  tagCategories: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
) {
  const recent = new Map<string, Map<Action, number>>();
  for (const c of user.windows.find((w) => w.window === '5m')?.counts ?? []) {
    const m = recent.get(c.category) ?? new Map<Action, number>();
    m.set(c.action, c.count);
    recent.set(c.category, m);
  }
  const shares = new Map(lt.preferences.map((p) => [p.category, p.share]));
  const interests = new Set(user.interests);
  return (item: ItemFeatures, candidate: Candidate, exploration: boolean): string[] => {
    const reasons: string[] = [];
    const category = item.category;
    for (const tag of user.tags)
      if (category && tagCategories.get(tag.tag)?.has(category)) reasons.push(tagReasonText(tag));
    if (category) {
      const counts = recent.get(category);
      const action = counts && STRONGEST_FIRST.find((a) => (counts.get(a) ?? 0) > 0);
      if (action && counts)
        reasons.push(`${plural(counts.get(action) ?? 0, `${category} item`)} ${VERBS[action]} in the last 5 minutes`);
    }
    if (candidate.neighbourSeed && candidate.neighbour > 0)
      reasons.push(`often enjoyed together with ${candidate.neighbourSeed}, which you liked`);
    if (category && (shares.get(category) ?? 0) >= 0.2)
      reasons.push(
        `${Math.round((shares.get(category) ?? 0) * 100)}% of your activity in the last 30 days is ${category}`,
      );
    if (category && interests.has(category)) reasons.push(`you said you are interested in ${category}`);
    if ((candidate.sources & SOURCE.category) !== 0 && category) reasons.push(`trending in ${category}`);
    else if (candidate.trending > 0) reasons.push('trending now');
    const age = item.createdAt === null ? null : at - item.createdAt;
    if (age !== null && age < NEW_ITEM_AGE_MS)
      reasons.push(exploration ? `new, published ${ago(age)} ago: a discovery pick` : `new, published ${ago(age)} ago`);
    if (reasons.length === 0) reasons.push(item.popularity > 0 ? 'popular recently' : 'something different to explore');
    return reasons.slice(0, MAX_REASONS);
  };
}
