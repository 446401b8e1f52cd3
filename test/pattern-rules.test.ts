import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './helpers.js';
import { describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { activeTags, tagReasonText, type UserTag } from '../src/features/definitions.js';
import { parseDuration, parsePatternRules, PatternFileError } from '../src/patterns/rules.js';

const rule = (overrides: Record<string, unknown> = {}) => ({
  id: 'pet_lover',
  steps: [
    { action: ['CLICK'], category: ['pets'] },
    { action: ['CLICK'], category: ['pets'] },
  ],
  contiguity: 'strict',
  within: '1m',
  tag: 'pet_lover',
  tagTtl: '1h',
  reason: '{count} pet videos in a row',
  ...overrides,
});
const problems = (rules: unknown[]) => {
  try {
    parsePatternRules(JSON.stringify({ rules }), 'patterns.json');
  } catch (error) {
    if (error instanceof PatternFileError) return error.problems;
    throw error;
  }
  return [];
};

describe('the patterns file', () => {
  it('ships rules that load: pet lover, active commenter and more', () => {
    const config = loadConfig({});
    const ids = config.patterns.rules.map((r) => r.id);
    expect(ids).toEqual(expect.arrayContaining(['pet_lover', 'active_commenter']));
    expect(ids.length).toBeGreaterThanOrEqual(3);
    const pet = config.patterns.rules.find((r) => r.id === 'pet_lover');
    expect(pet).toMatchObject({ contiguity: 'strict', withinMs: 60_000, tag: 'pet_lover', tagTtlMs: 3_600_000 });
    expect(pet?.steps).toHaveLength(3);
  });

  it('names the rule and the field of every mistake', () => {
    const steps = [{ action: 'CLICK' }, { action: ['CLCK'] }];
    expect(problems([rule({ steps })])).toEqual([
      'patterns.json: rule "pet_lover": steps[1].action: unknown action "CLCK" (expected one of VIEW, CLICK, LIKE, COMMENT, SHARE, SKIP, HIDE)',
    ]);
    expect(problems([rule(), rule()])).toEqual(['patterns.json: rule "pet_lover": id: duplicate id (also rules[0])']);
    expect(problems([rule({ steps: [] })])).toEqual([
      'patterns.json: rule "pet_lover": steps: expected 1 to 10 steps, got 0',
    ]);
    expect(problems([rule({ within: '1 minute' })])).toEqual([
      'patterns.json: rule "pet_lover": within: bad duration "1 minute" (expected a number and a unit: 500ms, 30s, 5m, 1h, 2d)',
    ]);
    expect(problems([rule({ tagTtl: '0s' })])[0]).toMatch(/rule "pet_lover": tagTtl: 0s is out of range/);
    expect(problems([rule({ witin: '1m' })])[0]).toMatch(/rule "pet_lover": witin: unknown field/);
    expect(problems([rule({ contiguity: 'loose' })])[0]).toMatch(
      /rule "pet_lover": contiguity: expected "strict" or "relaxed"/,
    );
    expect(problems([rule({ reason: '{n} videos' })])[0]).toMatch(/reason: unknown placeholder \{n\}/);
    expect(problems([rule({ steps: [{}] })])[0]).toMatch(/steps\[0\]: a step needs at least one of/);
    expect(problems([rule({ steps: [{ action: 'CLICK', maxGap: '5s' }] })])[0]).toMatch(
      /steps\[0\]\.maxGap: the first step has no previous step/,
    );
    // Without a time bound, partial matches could never expire.
    expect(problems([rule({ within: undefined })])[0]).toMatch(/within: a rule of several steps needs "within"/);
    // A rule without a usable id is named by its position.
    expect(problems([rule(), rule({ id: 'Bad Id' })])[0]).toMatch(
      /^patterns\.json: rules\[1\]: id: expected lowercase/,
    );
    expect(() => parsePatternRules('{ "rules": [', 'x.json')).toThrow(/^x\.json: not valid JSON/);
  });

  it('accepts per-step gaps instead of "within", and bounds partial matches by the shorter', () => {
    const [gaps] = parsePatternRules(
      JSON.stringify({
        rules: [rule({ within: undefined, steps: [{ action: 'SKIP' }, { action: 'SKIP', maxGap: '20s' }] })],
      }),
      'p.json',
    );
    expect(gaps?.spanMs).toBe(20_000);
    const [both] = parsePatternRules(
      JSON.stringify({
        rules: [rule({ within: '10s', steps: [{ action: 'SKIP' }, { action: 'SKIP', maxGap: '20s' }] })],
      }),
      'p.json',
    );
    expect(both?.spanMs).toBe(10_000);
    expect([parseDuration('500ms'), parseDuration('2d'), parseDuration('5 m'), parseDuration(5)]).toEqual([
      500,
      172_800_000,
      null,
      null,
    ]);
  });

  it('gives ranking the tags that hold, and the words to explain one', () => {
    const tag = (name: string, until: number): UserTag => ({
      tag: name,
      since: 0,
      until,
      rule: name,
      reason: '3 pet videos in a row',
      eventIds: [],
    });
    const user = { tags: [tag('sharer', 2000), tag('pet_lover', 1500), tag('skipping', 900)] };
    expect(activeTags(user, 1000).map((t) => t.tag)).toEqual(['pet_lover', 'sharer']);
    expect(tagReasonText(tag('pet_lover', 1))).toBe('tagged pet lover: 3 pet videos in a row');
  });

  it('stops start-up with exit code 2 and the rule named, before connecting to anything', async () => {
    const dir = tempDir('patterns');
    const file = path.join(dir, 'bad-patterns.json');
    const shipped = JSON.parse(readFileSync('patterns.json', 'utf8')) as { rules: { steps: { action: string[] }[] }[] };
    shipped.rules[0]!.steps[1]!.action = ['CLCK'];
    writeFileSync(file, JSON.stringify(shipped));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env,
        PORT: '0',
        LOG_LEVEL: 'info',
        KAFKA_BROKERS: inject('kafkaBrokers'),
        REDIS_URL: inject('redisUrl'),
        PATTERNS_FILE: file,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toContain(`PATTERNS_FILE: ${file}: rule "pet_lover": steps[1].action: unknown action "CLCK"`);
    // Nothing was started: no log line at all (the first would be the API or Kafka connecting).
    expect(stdout).toBe('');
  });
});
