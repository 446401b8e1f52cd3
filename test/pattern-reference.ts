/**
 * An independent, brute-force model of behaviour-pattern matching: walk each user's events in log
 * order, drop the too-late ones and repeated eventIds (as the user step does), sort the rest by
 * event time (then log order), and find every rule's matches by exhaustive search. Plus a random
 * stream generator dense enough in pattern events that rules fire, break and stay open.
 */
import { expect } from 'vitest';
import { parsePatternRules, type PatternRule } from '../src/patterns/rules.js';
import type { PatternMatch } from '../src/patterns/matches.js';
import type { Action, BehaviorEvent } from '../src/core/events.js';
import { WATERMARK_MAX_AHEAD_MS } from '../src/features/definitions.js';
import { randomBehaviour } from './stream-reference.js';

/** Rules covering both contiguities, `within` and per-step gaps, item tags and a single step. */
export const TEST_RULES_JSON = JSON.stringify({
  rules: [
    {
      id: 'pets3',
      steps: [
        { action: 'CLICK', category: 'pets' },
        { action: 'CLICK', category: 'pets' },
        { action: 'CLICK', category: 'pets' },
      ],
      contiguity: 'strict',
      within: '1m',
      tag: 'pet_lover',
      tagTtl: '1d',
      reason: '{count} pet videos in a row',
    },
    {
      id: 'comments2',
      steps: [{ action: 'COMMENT' }, { action: 'COMMENT' }],
      contiguity: 'relaxed',
      within: '5m',
      tag: 'active_commenter',
      tagTtl: '1d',
      reason: '{count} comments in {span}',
    },
    {
      id: 'skips3',
      steps: [{ action: 'SKIP' }, { action: 'SKIP', maxGap: '20s' }, { action: 'SKIP', maxGap: '20s' }],
      contiguity: 'strict',
      tag: 'skipping',
      tagTtl: '1d',
      reason: 'skipped {count} in a row',
    },
    {
      id: 'cute_funnel',
      steps: [
        { action: 'LIKE', tags: ['cute'] },
        { action: ['CLICK', 'VIEW'], maxGap: '40s' },
        { action: 'SHARE', maxGap: '40s' },
      ],
      contiguity: 'relaxed',
      tag: 'cute_sharer',
      tagTtl: '1d',
      reason: 'liked something cute, then shared',
    },
    {
      id: 'food_hide',
      steps: [{ action: 'HIDE', category: 'food' }],
      contiguity: 'strict',
      tag: 'no_food',
      tagTtl: '1d',
      reason: 'hid food',
    },
  ],
});
export const TEST_RULES = parsePatternRules(TEST_RULES_JSON, 'test-rules.json');

export const ITEMS: Record<string, { category: string; tags: string[] }> = {
  'pet-1': { category: 'pets', tags: ['cute', 'dog'] },
  'pet-2': { category: 'pets', tags: [] },
  'car-1': { category: 'cars', tags: ['cute'] },
  'food-1': { category: 'food', tags: [] },
};
const itemInfo = (itemId: string) => ITEMS[itemId] ?? { category: '_unknown', tags: [] };

/** Actions weighted towards the rules' steps, so that matches, near misses and breaks all occur. */
const ACTION_MIX: Action[] = [
  'CLICK',
  'CLICK',
  'CLICK',
  'CLICK',
  'COMMENT',
  'LIKE',
  'LIKE',
  'SHARE',
  'SKIP',
  'SKIP',
  'SKIP',
  'VIEW',
  'HIDE',
];

/**
 * Random behaviour as randomEvents makes it (out of order within the lateness bound, too late,
 * client retries), with short gaps and the action mix above so that patterns form.
 */
export function randomPatternEvents(opts: {
  seed: number;
  users: string[];
  perUser: number;
  start: number;
  latenessMs: number;
  maxStepMs?: number;
}) {
  return randomBehaviour({
    ...opts,
    items: [...Object.keys(ITEMS), 'pet-1', 'pet-2', 'x-1'],
    actions: ACTION_MIX,
    maxStepMs: opts.maxStepMs ?? 15_000,
    tooLateSpreadMs: 300_000,
  });
}

interface Counted {
  event: BehaviorEvent;
  category: string;
  tags: string[];
  /** Position in the user's log. */
  index: number;
}

/**
 * Each user's counted events (as the user step decides them), in log order, and their watermark:
 * the latest counted event time, each event moving it to at most its receivedAt +
 * WATERMARK_MAX_AHEAD_MS (the user step and the pattern matcher share it).
 */
