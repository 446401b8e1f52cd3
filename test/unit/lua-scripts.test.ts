import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scripts } from '../../src/redis/scripts.js';
import { samples } from '../lua-samples.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function luaFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return luaFiles(full);
    return entry.name.endsWith('.lua') ? [path.relative(SRC, full)] : [];
  });
}

/**
 * The names a header gives the fixed part of `-- KEYS:` or `-- ARGV:`: the comma-separated items
 * (first word of each) before the first `then`. Continuation lines are indented comment lines.
 */
function fixedNames(source: string, label: 'KEYS' | 'ARGV'): string[] {
  const lines = source.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`-- ${label}:`));
  if (start < 0) throw new Error(`no ${label} line`);
  const block = [lines[start] ?? ''];
  for (const line of lines.slice(start + 1)) {
    if (!/^--\s{2,}\S/.test(line)) break;
    block.push(line.slice(2));
  }
  const fixed =
    block
      .join(' ')
      .slice(`-- ${label}:`.length)
      .split(/\bthen\b/)[0] ?? '';
  return fixed
    .split(',')
    .map((item) => /^\s*([A-Za-z][A-Za-z0-9]*)/.exec(item)?.[1])
    .filter((name): name is string => name !== undefined);
}

const isScalar = (v: unknown) => typeof v === 'string' || typeof v === 'number' || Buffer.isBuffer(v);

describe('Lua scripts and their TypeScript layout', () => {
  const registered = Object.values(scripts);

  it('every .lua file under src is a registered script or included by one, and every script has its file', () => {
    const files = luaFiles(SRC).sort();
    const used = new Set(registered.flatMap((s) => [s.file, ...s.includes]));
    expect(files).toEqual([...used].sort());
    for (const s of registered) expect(files).toContain(s.file);
  });

  it('every script is registered under the name it is listed by', () => {
    for (const [name, s] of Object.entries(scripts)) expect(s.name).toBe(name);
  });

  for (const [name, sample] of Object.entries(samples('unit'))) {
    const source = readFileSync(path.join(SRC, sample.script.file), 'utf8');

    it(`${sample.script.file}: the encoders put the header's fixed KEYS and ARGV first, in its order`, () => {
      expect(sample.script.name).toBe(name);
      const { keys, argv } = sample.encoded();
      for (const [label, encoded, named] of [
        ['KEYS', keys, sample.keys],
        ['ARGV', argv, sample.args],
      ] as const) {
        const names = fixedNames(source, label);
        expect(names.length, `${label} names`).toBeGreaterThan(0);
        names.forEach((field, i) => {
          const value: unknown = Reflect.get(named, field);
          if (value === undefined) expect(field, `${label} ${field} is a field or a count`).toMatch(/Count$/);
          else if (isScalar(value)) expect(encoded[i], `${label} ${field}`).toEqual(value);
        });
      }
      const fixed = sample.encoded(true);
      expect(fixed.keys).toHaveLength(fixedNames(source, 'KEYS').length);
      expect(fixed.argv).toHaveLength(fixedNames(source, 'ARGV').length);
    });
  }

  it('an include line is replaced by the shared file, once per script that uses it', () => {
    expect(scripts.applyUser.includes).toEqual(['streams/lua/fence.lua', 'streams/lua/common.lua']);
    expect(scripts.matchPatterns.includes).toEqual(['streams/lua/fence.lua']);
    expect(scripts.applyProfile.includes).toEqual([]);
    expect(scripts.applyUser.lua).toContain('local function inChunks(');
    expect(scripts.applyUser.lua).not.toMatch(/^-- @include /m);
  });

  it('a grouped script runs its guard once, outside the body each call runs', () => {
    const fence = readFileSync(path.join(SRC, 'streams/lua/fence.lua'), 'utf8');
    for (const s of [scripts.applyUser, scripts.applyItem, scripts.applyTrending, scripts.matchPatterns]) {
      const grouped = s.grouped?.lua ?? '';
      expect(grouped.split(fence).length - 1, s.name).toBe(1);
      expect(grouped.indexOf(fence), s.name).toBeGreaterThan(grouped.indexOf('local function body(KEYS, ARGV)'));
      expect(grouped).not.toMatch(/^-- @include /m);
      expect(s.lua.split(fence).length - 1, s.name).toBe(1);
    }
    // Helper fragments are defined once for the group, before the body, not once per call.
    const grouped = scripts.applyItem.grouped?.lua ?? '';
    expect(grouped.split('local function addScores(').length - 1).toBe(1);
    expect(grouped.indexOf('local function addScores(')).toBeLessThan(grouped.indexOf('local function body('));
  });
});
