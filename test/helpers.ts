import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, inject } from 'vitest';
import { createApp, type App } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/logger.js';

/** A unique, readable prefix for one test file's topics and Redis keys. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${randomBytes(3).toString('hex')}`;
}

/** The shared stack's config with this file's prefixes, plus overrides. */
export function testConfig(name: string, env: Record<string, string> = {}): Config {
  const prefix = uniquePrefix(name);
  return loadConfig({
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    KAFKA_BROKERS: inject('kafkaBrokers'),
    REDIS_URL: inject('redisUrl'),
    KAFKA_TOPIC_PREFIX: `${prefix}.`,
    REDIS_KEY_PREFIX: prefix,
    KAFKA_TOPIC_PARTITIONS: '3',
    AUTH_MODE: 'dev',
    ...env,
  });
}

/** Starts an API instance in this process; stop it in afterAll. */
export async function startApp(config: Config): Promise<App> {
  const app = createApp(config, { log: createLogger(config.logLevel) });
  await app.start();
  return app;
}

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: (string | number)[] }[];
}

/** POSTs one GraphQL operation and returns the HTTP status with the parsed body. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as Omit<GraphQLResponse<T>, 'status'>;
  return { status: res.status, ...body };
}

/** Polls until `probe` returns a truthy value; on timeout, fails with the last value seen. */
export async function eventually<T>(
  probe: () => Promise<T | undefined | null | false | 0 | ''>,
  { timeoutMs = 20_000, intervalMs = 50 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await probe();
      if (last) return last as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `condition not met within ${timeoutMs} ms; last seen: ${String(last instanceof Error ? last.message : JSON.stringify(last))}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const tempDirs: string[] = [];
// Registered while the test file is collected (it imports this module), so it runs after the file.
afterAll(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test file. */
export function tempDir(name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `feedrec-${name}-`));
  tempDirs.push(dir);
  return dir;
}
