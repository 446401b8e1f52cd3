/**
 * The item side of several partitions' batches applied as one step (the worker's item window):
 * one script call per item and trending scope, each partition's offsets guarded on their own, so
 * that a window sent again, or sent with one partition's batches replayed and another's new,
 * counts every event once.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { redisKeys } from '../src/core/keys.js';
import type { Action } from '../src/core/events.js';
import { createApplier } from '../src/streams/apply.js';
import type { Contribution, PositionedEvent } from '../src/streams/plan.js';
import { uniquePrefix } from './helpers.js';

const keys = redisKeys(uniquePrefix('item-window'));
const T = Date.now() - 60_000;

const events = (userId: string, from: number, list: [itemId: string, action: Action][]): PositionedEvent[] =>
  list.map(([itemId, action], i) => ({
    offset: String(from + i),
    event: {
      v: 1,
      eventId: `${userId}-${from + i}`,
      userId,
      itemId,
      action,
      occurredAt: T + (from + i) * 1000,
      receivedAt: T + (from + i) * 1000,
    },
  }));

describe('the item step over several partitions at once', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(inject('redisUrl'));
    for (const id of ['pet-1', 'pet-2', 'pet-3']) await redis.hset(keys.item(id), { category: 'pets' });
  });
  afterAll(() => {
    redis.disconnect();
  });

  it('counts each partition past its own offset, once, however often the window is sent', async () => {
    const applier = createApplier({ redis, keys, epochKey: keys.streamEpoch('g'), allowedLatenessMs: 120_000 });
    await applier.adoptEpoch();
    const progress = keys.streamOffsets('g', 'behavior');
    const userSide = async (batch: PositionedEvent[], partition: number) =>
      (await applier.applyUserSide(batch, partition)).contributions;

    // Partition 0: user a likes pet-1 then pet-2; partition 1: user b likes pet-1 then pet-3.
    const a: Contribution[] = await userSide(
      events('a', 0, [
        ['pet-1', 'LIKE'],
        ['pet-2', 'LIKE'],
      ]),
      0,
    );
    const b: Contribution[] = await userSide(
      events('b', 0, [
        ['pet-1', 'LIKE'],
        ['pet-3', 'LIKE'],
      ]),
      1,
    );
    const window = [
      { partition: 0, contributions: a },
      { partition: 1, contributions: b },
    ];
    const offsets = new Map([
      [0, '1'],
      [1, '1'],
    ]);
    const stats = () => redis.hgetall(keys.itemStats('pet-1'));
    const covisit = async (id: string) =>
      Object.fromEntries(
        (await redis.zrange(keys.itemCovisit(id), 0, -1, 'WITHSCORES')).flatMap((v, i, all) =>
          i % 2 ? [] : [[v, Number(all[i + 1])]],
        ),
      );

    await applier.itemStep(window, { key: progress, offsets });
    expect((await stats())['n:LIKE']).toBe('2');
    expect(await covisit('pet-1')).toEqual({ 'pet-2': 1, 'pet-3': 1 });
    expect(await redis.hgetall(progress)).toEqual({ '0': '1', '1': '1' });
    const firstStats = await stats();
    const trendingState = await redis.hgetall(keys.trendingState('pets'));
    expect(trendingState).toMatchObject({ 'off:0': '1', 'off:1': '1' });

    // The same window again (a crash before the commit): nothing moves.
    await applier.itemStep(window, { key: progress, offsets });
    expect(await stats()).toEqual(firstStats);
    expect(await covisit('pet-1')).toEqual({ 'pet-2': 1, 'pet-3': 1 });
    expect(await redis.hgetall(keys.trendingState('pets'))).toEqual(trendingState);

    // Partition 0 replayed, partition 1 with a new batch: only the new one counts.
    const b2 = await userSide(events('b', 2, [['pet-1', 'SHARE']]), 1);
    await applier.itemStep(
      [
        { partition: 0, contributions: a },
        { partition: 1, contributions: b2 },
      ],
      {
        key: progress,
        offsets: new Map([
          [0, '1'],
          [1, '2'],
        ]),
      },
    );
    const after = await stats();
    expect(after['n:LIKE']).toBe('2');
    expect(after['n:SHARE']).toBe('1');
    expect(after['off:0']).toBe('1');
    expect(after['off:1']).toBe('2');
    // b's share of pet-1 finds b's earlier likes (pet-3 newest, then pet-1 itself left out).
    expect((await covisit('pet-1'))['pet-3']).toBe(2);
    expect(await redis.hgetall(progress)).toEqual({ '0': '1', '1': '2' });
  });

  it("applies a window's thousands of events on one item, in as many calls as that takes", async () => {
    await redis.hset(keys.item('hot'), { category: 'pets' });
    const applier = createApplier({ redis, keys, epochKey: keys.streamEpoch('g2'), allowedLatenessMs: 120_000 });
    await applier.adoptEpoch();
    const window = [];
    for (const partition of [0, 1]) {
      const batch: PositionedEvent[] = Array.from({ length: 1500 }, (_, i) => ({
        offset: String(i),
        event: {
          v: 1,
          eventId: `hot-${partition}-${i}`,
          userId: `hot-user-${partition}-${i % 300}`,
          itemId: 'hot',
          action: 'VIEW',
          occurredAt: T + i,
          receivedAt: T + i,
        },
      }));
      window.push({ partition, contributions: (await applier.applyUserSide(batch, partition)).contributions });
    }
    await applier.itemStep(window);
    const stats = await redis.hgetall(keys.itemStats('hot'));
    expect([stats['n:VIEW'], stats['off:0'], stats['off:1']]).toEqual(['3000', '1499', '1499']);
  });
});