export function countedByUser(events: BehaviorEvent[], latenessMs: number) {
  const users = new Map<string, { wm: number; seen: Set<string>; counted: Counted[] }>();
  events.forEach((e, index) => {
    let s = users.get(e.userId);
    if (!s) users.set(e.userId, (s = { wm: 0, seen: new Set(), counted: [] }));
    if (e.occurredAt < s.wm - latenessMs || s.seen.has(e.eventId)) return;
    s.seen.add(e.eventId);
    s.counted.push({ event: e, ...itemInfo(e.itemId), index });
    s.wm = Math.max(s.wm, Math.min(e.occurredAt, e.receivedAt + WATERMARK_MAX_AHEAD_MS));
  });
  return users;
}

const fits = (step: PatternRule['steps'][number], c: Counted) =>
  (!step.actions || step.actions.includes(c.event.action)) &&
  (!step.categories || step.categories.includes(c.category)) &&
  (!step.tags || step.tags.some((t) => c.tags.includes(t)));

/** True when `seq` (events in order) satisfies the rule's steps and time bounds, ignoring contiguity. */
function satisfies(rule: PatternRule, seq: Counted[]) {
  if (seq.length !== rule.steps.length) return false;
  const first = seq[0]!.event.occurredAt;
  return seq.every((c, k) => {
    const step = rule.steps[k]!;
    if (!fits(step, c)) return false;
    if (rule.withinMs !== null && c.event.occurredAt - first > rule.withinMs) return false;
    const prev = seq[k - 1];
    return !(k > 0 && step.maxGapMs !== null && prev && c.event.occurredAt - prev.event.occurredAt > step.maxGapMs);
  });
}

/** Does some completion start at `ordered[j]`? Exhaustive search over later events. */
function relaxedExists(rule: PatternRule, ordered: Counted[], j: number): boolean {
  const chosen = [ordered[j]!];
  const search = (from: number): boolean => {
    if (chosen.length === rule.steps.length) return satisfies(rule, chosen);
    for (let x = from; x < ordered.length; x++) {
      chosen.push(ordered[x]!);
      // Prefix check keeps the search small; the full check is at the leaf.
      const k = chosen.length - 1;
      const ok =
        fits(rule.steps[k]!, ordered[x]!) &&
        (rule.withinMs === null || ordered[x]!.event.occurredAt - ordered[j]!.event.occurredAt <= rule.withinMs) &&
        (rule.steps[k]!.maxGapMs === null ||
          ordered[x]!.event.occurredAt - chosen[k - 1]!.event.occurredAt <= rule.steps[k]!.maxGapMs);
      if (ok && search(x + 1)) return true;
      chosen.pop();
    }
    return false;
  };
  return fits(rule.steps[0]!, ordered[j]!) && search(j + 1);
}

export interface ReferenceMatch {
  userId: string;
  rule: string;
  firstEventId: string;
  /** Strict: the exact run; relaxed: null (any valid completion is right). */
  eventIds: string[] | null;
  lastAt: number;
}

/**
 * Every match over the counted events in `order` ('time': sorted by event time, then log order —
 * the truth; 'arrival': log order — what a matcher that ignores event time would find). With
 * `decidedOnly`, strict runs that a late event could still break (last event after the watermark
 * minus the lateness, and spanning some time) are left out: they are not decided yet.
 */
export function referenceMatches(
  events: BehaviorEvent[],
  rules: readonly PatternRule[],
  latenessMs: number,
  { order = 'time', decidedOnly = false }: { order?: 'time' | 'arrival'; decidedOnly?: boolean } = {},
) {
  const matches: ReferenceMatch[] = [];
  let starts = 0;
  for (const [userId, s] of countedByUser(events, latenessMs)) {
    const ordered =
      order === 'time'
        ? [...s.counted].sort((a, b) => a.event.occurredAt - b.event.occurredAt || a.index - b.index)
        : s.counted;
    for (const rule of rules) {
      for (let j = 0; j < ordered.length; j++) {
        const first = ordered[j]!;
        if (!fits(rule.steps[0]!, first)) continue;
        starts++;
        if (rule.contiguity === 'strict') {
          const run = ordered.slice(j, j + rule.steps.length);
          if (!satisfies(rule, run)) continue;
          const last = run.at(-1)!.event.occurredAt;
          if (decidedOnly && last > s.wm - latenessMs && last !== first.event.occurredAt) continue;
          matches.push({
            userId,
            rule: rule.id,
            firstEventId: first.event.eventId,
            eventIds: run.map((c) => c.event.eventId),
            lastAt: last,
          });
        } else if (relaxedExists(rule, ordered, j)) {
          matches.push({ userId, rule: rule.id, firstEventId: first.event.eventId, eventIds: null, lastAt: 0 });
        }
      }
    }
  }
  return { matches, starts };
}

