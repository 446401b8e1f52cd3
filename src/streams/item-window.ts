/**
 * The item side of the stream, a short window at a time. A batch's user side (its users' features
 * and patterns) is applied at once; what its counted events add to items, co-visitation and
 * trending waits here with the other batches' of the last few hundred milliseconds, across the
 * partitions a worker holds, and goes out as one item step: one script call per item and per
 * trending scope for the whole window instead of one per batch. An item that a live rate's small
 * batches touch once each (its own event, or as one of 20 co-engagement partners) is written once
 * per window.
 *
 * Exactness does not change: the item and trending scripts guard every partition's offsets, the
 * users keep what they handed over until the partition's progress, recorded after the item step,
 * passes it, and the worker commits a partition to Kafka only after that. A crash or a rebalance
 * with batches in the window re-delivers them from the last commit; their user steps hand the same
 * contributions over again.
 */
import { orderContributions, type Contribution, type PartitionContributions } from './plan.js';

/** How long a batch's item side waits at most (the oldest in the window decides). */
export const ITEM_WINDOW_MS = 1000;
/** How many contributions a window holds at most before it is applied whatever its age. */
export const ITEM_WINDOW_MAX = 20_000;

/** One batch in the window: its partition, last offset, contributions, and what the caller keeps with it. */
export interface WindowEntry<T> {
  partition: number;
  lastOffset: string;
  contributions: readonly Contribution[];
  addedAt: number;
  tag: T;
}

/**
 * Applies a window: the item step of its partitions' contributions (each partition's in ascending
 * offsets, every offset once), then each partition's progress (`offsets`: the last offset per
 * partition). `entries` are the batches it holds, oldest first.
 */
export type ApplyWindow<T> = (
  batches: PartitionContributions[],
  offsets: Map<number, string>,
  entries: readonly WindowEntry<T>[],
) => Promise<void>;

export interface ItemWindowOptions {
  maxAgeMs?: number;
  maxContributions?: number;
  now?: () => number;
}

export function createItemWindow<T>(options: ItemWindowOptions = {}) {
  const maxAgeMs = options.maxAgeMs ?? ITEM_WINDOW_MS;
  const maxContributions = options.maxContributions ?? ITEM_WINDOW_MAX;
  const now = options.now ?? Date.now;
  let entries: WindowEntry<T>[] = [];
  let held = 0;
  /** Bumped by drop(): a flush that fails after it does not put its batches back. */
  let generation = 0;

  return {
    /** The longest a batch waits, and the most contributions held before the window is due. */
    maxAgeMs,
    maxContributions,
    /** Adds a batch whose user side is applied (no contributions still moves its partition's progress). */
    add(partition: number, contributions: readonly Contribution[], lastOffset: string, tag: T) {
      entries.push({ partition, lastOffset, contributions, addedAt: now(), tag });
      held += contributions.length;
    },
    /** Contributions waiting. */
    get size() {
      return held;
    },
    /** Batches waiting. */
    get batches() {
      return entries.length;
    },
    /** True when the window is full or its oldest batch has waited maxAgeMs. */
    due(): boolean {
      const oldest = entries[0];
      return oldest !== undefined && (held >= maxContributions || now() - oldest.addedAt >= maxAgeMs);
    },
    /**
     * Applies what the window holds and empties it; returns the batches applied (none: it was
     * empty). When `apply` fails, the batches go back in front of any added since, to be applied
     * with them next time, and the error is thrown. Callers run one flush at a time.
     */
    async flush(apply: ApplyWindow<T>): Promise<WindowEntry<T>[]> {
      const taken = entries;
      const took = held;
      const at = generation;
      entries = [];
      held = 0;
      if (!taken.length) return taken;
      const byPartition = new Map<number, Contribution[]>();
      const offsets = new Map<number, string>();
      for (const e of taken) {
        let list = byPartition.get(e.partition);
        if (!list) byPartition.set(e.partition, (list = []));
        for (const c of e.contributions) list.push(c);
        const last = offsets.get(e.partition);
        if (last === undefined || BigInt(e.lastOffset) > BigInt(last)) offsets.set(e.partition, e.lastOffset);
      }
      // A batch retried after its user side succeeded hands its contributions over again: each
      // offset goes out once.
      const batches = [...byPartition].map(([partition, list]) => ({
        partition,
        contributions: orderContributions(list),
      }));
      try {
        await apply(batches, offsets, taken);
      } catch (error) {
        if (at === generation) {
          entries = [...taken, ...entries];
          held += took;
        }
        throw error;
      }
      return taken;
    },
    /** Forgets every batch (their partitions are re-delivered from the last commit, or rebuilt). */
    drop() {
      entries = [];
      held = 0;
      generation++;
    },
  };
}

export type ItemWindow<T> = ReturnType<typeof createItemWindow<T>>;
