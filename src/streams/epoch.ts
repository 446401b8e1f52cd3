/**
 * The stream epoch: a value Redis must keep for the stream's state to be whole. Every script that
 * writes offset-guarded state checks it first (lua/fence.lua) and refuses when Redis no longer holds
 * the epoch the worker adopted, so a batch in flight when Redis lost its data cannot write offset
 * guards into the emptied Redis (the rebuild from the log relies on their absence).
 *
 * On one Redis the epoch is one key. On a Redis Cluster a script may only touch keys of its own
 * slot, so every slot holds a copy (`<key>:{<tag>}`, 16,384 small keys), and a call checks the copy
 * in the slot of the keys it writes: a master that comes back empty loses exactly its slots'
 * copies. Epochs there are `<generation>:<id>`; when the copies disagree (some were lost) a worker
 * raises every copy to a newer generation, and every worker, finding its epoch gone, rebuilds.
 */
import { randomUUID } from 'node:crypto';
import { execPipeline, isCluster, pipelineOf, type RedisClient } from '../redis/client.js';
import { registerScripts, scripts } from '../redis/scripts.js';
import { besideKey, inSlot, SLOTS } from '../redis/slots.js';

/** The stream epoch fence a planned call carries: where the epoch is and the epoch the worker holds. */
export interface EpochFence {
  key: string;
  epoch: string;
  /** On a Redis Cluster: each slot has its own copy of the epoch (see fenceKey). */
  perSlot?: boolean;
}

/** The copy of the epoch a script writing `key` (and keys of its slot) checks. */
export const fenceKey = (fence: EpochFence, key: string): string =>
  fence.perSlot ? besideKey(fence.key, key) : fence.key;

/** Every `step`-th slot: enough to notice a master that lost its data (each holds thousands of slots). */
const SAMPLE_STEP = 64;

export function createEpochStore(redis: RedisClient, key: string) {
  const perSlot = isCluster(redis);

  async function readCopies(slots: readonly number[]): Promise<(string | null)[]> {
    const read = pipelineOf(redis);
    for (const slot of slots) read.get(inSlot(key, slot));
    return (await execPipeline(read)) as (string | null)[];
  }

  const allSlots = Array.from({ length: SLOTS }, (_, i) => i);
  const sample = allSlots.filter((slot) => slot % SAMPLE_STEP === 0);
  const generation = (epoch: string | null) => Number(/^(\d+):/.exec(epoch ?? '')?.[1] ?? 0);

  /** The epoch every slot holds, after raising the slots to a common, newer one if they disagree. */
  async function adoptClustered(): Promise<string> {
    registerScripts(redis);
    for (let attempt = 0; attempt < 10; attempt++) {
      const copies = await readCopies(allSlots);
      const first = copies[0];
      if (first && copies.every((c) => c === first)) return first;
      // None yet (a new group), or some slots lost theirs: a newer epoch, everywhere.
      const next = `${Math.max(0, ...copies.map(generation)) + 1}:${randomUUID()}`;
      const raise = pipelineOf(redis);
      for (const slot of allSlots) scripts.raiseEpoch.queue(raise, { epoch: inSlot(key, slot) }, { epoch: next });
      await execPipeline(raise);
    }
    throw new Error('the stream epoch copies on the Redis Cluster did not settle; try again');
  }

  return {
    perSlot,
    /** Redis' epoch, written first by whichever worker finds none; later writes are fenced by it. */
    async adopt(): Promise<string> {
      if (perSlot) return adoptClustered();
      await redis.set(key, randomUUID(), 'NX');
      // Gone again between the two calls (another flush): the next fenced write refuses, and the
      // caller adopts anew.
      return (await redis.get(key)) ?? randomUUID();
    },
    /** True when Redis no longer holds `epoch` (its data was lost since it was adopted). */
    async lost(epoch: string): Promise<boolean> {
      if (!perSlot) return (await redis.get(key)) !== epoch;
      return (await readCopies(sample)).some((copy) => copy !== epoch);
    },
  };
}