/** Is `ids` a run of consecutive events (in event-time order) over the user's first `n` counted events? */
function runInPrefix(counted: Counted[], n: number, ids: string[]): boolean {
  const ordered = counted
    .slice(0, n)
    .sort((a, b) => a.event.occurredAt - b.event.occurredAt || a.index - b.index)
    .map((c) => c.event.eventId);
  const at = ordered.indexOf(ids[0] ?? '');
  return at >= 0 && ids.every((id, k) => ordered[at + k] === id);
}

/**
 * Asserts that the matches in effect (per user, from the Redis match log: each fired match not
 * withdrawn since) are exactly the reference's: the same (user, rule, first event) set, strict runs
 * event for event, and every relaxed completion a valid one in event-time order. The log itself
 * must be consistent: consecutive sequence numbers, a withdrawal only of the match in effect (same
 * events), a fire only when none is in effect; and every withdrawal justified: a strict run that
 * was a run over some prefix of the user's events, and is not one over all of them. Returns
 * counts, to show the comparison was not empty.
 */
export function expectMatchesEqualReference(
  fired: Map<string, PatternMatch[]>,
  events: BehaviorEvent[],
  rules: readonly PatternRule[],
  latenessMs: number,
  options: { decidedOnly?: boolean } = {},
) {
  const reference = referenceMatches(events, rules, latenessMs, options);
  const counted = countedByUser(events, latenessMs);
  const key = (userId: string, rule: string, first: string) => `${userId}|${rule}|${first}`;
  const expected = new Map(reference.matches.map((m) => [key(m.userId, m.rule, m.firstEventId), m]));
  const actual = new Map<string, PatternMatch>();
  const withdrawals: { userId: string; match: PatternMatch }[] = [];
  for (const [userId, list] of fired) {
    // Sequence numbers 1..n: nothing dropped from the log, nothing logged twice under one number.
    expect(
      list.map((m) => m.seq),
      `${userId} match sequence`,
    ).toEqual(list.map((_, i) => i + 1));
    const inEffect = new Map<string, PatternMatch>();
    for (const m of list) {
      const k = key(userId, m.rule, m.eventIds[0] ?? '');
      if (m.withdrawn !== undefined) {
        expect(inEffect.get(k)?.eventIds, `${k} withdrawn while not in effect`).toEqual(m.eventIds);
        inEffect.delete(k);
        withdrawals.push({ userId, match: m });
      } else {
        expect(inEffect.has(k), `${k} fired twice`).toBe(false);
        inEffect.set(k, m);
      }
    }
    for (const [k, m] of inEffect) actual.set(k, m);
  }
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  const byId = new Map<string, Counted>();
  for (const s of counted.values()) for (const c of s.counted) byId.set(c.event.eventId, c);
  for (const [k, m] of actual) {
    const ref = expected.get(k)!;
    const rule = rules.find((r) => r.id === m.rule)!;
    if (ref.eventIds) expect(m.eventIds, k).toEqual(ref.eventIds);
    const seq = m.eventIds.map((id) => byId.get(id)!);
    expect(seq.every(Boolean), `${k}: every matched event was counted`).toBe(true);
    const inOrder = seq.every(
      (c, i) =>
        i === 0 ||
        seq[i - 1]!.event.occurredAt < c.event.occurredAt ||
        (seq[i - 1]!.event.occurredAt === c.event.occurredAt && seq[i - 1]!.index < c.index),
    );
    expect(inOrder && satisfies(rule, seq), `${k}: ${m.eventIds.join(',')} is a valid match`).toBe(true);
    expect(m.at, `${k} time`).toBe(seq.at(-1)!.event.occurredAt);
  }
  for (const { userId, match } of withdrawals) {
    const rule = rules.find((r) => r.id === match.rule)!;
    const k = key(userId, match.rule, match.eventIds[0] ?? '');
    expect(rule.contiguity, `${k}: only strict runs are withdrawn`).toBe('strict');
    const mine = counted.get(userId)!.counted;
    const seq = match.eventIds.map((id) => byId.get(id)!);
    expect(satisfies(rule, seq), `${k}: the withdrawn events fit the rule`).toBe(true);
    const wasRun = mine.some((_, n) => runInPrefix(mine, n + 1, match.eventIds));
    expect(wasRun, `${k}: ${match.eventIds.join(',')} was a run once`).toBe(true);
    expect(runInPrefix(mine, mine.length, match.eventIds), `${k}: is no run any more`).toBe(false);
    expect(match.withdrawn, `${k}: reason`).toMatch(/^(late event \S+ broke the run|a late event changed the run)$/);
  }
  const perRule: Record<string, number> = {};
  for (const m of reference.matches) perRule[m.rule] = (perRule[m.rule] ?? 0) + 1;
  return { matches: reference.matches.length, starts: reference.starts, perRule, withdrawals: withdrawals.length };
}
