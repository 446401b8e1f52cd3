/**
 * How a Lua script in a `.lua` file becomes a typed call: the file is read once (with its
 * `-- @include` lines resolved), registered on a connection with ioredis `defineCommand`, and called
 * through one encoder of named keys and arguments and one decoder of the reply, so the script's
 * layout is written down in TypeScript once, next to nothing else. The scripts themselves are listed
 * in `scripts.ts`.
 *
 * Includes: a line that is exactly `-- @include <file>` is replaced by that file (a path relative to
 * the including file). Included files are fragments, not scripts, and include nothing themselves.
 *
 * Grouped calls: a script whose spec names a `guard` (a fragment it includes that checks KEYS[1]
 * against ARGV[1], such as the stream's epoch fence) can also be sent as one call for many: calls
 * sharing their first key and first argument go out together (`queueGrouped`), the guard runs once,
 * then each call's body with its own KEYS and ARGV. Redis then runs one EVALSHA and one guard for the
 * group instead of one per call; on a Redis Cluster the first key (the guard's copy in the calls'
 * slot) keeps a group within one slot.
 */
import { readFileSync } from 'node:fs';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './client.js';

/** One ARGV item as ioredis sends it (numbers as their decimal text). */
export type ScriptArg = string | number | Buffer;

/** A pipeline or a multi, created from a connection the scripts are registered on. */
export type Pipeline = ChainableCommander;

/** What a script is, to TypeScript: its file and how its named keys, arguments and reply map to Redis. */
export interface ScriptSpec<K, A, R> {
  /** The script's file, relative to `src/` (e.g. `streams/lua/apply-user.lua`). */
  file: string;
  keys(keys: K): string[];
  argv(args: A): ScriptArg[];
  decode(reply: unknown): R;
  /**
   * The included fragment (as its `-- @include` line names it) that checks KEYS[1] against ARGV[1]
   * before any write: given, the script can also be sent grouped (see `queueGrouped`).
   */
  guard?: string;
}

export interface Script<K, A, R> extends ScriptSpec<K, A, R> {
  /** The command name it is registered under on a connection. */
  name: string;
  /** The source Redis runs, includes resolved. */
  lua: string;
  /** The fragments it includes, relative to `src/`. */
  includes: string[];
  /** Registers this script on the connection (if it is not yet), sends it and decodes the reply. */
  run(redis: RedisClient, keys: K, args: A): Promise<R>;
  /**
   * Queues the script on a pipeline or multi (its connection must be registered before the
   * pipeline was created) and returns the reader of its reply from the pipeline's replies.
   */
  queue(pipeline: Pipeline, keys: K, args: A): (replies: readonly unknown[]) => R;
  /**
   * The grouped form (scripts with a `guard` only): its name and source, which runs the guard once,
   * then the body of each call in the group.
   */
  grouped?: { name: string; lua: string };
  /**
   * Queues the calls as few script calls as their first keys and arguments allow (at most
   * `perGroup` calls each), in their order; returns each call's reply reader. A call's body runs
   * exactly as it would alone; an error in one aborts the rest of its group, as the script is one.
   */
  queueGrouped(
    pipeline: Pipeline,
    calls: readonly { keys: K; args: A }[],
    perGroup?: number,
  ): ((replies: readonly unknown[]) => R)[];
}

/** A script's reply was not what its header promises: the file and its decoder disagree. */
export class ScriptReplyError extends Error {
  override name = 'ScriptReplyError';
}

const SRC = new URL('../', import.meta.url);
const INCLUDE = /^-- @include (\S+)$/gm;
const HAS_INCLUDE = /^-- @include /m;

/**
 * Reads `file` (relative to `src/`) and resolves its includes, one level deep; the include of
 * `without` (as named in its line) is dropped instead. With `hoist`, the other includes are not
 * put in place but returned apart (`hoisted`), for a caller that places them before the body.
 */
