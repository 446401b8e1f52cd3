import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedis, runPipeline, SharedPipeline } from '../src/redis/client.js';
import { createLogger } from '../src/logger.js';
import { freePort } from '../src/stack/processes.js';
import { uniquePrefix } from './helpers.js';

const prefix = uniquePrefix('shared-pipeline');

/** Counts the pipelines `redis` sends (each is one round trip). */
function countingExecs(redis: Redis): { execs: number; commands: number[] } {
  const seen = { execs: 0, commands: [] as number[] };
  const pipeline = redis.pipeline.bind(redis);
  redis.pipeline = (...args: Parameters<Redis['pipeline']>) => {
    const p = pipeline(...args);
    const exec = p.exec.bind(p);
    p.exec = (...a: Parameters<typeof p.exec>) => {
      seen.execs++;
      seen.commands.push(p.length);
      return exec(...a);
    };
    return p;
  };
  return seen;
}

describe('a shared pipeline', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(inject('redisUrl'));
    await redis.set(`${prefix}:a`, 'A');
    await redis.set(`${prefix}:b`, 'B');
    await redis.hset(`${prefix}:h`, { x: '1' });
  });
  afterAll(() => redis.disconnect());

  it('sends the commands callers queue in one turn as one round trip, each caller getting its own replies', async () => {
    const shared = new SharedPipeline(redis);
    const seen = countingExecs(redis);
    const [first, second, third] = await Promise.all([
      runPipeline(shared, (p) => p.get(`${prefix}:a`).get(`${prefix}:missing`)),
      runPipeline(shared, (p) => p.hgetall(`${prefix}:h`)),
      runPipeline(shared, (p) => p.get(`${prefix}:b`).get(`${prefix}:a`).exists(`${prefix}:h`)),
    ]);
    expect(first).toEqual(['A', null]);
    expect(second).toEqual([{ x: '1' }]);
    expect(third).toEqual(['B', 'A', 1]);
    expect(seen).toEqual({ execs: 1, commands: [6] });

    // A later turn opens a batch of its own.
    expect(await runPipeline(shared, (p) => p.get(`${prefix}:b`))).toEqual(['B']);
    expect(seen.execs).toBe(2);
  });

  it('fails only the caller whose command failed; the others get their replies', async () => {
    const shared = new SharedPipeline(redis);
    const [bad, good] = await Promise.allSettled([
      runPipeline(shared, (p) => p.get(`${prefix}:a`).hgetall(`${prefix}:a`)),
      runPipeline(shared, (p) => p.get(`${prefix}:b`)),
    ]);
    expect(bad.status).toBe('rejected');
    expect(String((bad as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(good).toEqual({ status: 'fulfilled', value: ['B'] });
  });

  it('sends a batch at once when it reaches its bound, and opens the next', async () => {
    const shared = new SharedPipeline(redis, 4);
    const seen = countingExecs(redis);
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => runPipeline(shared, (p) => p.get(`${prefix}:a`).get(`${prefix}:b`))),
    );
    expect(replies).toEqual(Array.from({ length: 5 }, () => ['A', 'B']));
    expect(seen.commands).toEqual([4, 4, 2]);
  });

  it('fails every caller of a round trip that fails as a whole (Redis unreachable)', async () => {
    const down = createRedis(`redis://127.0.0.1:${await freePort()}`, createLogger('silent'));
    await down.connect().catch(() => {});
    const shared = new SharedPipeline(down);
    const results = await Promise.allSettled([
      runPipeline(shared, (p) => p.get('a')),
      runPipeline(shared, (p) => p.get('b')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    down.disconnect();
  });
});
