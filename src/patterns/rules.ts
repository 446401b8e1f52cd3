/**
 * Behaviour patterns: event-sequence rules that product teams declare in a JSON file and the stream
 * worker matches per user on event time, tagging the user when one completes. This module reads
 * and validates the file once, at start-up; every message names the file, the rule and the field,
 * so a typo stops the service with a pointer to the line to fix instead of a rule that never fires.
 */
import { readFileSync } from 'node:fs';
import { ACTIONS, ID_PATTERN, type Action } from '../core/events.js';
import { isRecord } from '../core/records.js';

export type Contiguity = 'strict' | 'relaxed';

export interface PatternStep {
  /** Actions that fit this step; null: any action. */
  actions: readonly Action[] | null;
  /** Item categories that fit this step; null: any category. */
  categories: readonly string[] | null;
  /** The item must carry at least one of these tags; null: any item. */
  tags: readonly string[] | null;
  /** Longest event-time gap from the previous step's event; null: no per-step bound. */
  maxGapMs: number | null;
}

export interface PatternRule {
  id: string;
  description: string;
  steps: readonly PatternStep[];
  /** strict: the steps are consecutive events of the user; relaxed: other events may come between. */
  contiguity: Contiguity;
  /** Longest event-time span from the first step's event to the last's; null: only per-step gaps. */
  withinMs: number | null;
  tag: string;
  tagTtlMs: number;
  /** Reason text with `{count}`, `{category}` and `{span}` filled in from the match. */
  reason: string;
  /** The longest event-time span a match can have: how long a partial match is worth keeping. */
  spanMs: number;
}

/** An invalid patterns file: the message names the file, the rule and the field. */
export class PatternFileError extends Error {
  override name = 'PatternFileError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const RULE_ID = /^[a-z][a-z0-9_]{0,63}$/;
const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DAY_MS = UNIT_MS.d;
const MAX_STEPS = 10;
const MAX_RULES = 100;
/** Placeholders a reason may use; the stream worker fills them from the match. */
export const REASON_PLACEHOLDERS = ['count', 'category', 'span'] as const;

const RULE_FIELDS = ['id', 'description', 'steps', 'contiguity', 'within', 'tag', 'tagTtl', 'reason'];
const STEP_FIELDS = ['action', 'category', 'tags', 'maxGap'];

/** Parses `500ms`, `30s`, `5m`, `1h`, `2d` into milliseconds; null when the text is not a duration. */
export function parseDuration(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/**
 * Parses and validates a patterns file's text. `source` names the file in messages. Throws a
 * PatternFileError listing every problem found.
 */
export function parsePatternRules(text: string, source: string): PatternRule[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new PatternFileError([`${source}: not valid JSON (${(error as Error).message})`]);
  }
  if (!isRecord(doc) || !Array.isArray(doc.rules))
    throw new PatternFileError([`${source}: expected an object with a "rules" array`]);
  const problems: string[] = [];
  for (const key of Object.keys(doc))
    if (key !== 'rules' && key !== 'description')
      problems.push(`${source}: ${key}: unknown field (expected "rules" and an optional "description")`);
  if (doc.rules.length > MAX_RULES)
    problems.push(`${source}: rules: at most ${MAX_RULES} rules, got ${doc.rules.length}`);

  const rules: PatternRule[] = [];
  const seen = new Map<string, number>();
  doc.rules.forEach((raw: unknown, index: number) => {
    const label =
      isRecord(raw) && typeof raw.id === 'string' && RULE_ID.test(raw.id) ? `rule "${raw.id}"` : `rules[${index}]`;
    const problem = (field: string, message: string) => problems.push(`${source}: ${label}: ${field}: ${message}`);
    if (!isRecord(raw)) {
      problems.push(`${source}: ${label}: expected an object`);
      return;
    }
    const before = problems.length;
    for (const key of Object.keys(raw))
      if (!RULE_FIELDS.includes(key)) problem(key, `unknown field (expected one of ${RULE_FIELDS.join(', ')})`);

    const id = typeof raw.id === 'string' ? raw.id : '';
    if (!RULE_ID.test(id))
      problem(
        'id',
        `expected lowercase letters, digits and "_", starting with a letter, got ${JSON.stringify(raw.id)}`,
      );
    else if (seen.has(id)) problem('id', `duplicate id (also rules[${seen.get(id)}])`);
    else seen.set(id, index);

    const description = raw.description ?? '';
    if (typeof description !== 'string' || description.length > 500)
      problem('description', 'expected a string of at most 500 characters');

    const duration = (field: string, value: unknown, max: number): number | null => {
      const ms = parseDuration(value);
      if (ms === null) {
        problem(field, `bad duration ${JSON.stringify(value)} (expected a number and a unit: 500ms, 30s, 5m, 1h, 2d)`);
        return null;
      }
      if (ms <= 0 || ms > max) {
        problem(field, `${String(value)} is out of range (more than 0, at most ${max / DAY_MS}d)`);
        return null;
      }
      return ms;
    };

    const steps: PatternStep[] = [];
    if (!Array.isArray(raw.steps) || raw.steps.length === 0 || raw.steps.length > MAX_STEPS) {
      problem(
        'steps',
        `expected 1 to ${MAX_STEPS} steps, got ${Array.isArray(raw.steps) ? raw.steps.length : JSON.stringify(raw.steps)}`,
      );
    } else {
      raw.steps.forEach((s: unknown, i: number) => {
        const at = `steps[${i}]`;
        if (!isRecord(s)) {
          problem(at, 'expected an object');
          return;
        }
        for (const key of Object.keys(s))
          if (!STEP_FIELDS.includes(key))
            problem(`${at}.${key}`, `unknown field (expected one of ${STEP_FIELDS.join(', ')})`);
        const list = (field: string, check: (v: string) => string | null): string[] | null => {
          const value = s[field];
          if (value === undefined) return null;
          const values = typeof value === 'string' ? [value] : value;
          if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string')) {
            problem(`${at}.${field}`, 'expected a string or a non-empty list of strings');
            return null;
          }
          for (const v of values) {
            const bad = check(v);
            if (bad) problem(`${at}.${field}`, bad);
          }
          return [...new Set(values)];
        };
        const actions = list('action', (v) =>
          (ACTIONS as readonly string[]).includes(v)
            ? null
            : `unknown action ${JSON.stringify(v)} (expected one of ${ACTIONS.join(', ')})`,
        ) as Action[] | null;
        const categories = list('category', (v) =>
          ID_PATTERN.test(v) ? null : `${JSON.stringify(v)} is not a valid category id`,
        );
        const tags = list('tags', (v) => (ID_PATTERN.test(v) ? null : `${JSON.stringify(v)} is not a valid tag`));
        if (s.action === undefined && s.category === undefined && s.tags === undefined)
          problem(at, 'a step needs at least one of "action", "category" or "tags"');
        let maxGapMs: number | null = null;
        if (s.maxGap !== undefined) {
          if (i === 0) problem(`${at}.maxGap`, 'the first step has no previous step to be near');
          else maxGapMs = duration(`${at}.maxGap`, s.maxGap, DAY_MS);
        }
        steps.push({ actions, categories, tags, maxGapMs });
      });
    }

    const contiguity = raw.contiguity;
    if (contiguity !== 'strict' && contiguity !== 'relaxed')
      problem('contiguity', `expected "strict" or "relaxed", got ${JSON.stringify(contiguity)}`);
    const withinMs = raw.within === undefined ? null : duration('within', raw.within, DAY_MS);

    const tag = typeof raw.tag === 'string' ? raw.tag : '';
    if (!RULE_ID.test(tag))
      problem(
        'tag',
        `expected lowercase letters, digits and "_", starting with a letter, got ${JSON.stringify(raw.tag)}`,
      );
    const tagTtlMs = duration('tagTtl', raw.tagTtl, 30 * DAY_MS);

    const reason = raw.reason;
    if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 200)
      problem('reason', 'expected a non-empty string of at most 200 characters');
    else
      for (const [, name] of reason.matchAll(/\{([^}]*)\}/g))
        if (!(REASON_PLACEHOLDERS as readonly string[]).includes(name ?? ''))
          problem(
            'reason',
            `unknown placeholder {${name}} (expected ${REASON_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`,
          );

