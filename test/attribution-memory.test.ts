import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { planImpressions, SHOWN_ITEMS_MAX, type AttributedImpression } from '../src/experiments/attribution.js';
import { redisKeys } from '../src/core/keys.js';
import { scripts } from '../src/redis/scripts.js';
import { uniquePrefix } from './helpers.js';

const keys = redisKeys(uniquePrefix('ab-memory'));

describe('experiment attribution memory', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(() => redis?.disconnect());

  it('a user shown thousands of distinct items keeps only the latest ones, and a click on one still counts', async () => {
    const settings = { keys, windowMs: 3_600_000 };
    const t0 = Date.now();
    let offset = 0;
    for (let feed = 0; feed < 100; feed++) {
      const impression: AttributedImpression = {
        offset: String(offset++),
        userId: 'heavy',
        servedAt: t0 + feed,
        experimentId: 'exp',
        arm: 'a',
        modelVersion: 'v1',
        itemIds: Array.from({ length: 50 }, (_, i) => `item-${feed}-${i}`),
      };
      for (const call of planImpressions([impression], 'imp:0', impression.offset, settings))
        await scripts.attribute.run(redis, call.keys, call.args);
    }
    const size = await redis.hlen(keys.abShown('heavy'));
    expect(size).toBeLessThanOrEqual(SHOWN_ITEMS_MAX);
    expect(size).toBeGreaterThan(SHOWN_ITEMS_MAX / 2);
    // The newest impression's items are all kept.
    const newest = await redis.hmget(keys.abShown('heavy'), ...Array.from({ length: 50 }, (_, i) => `item-99-${i}`));
    expect(newest.every((v) => v !== null)).toBe(true);
    expect(await redis.hget(keys.abShown('heavy'), 'item-0-0')).toBeNull();
  });
});