export function loadLua(
  file: string,
  without?: string,
  hoist = false,
): { lua: string; includes: string[]; hoisted: string } {
  const url = new URL(file, SRC);
  const includes: string[] = [];
  const hoisted: string[] = [];
  const lua = readFileSync(url, 'utf8').replace(INCLUDE, (_line, included: string) => {
    if (included === without) return '';
    const fragmentUrl = new URL(included, url);
    const fragment = readFileSync(fragmentUrl, 'utf8');
    if (HAS_INCLUDE.test(fragment)) throw new Error(`${included}: an included file cannot include others`);
    includes.push(fragmentUrl.pathname.slice(SRC.pathname.length));
    if (!hoist) return fragment;
    hoisted.push(fragment);
    return '';
  });
  return { lua, includes, hoisted: hoisted.join('\n') };
}

/**
 * The grouped source of a script: its helper fragments, its body as a function of its own KEYS and
 * ARGV (the guard's include left out), the guard once on the group's KEYS[1] and ARGV[1], then
 * each call.
 * KEYS: the shared first key, then each call's other keys; ARGV: the shared first argument, the
 * number of calls, then per call: its key count and argument count (both without the shared
 * ones), its arguments. Returns the calls' replies in order (a call returning nothing: nil).
 */
function groupedLua(file: string, guard: string): string {
  // The other fragments (helper functions) are defined once for the group, not once per call: they
  // must not read KEYS or ARGV, which are the group's there.
  const { lua: body, hoisted } = loadLua(file, guard, true);
  if (/\b(KEYS|ARGV)\b/.test(hoisted.replace(/--.*$/gm, '')))
    throw new Error(`${file}: a fragment it includes reads KEYS or ARGV, so it cannot be sent grouped`);
  const fragment = readFileSync(new URL(guard, new URL(file, SRC)), 'utf8');
  return [
    `-- ${file}, grouped: the guard once, then each call's body with its own KEYS and ARGV.`,
    hoisted,
    'local function body(KEYS, ARGV)',
    body,
    'end',
    fragment,
    'local out, k, a = {}, 2, 3',
    'for u = 1, tonumber(ARGV[2]) do',
    '  local nk, na = tonumber(ARGV[a]), tonumber(ARGV[a + 1])',
    // One table constructor per call's keys and arguments: filled one by one, a table is resized at
    // every power of two (about a third of the wrapper's time on the stream's mix). unpack puts its
    // values on Lua's stack (at most 8,000): a call with more arguments is copied one by one.
    '  local keys = { KEYS[1], unpack(KEYS, k, k + nk - 1) }',
    '  local argv',
    '  if na <= 4000 then',
    '    argv = { ARGV[1], unpack(ARGV, a + 2, a + 1 + na) }',
    '  else',
    '    argv = { ARGV[1] }',
    '    for j = 1, na do argv[j + 1] = ARGV[a + 1 + j] end',
    '  end',
    '  local reply = body(keys, argv)',
    '  if reply == nil then reply = false end',
    '  out[u] = reply',
    '  k, a = k + nk, a + 2 + na',
    'end',
    'return out',
    '',
  ].join('\n');
}

type ScriptMethod = (...args: ScriptArg[]) => unknown;

/**
 * The method ioredis adds for a defined command, on a connection or on a pipeline made from one.
 * ioredis types neither (the names are only known at run time): this is the one place that looks.
 */
function commandOf(target: RedisClient | Pipeline, name: string): ScriptMethod | undefined {
  const method = (target as unknown as Record<string, ScriptMethod | undefined>)[name];
  return typeof method === 'function' ? method : undefined;
}

/** Defines the command on the connection unless it already is (the check makes it idempotent). */
export function defineOn(redis: RedisClient, name: string, lua: string): void {
  if (!commandOf(redis, name)) redis.defineCommand(name, { lua });
}

/**
 * Most arguments one grouped call collects from its calls (a call larger than this goes alone):
 * a command's arguments are passed to ioredis as a function's arguments, which the stack bounds.
 */
const GROUP_ARGS_MAX = 20_000;

/**
 * A script from its spec, registered under `name`. Keys are always counted per call (no fixed
 * `numberOfKeys`), so scripts with a varying number of keys and the others are called alike.
 */
