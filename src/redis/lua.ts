/**
 * How a Lua script in a `.lua` file becomes a typed call: the file is read once (with its
 * `-- @include` lines resolved), registered on a connection with ioredis `defineCommand`, and called
 * through one encoder of named keys and arguments and one decoder of the reply, so the script's
 * layout is written down in TypeScript once, next to nothing else. The scripts themselves are listed
 * in `scripts.ts`.
 *
 * Includes: a line that is exactly `-- @include <file>` is replaced by that file (a path relative to
 * the including file). Included files are fragments, not scripts, and include nothing themselves.
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
}

/** A script's reply was not what its header promises: the file and its decoder disagree. */
export class ScriptReplyError extends Error {
  override name = 'ScriptReplyError';
}

const SRC = new URL('../', import.meta.url);
const INCLUDE = /^-- @include (\S+)$/gm;
const HAS_INCLUDE = /^-- @include /m;

/** Reads `file` (relative to `src/`) and resolves its includes, one level deep. */
export function loadLua(file: string): { lua: string; includes: string[] } {
  const url = new URL(file, SRC);
  const includes: string[] = [];
  const lua = readFileSync(url, 'utf8').replace(INCLUDE, (_line, included: string) => {
    const fragmentUrl = new URL(included, url);
    const fragment = readFileSync(fragmentUrl, 'utf8');
    if (HAS_INCLUDE.test(fragment)) throw new Error(`${included}: an included file cannot include others`);
    includes.push(fragmentUrl.pathname.slice(SRC.pathname.length));
    return fragment;
  });
  return { lua, includes };
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
 * A script from its spec, registered under `name`. Keys are always counted per call (no fixed
 * `numberOfKeys`), so scripts with a varying number of keys and the others are called alike.
 */
export function defineScript<K, A, R>(name: string, spec: ScriptSpec<K, A, R>): Script<K, A, R> {
  const { lua, includes } = loadLua(spec.file);
  const encode = (keys: K, args: A): ScriptArg[] => {
    const k = spec.keys(keys);
    return [k.length, ...k, ...spec.argv(args)];
  };
  return {
    ...spec,
    name,
    lua,
    includes,
    async run(redis, keys, args) {
      defineOn(redis, name, lua);
      const method = commandOf(redis, name);
      if (!method) throw new Error(`script ${name} is not registered`);
      return spec.decode(await method.apply(redis, encode(keys, args)));
    },
    queue(pipeline, keys, args) {
      const method = commandOf(pipeline, name);
      if (!method)
        throw new Error(`script ${name} is not on this pipeline: register the scripts before creating the pipeline`);
      method.apply(pipeline, encode(keys, args));
      const index = pipeline.length - 1;
      // A multi's queue starts with MULTI and ends with EXEC, which its replies leave out.
      return (replies) => spec.decode(replies[index - (pipeline.length - replies.length) / 2]);
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
