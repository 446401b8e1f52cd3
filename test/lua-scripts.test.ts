import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execPipeline, isDeterministicRedisError, isEpochLost } from '../src/redis/client.js';
import { registerScripts, scripts } from '../src/redis/scripts.js';
import { uniquePrefix } from './helpers.js';
import { copyKeys, sampleFence, samples } from './lua-samples.js';
import type { ScriptName } from '../src/redis/scripts.js';

const prefix = uniquePrefix('lua');

describe('every Redis Lua script', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(() => {
    redis.disconnect();
  });

  it('is accepted by Redis (SCRIPT LOAD compiles it)', async () => {
    for (const s of Object.values(scripts)) expect(await redis.script('LOAD', s.lua), s.file).toMatch(/^[0-9a-f]{40}$/);
  });

  for (const [name, sample] of Object.entries(samples(`${prefix}:run`))) {
    it(`${name} answers a small valid call with the reply its header states`, async () => {
      await sample.setup(redis);
      await sample.run(redis);
    });
  }

  it('can be queued on a pipeline, each reply read back as its own', async () => {
    const connection = new Redis(inject('redisUrl'));
    try {
      registerScripts(connection);
      registerScripts(connection); // registering again changes nothing
      const all = Object.values(samples(`${prefix}:pipeline`));
      for (const sample of all) await sample.setup(connection);
      const pipeline = connection.pipeline();
      pipeline.ping();
      const checks = all.map((sample) => sample.queue(pipeline));
      const replies = await execPipeline(pipeline);
      expect(replies[0]).toBe('PONG');
      for (const check of checks) check(replies);
    } finally {
      connection.disconnect();
    }
  });

  it('can be queued in a multi, whose replies leave out MULTI and EXEC', async () => {
    registerScripts(redis);
    const { applyProfile, replaceHash } = samples(`${prefix}:multi`);
    const multi = redis.multi();
    const checks = [applyProfile.queue(multi), replaceHash.queue(multi)];
    const replies = await execPipeline(multi);
    expect(replies).toHaveLength(2);
    for (const check of checks) check(replies);
  });

  it('is not found on a pipeline made before the connection registered it, and says so', () => {
    const connection = new Redis(inject('redisUrl'), { lazyConnect: true });
    const { applyProfile } = samples(`${prefix}:early`);
    expect(() => applyProfile.queue(connection.pipeline())).toThrow(/register the scripts/);
    connection.disconnect();
  });
});

describe('a guarded script sent grouped', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
    registerScripts(redis);
  });
  afterAll(() => {
    redis.disconnect();
  });

  const grouped = Object.entries(scripts).filter(([, s]) => s.grouped);

  it('is every offset-guarded stream script', () => {
    expect(grouped.map(([name]) => name).sort()).toEqual(['applyItem', 'applyTrending', 'applyUser', 'matchPatterns']);
  });

  for (const [name] of grouped) {
    it(`${name}: five calls on keys of their own, in groups of two, each get the reply they get alone`, async () => {
      const sample = samples(`${prefix}:grouped`)[name as ScriptName];
      await sample.setup(redis);
      const pipeline = redis.pipeline();
      const check = sample.queueGrouped(pipeline, 5, 2);
      const replies = await execPipeline(pipeline);
      // Three script calls: two, two and one.
      expect(replies).toHaveLength(3);
      check(replies);
    });

    it(`${name}: the guard refuses the whole group with EPOCH and nothing is written`, async () => {
      const at = `${prefix}:grouped-fence:${name}`;
      const sample = samples(at)[name as ScriptName];
      const pipeline = redis.pipeline();
      sample.queueGrouped(pipeline, 3, 8);
      const error = await execPipeline(pipeline).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isEpochLost(error), String(error)).toBe(true);
      expect(await redis.keys(`${at}:*`)).toEqual([]);
    });
  }

  it('passes a call with more arguments than Lua can unpack at once whole, beside small ones', async () => {
    const at = `${prefix}:grouped-large`;
    const { applyUser } = samples(at);
    await applyUser.setup(redis);
    type Keys = Parameters<typeof scripts.applyUser.queue>[1];
    type Args = Parameters<typeof scripts.applyUser.queue>[2];
    const args = applyUser.args as Args;
    const sample = args.events[0]!;
    // 700 events of about 13 arguments each: more than the 8,000 values unpack can put on the stack.
    const events = Array.from({ length: 700 }, (_, i) => ({
      ...sample,
      offset: String(100 + i),
      eventId: `big${i}`,
      itemId: `i${i}`,
    }));
    const large = { ...args, events };
    const call = (copy: number, a: Args) => ({ keys: copyKeys(applyUser.keys as Keys, copy), args: a });
    const grouped = redis.pipeline();
    const readers = scripts.applyUser.queueGrouped(grouped, [call(1, args), call(2, large), call(3, args)], 8);
    const groupedReplies = await execPipeline(grouped);
    expect(groupedReplies).toHaveLength(1);
    const alone = redis.pipeline();
    const aloneReaders = [call(4, args), call(5, large), call(6, args)].map((c) =>
      scripts.applyUser.queue(alone, c.keys, c.args),
    );
    const aloneReplies = await execPipeline(alone);
    const got = readers.map((read) => read(groupedReplies));
    expect(got).toEqual(aloneReaders.map((read) => read(aloneReplies)));
    expect(got[1]?.counted).toBe(700);
    expect(got[0]?.counted).toBe(1);
  });

  it('cannot be asked of a script without a guard', () => {
    const { applyProfile } = samples(`${prefix}:unguarded`);
    expect(() => applyProfile.queueGrouped(redis.pipeline(), 2, 2)).toThrow(/no guard/);
  });
});

describe('the stream epoch fence', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(() => {
    redis.disconnect();
  });

  const fenced = ['applyUser', 'applyItem', 'applyTrending', 'matchPatterns'] as const;

  for (const name of fenced) {
    it(`${name} refuses with EPOCH and writes nothing when Redis holds no epoch or another one`, async () => {
      for (const [label, held] of [
        ['none', null],
        ['another', 'a-newer-epoch'],
      ] as const) {
        const at = `${prefix}:fence:${name}:${label}`;
        const sample = samples(at)[name];
        const fence = sampleFence(at);
        if (held !== null) await redis.set(fence.key, held);
        const error = await sample.run(redis).then(
          () => null,
          (e: unknown) => e,
        );
        expect(isEpochLost(error), String(error)).toBe(true);
        expect(isDeterministicRedisError(error)).toBe(false);
        // Nothing under the sample's hash tag was written: only the epoch key itself may exist.
        const written = await redis.keys(`${at}:*`);
        expect(written).toEqual(held === null ? [] : [fence.key]);
      }
    });
  }
});
