import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../src/stack/processes.js';
import { eventually } from './helpers.js';

/** `npm start` as a user runs it: a child process with no KAFKA_BROKERS / REDIS_URL. */
function startMain(env: Record<string, string> = {}) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env };
  delete childEnv.KAFKA_BROKERS;
  delete childEnv.REDIS_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      /* not a log line */
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const find = (msg: RegExp) => lines.find((l) => typeof l.msg === 'string' && msg.test(l.msg));
  return { child, lines, exited, find, stderr: () => stderr };
}

const processesMentioning = (text: string) =>
  execFileSync('ps', ['-ww', '-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(text) && !line.includes('ps -eo'));

async function readyMain(main: ReturnType<typeof startMain>) {
  const ready = await eventually(
    async () => {
      if (main.child.exitCode !== null) throw new Error(`exited early: ${main.stderr()}`);
      return main.find(/^feedrec ready/);
    },
    { timeoutMs: 100_000, intervalMs: 100 },
  );
  const stack = main.find(/^local stack ready/) as { dir: string; pids: number[] } | undefined;
  expect(stack?.dir).toBeTruthy();
  expect(stack?.pids).toHaveLength(2);
  return { url: String(ready.url), dir: stack!.dir, pids: stack!.pids };
}

describe('npm start on a machine with no Kafka or Redis configured', () => {
  it('starts a local stack, prints the GraphiQL URL, and leaves no process behind on SIGINT', async () => {
    const main = startMain();
    const { url, dir, pids } = await readyMain(main);
    expect(processesMentioning(dir).some((l) => l.includes('kafka.Kafka'))).toBe(true);
    expect(pids.every(isAlive)).toBe(true);

    const ready = await fetch(url.replace(/\/graphql$/, '/readyz'));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ dependencies: { kafka: 'up', redis: 'up' } });

    main.child.kill('SIGINT');
    expect(await main.exited).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(processesMentioning(dir)).toEqual([]);
  });

  it('leaves no Kafka or Redis process behind when it is killed with SIGKILL', async () => {
    const main = startMain();
    const { dir, pids } = await readyMain(main);
    expect(pids.every(isAlive)).toBe(true);
    main.child.kill('SIGKILL');
    await main.exited;
    await eventually(async () => pids.every((pid) => !isAlive(pid)) && processesMentioning(dir).length === 0, {
      timeoutMs: 10_000,
    });
  });

  it('refuses to start without authentication on a non-loopback address, before starting anything', async () => {
    const main = startMain({ HOST: '0.0.0.0', AUTH_MODE: 'auto', JWT_SECRET: '', JWKS_URL: '' });
    const deadline = setTimeout(() => main.child.kill('SIGKILL'), 20_000);
    const code = await main.exited;
    clearTimeout(deadline);
    expect(code).toBe(2);
    expect(main.stderr()).toMatch(/^feedrec: set JWT_SECRET or JWKS_URL to serve on 0\.0\.0\.0 [^\n]*\n$/);
    expect(main.find(/local stack/)).toBeUndefined();
  });

  it('stops at start-up with a message naming an invalid variable', async () => {
    const main = startMain({ PORT: 'abc' });
    expect(await main.exited).toBe(2);
    expect(main.stderr()).toMatch(/PORT: expected an integer from 0 to 65535, got "abc"/);
  });
});
