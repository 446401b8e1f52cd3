/**
 * The pure part of pattern matching in the stream worker: the rules in the form the match script
 * reads, and one script call per user for the events the user step counted. No I/O.
 */
import { ACTION_CODES, PATTERN_BUFFER_MAX, PATTERN_MATCH_LOG_MAX, TTL_REFRESH_MS } from '../features/definitions.js';
import type { RedisKeys } from '../core/keys.js';
import type { MatchPatternsArgs, MatchPatternsKeys, MatchPatternsReply } from '../redis/scripts.js';
import { fenceKey, type EpochFence } from '../streams/epoch.js';
import type { Contribution, UserCall } from '../streams/plan.js';
import { patternHorizonMs, referencedTags, type PatternRule } from './rules.js';

/** The rules, compiled once at start-up. */
export interface CompiledPatterns {
  rules: readonly PatternRule[];
  /** The rules as the match script decodes them. */
  json: string;
  /** The longest span of any rule: events older than this (plus the lateness) cannot matter. */
  horizonMs: number;
  /** Item tags some rule looks at. */
  tagFilter: ReadonlySet<string>;
  /** Per rule, in order: 1 when the event fits one of its steps (only such events make its matches). */
  relevance: (c: Contribution) => string;
}

export function compilePatterns(rules: readonly PatternRule[]): CompiledPatterns {
  const json = JSON.stringify(
    rules.map((r) => ({
      id: r.id,
      strict: r.contiguity === 'strict' ? 1 : 0,
      within: r.withinMs ?? -1,
      span: r.spanMs,
      tag: r.tag,
      ttl: r.tagTtlMs,
      reason: r.reason,
      steps: r.steps.map((s) => ({
        // Members name the action by its code; those written before the codes, by its name.
        ...(s.actions ? { a: [...s.actions.map((a) => ACTION_CODES[a]), ...s.actions] } : {}),
        ...(s.categories ? { c: s.categories } : {}),
        ...(s.tags ? { g: s.tags } : {}),
        gap: s.maxGapMs ?? -1,
      })),
    })),
  );
  const fits = (s: PatternRule['steps'][number], c: Contribution) =>
    (!s.actions || s.actions.includes(c.action)) &&
    (!s.categories || s.categories.includes(c.category)) &&
    (!s.tags || s.tags.some((t) => c.tags.includes(t)));
  const relevance = (c: Contribution) => rules.map((r) => (r.steps.some((s) => fits(s, c)) ? '1' : '0')).join('');
  return { rules, json, horizonMs: patternHorizonMs(rules), tagFilter: referencedTags(rules), relevance };
}

export interface PatternPlanOptions {
  keys: RedisKeys;
  fence: EpochFence;
  partition: number;
  allowedLatenessMs: number;
  stateTtlSec: number;
  now: number;
  patterns: CompiledPatterns;
}

/**
 * An event as the match script holds it. The offset comes first, in base 36 after one character
 * giving the number of its digits (1–9, a–d: every 64-bit offset has at most 13), so that the text
 * sorts as the number does and events of the same event time sort in log order, the order every
 * replay of the log sees them in. (An earlier version padded the offset with zeros to 13 characters
 * instead: its members sort before these, as their offsets came first.) The action is named by its
 * code (ACTION_CODES).
 */
export const patternMember = (c: Contribution) => {
  const digits = BigInt(c.offset).toString(36);
  const action = ACTION_CODES[c.action];
  return `${digits.length.toString(36)}${digits}|${c.eventId}|${action}|${c.category}|${c.tags.join(',')}`;
};

/** One call per user, with their contributions in offset order. Contributions must be ordered. */
export function planPatternCalls(
  contributions: readonly Contribution[],
  options: PatternPlanOptions,
): UserCall<MatchPatternsKeys, MatchPatternsArgs>[] {
  const byUser = new Map<string, Contribution[]>();
  for (const c of contributions) {
    if (!c.eventId) continue; // written before contributions carried it: nothing to match on
    const list = byUser.get(c.userId);
    if (list) list.push(c);
    else byUser.set(c.userId, [c]);
  }
  const { keys, patterns } = options;
  const calls: UserCall<MatchPatternsKeys, MatchPatternsArgs>[] = [];
  for (const [userId, list] of byUser) {
    calls.push({
      userId,
      keys: {
        epoch: fenceKey(options.fence, keys.userPatternState(userId)),
        state: keys.userPatternState(userId),
        events: keys.userPatternEvents(userId),
        fired: keys.userPatternFired(userId),
        log: keys.userPatternMatches(userId),
        tags: keys.userTags(userId),
      },
      args: {
        epoch: options.fence.epoch,
        partition: options.partition,
        allowedLatenessMs: options.allowedLatenessMs,
        stateTtlSec: options.stateTtlSec,
        bufferMax: PATTERN_BUFFER_MAX,
        horizonMs: patterns.horizonMs,
        logMax: PATTERN_MATCH_LOG_MAX,
        now: options.now,
        ttlRefreshMs: TTL_REFRESH_MS,
        rulesJson: patterns.json,
        events: list.map((c) => ({
          offset: c.offset,
          occurredAt: c.occurredAt,
          clock: c.clock,
          member: patternMember(c),
          mask: patterns.relevance(c),
        })),
      },
    });
  }
  return calls;
}

/** What one user's match call did. */
export interface PatternCallResult extends MatchPatternsReply {
  userId: string;
}