export function defineScript<K, A, R>(name: string, spec: ScriptSpec<K, A, R>): Script<K, A, R> {
  const { lua, includes } = loadLua(spec.file);
  const encode = (keys: K, args: A): ScriptArg[] => {
    const k = spec.keys(keys);
    return [k.length, ...k, ...spec.argv(args)];
  };
  const grouped = spec.guard ? { name: `${name}Grouped`, lua: groupedLua(spec.file, spec.guard) } : undefined;
  /** Queues one command on the pipeline; returns its index among the pipeline's replies. */
  const send = (pipeline: Pipeline, command: string, encoded: ScriptArg[]) => {
    const method = commandOf(pipeline, command);
    if (!method)
      throw new Error(`script ${command} is not on this pipeline: register the scripts before creating the pipeline`);
    method.apply(pipeline, encoded);
    const index = pipeline.length - 1;
    // A multi's queue starts with MULTI and ends with EXEC, which its replies leave out.
    return (replies: readonly unknown[]) => replies[index - (pipeline.length - replies.length) / 2];
  };
  return {
    ...spec,
    name,
    lua,
    includes,
    grouped,
    async run(redis, keys, args) {
      defineOn(redis, name, lua);
      const method = commandOf(redis, name);
      if (!method) throw new Error(`script ${name} is not registered`);
      return spec.decode(await method.apply(redis, encode(keys, args)));
    },
    queue(pipeline, keys, args) {
      const reply = send(pipeline, name, encode(keys, args));
      return (replies) => spec.decode(reply(replies));
    },
    queueGrouped(pipeline, calls, perGroup = 64) {
      if (!grouped) throw new Error(`script ${name} has no guard: it cannot be sent grouped`);
      interface Group {
        keys: string[];
        argv: ScriptArg[];
        calls: number;
        reply?: (replies: readonly unknown[]) => unknown;
      }
      const open = new Map<string, Group>();
      const groups: Group[] = [];
      const readers = calls.map((call) => {
        const [first, ...keys] = spec.keys(call.keys);
        const [shared, ...argv] = spec.argv(call.args);
        if (first === undefined || shared === undefined)
          throw new Error(`script ${name}: a grouped call needs its guard's key and argument`);
        const id = `${first}\u0000${String(shared)}`;
        let group = open.get(id);
        if (!group || group.calls >= perGroup || group.argv.length + argv.length > GROUP_ARGS_MAX) {
          group = { keys: [first], argv: [shared, 0], calls: 0 };
          open.set(id, group);
          groups.push(group);
        }
        for (const k of keys) group.keys.push(k);
        group.argv.push(keys.length, argv.length);
        for (const a of argv) group.argv.push(a);
        const at = group.calls++;
        group.argv[1] = group.calls;
        const owner = group;
        return (replies: readonly unknown[]) => {
          const all = owner.reply?.(replies);
          if (!Array.isArray(all)) throw new ScriptReplyError(`${grouped.name}: expected a list of replies`);
          return spec.decode(all[at]);
        };
      });
      for (const g of groups) g.reply = send(pipeline, grouped.name, [g.keys.length, ...g.keys, ...g.argv]);
      return readers;
    },
  };
}

// Reply decoding: Lua numbers arrive as integers, strings as strings, tables as arrays.

export function int(value: unknown, what: string): number {
  if (typeof value !== 'number') throw new ScriptReplyError(`${what}: expected an integer, got ${String(value)}`);
  return value;
}

export function str(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new ScriptReplyError(`${what}: expected a string, got ${String(value)}`);
  return value;
}

export function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new ScriptReplyError(`${what}: expected a list, got ${String(value)}`);
  return value;
}

/** A JSON number or numeric string (cjson writes numbers, ARGV values stay strings). */
export function num(value: unknown, what: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || Number.isNaN(n)) throw new ScriptReplyError(`${what}: expected a number`);
  return n;
}

/** A planned call: the named keys and arguments a planner hands to `run` or `queue`. */
export interface ScriptCall<K, A> {
  keys: K;
  args: A;
}
