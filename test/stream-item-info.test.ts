/**
 * What the stream step knows about the items of a batch: the catalogue's category and tags, read
 * once and used again for a while, so that a worker does not read the same items batch after batch.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { redisKeys } from '../src/core/keys.js';
import { createApplier } from '../src/streams/apply.js';
import type { PositionedEvent } from '../src/streams/plan.js';
import { uniquePrefix } from './helpers.js';

const keys = redisKeys(uniquePrefix('item-info'));

const batch = (...itemIds: string[]): PositionedEvent[] =>
  itemIds.map((itemId, i) => ({
    offset: String(i),
    event: { v: 1, eventId: `e${i}`, userId: 'u', itemId, action: 'CLICK', occurredAt: 1, receivedAt: 1 },
  }));

describe('the item categories and tags of a batch', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(() => {
    redis.disconnect();
  });

  const applierWith = (itemInfoTtlMs?: number) =>
    createApplier({ redis, keys, epochKey: keys.streamEpoch('g'), allowedLatenessMs: 60_000, itemInfoTtlMs });

  it('are read once and used again within the TTL; forgetting an item reads it again', async () => {
    await redis.hset(keys.item('a'), { category: 'pets', tags: 'cute,small' });
    const applier = applierWith();
    expect(await applier.readItems(batch('a', 'a'))).toEqual(
      new Map([['a', { category: 'pets', tags: ['cute', 'small'] }]]),
    );
    await redis.hset(keys.item('a'), { category: 'cars', tags: '' });
    expect((await applier.readItems(batch('a'))).get('a')?.category).toBe('pets');
    applier.forgetItems(['a']);
    expect((await applier.readItems(batch('a'))).get('a')).toEqual({ category: 'cars', tags: [] });
    await redis.hset(keys.item('a'), { category: 'food' });
    applier.forgetItems();
    expect((await applier.readItems(batch('a'))).get('a')?.category).toBe('food');
  });

  it('of an item not in the catalogue yet are not remembered: its category counts from the next batch', async () => {
    const applier = applierWith();
    expect((await applier.readItems(batch('late'))).get('late')).toEqual({ category: null, tags: [] });
    await redis.hset(keys.item('late'), { category: 'music', tags: '' });
    expect((await applier.readItems(batch('late'))).get('late')?.category).toBe('music');
  });

  it('are read every batch with a TTL of 0', async () => {
    await redis.hset(keys.item('b'), { category: 'pets', tags: '' });
    const applier = applierWith(0);
    await applier.readItems(batch('b'));
    await redis.hset(keys.item('b'), { category: 'cars' });
    expect((await applier.readItems(batch('b'))).get('b')?.category).toBe('cars');
  });
});