    if (problems.length > before || steps.length === 0) return;
    // Partial matches must be able to expire: bound the time from the first step to the last.
    const gaps = steps.slice(1).map((s) => s.maxGapMs);
    const gapSum = gaps.every((g) => g !== null) ? gaps.reduce<number>((a, g) => a + (g ?? 0), 0) : null;
    if (steps.length > 1 && withinMs === null && gapSum === null) {
      problem('within', 'a rule of several steps needs "within" or a "maxGap" on every step after the first');
      return;
    }
    const spanMs = Math.min(withinMs ?? Infinity, gapSum ?? Infinity, steps.length > 1 ? Infinity : 0);
    rules.push({
      id,
      description: description as string,
      steps,
      contiguity: contiguity as Contiguity,
      withinMs,
      tag,
      tagTtlMs: tagTtlMs as number,
      reason: reason as string,
      spanMs,
    });
  });
  if (problems.length) throw new PatternFileError(problems);
  return rules;
}

/** Reads and validates a patterns file (see parsePatternRules). */
export function loadPatternRules(file: string, source = file): PatternRule[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new PatternFileError([
      `${source}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    ]);
  }
  return parsePatternRules(text, source);
}

/** The longest span of any rule: how far back a user's events stay relevant to matching. */
export const patternHorizonMs = (rules: readonly PatternRule[]) => Math.max(0, ...rules.map((r) => r.spanMs));

/** Item tags that some rule looks at: only these travel with an event, so unused tags cost nothing. */
export function referencedTags(rules: readonly PatternRule[]): ReadonlySet<string> {
  return new Set(rules.flatMap((r) => r.steps.flatMap((s) => s.tags ?? [])));
}
