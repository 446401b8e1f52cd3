/**
 * The Redis side of the stream worker, without Kafka: apply a partition's decoded events in two
 * pipelined steps (per user and user pattern state, then per item and trending scope), each step's
 * scripts guarded by per-partition offsets so that any step can be repeated without effect. The
 * worker applies each batch's user side at once (`applyUserSide`) and the item side of several
 * batches together (`itemStep`, through item-window.ts); `applyBatch` does both for one batch, and
 * tests call the steps one by one to cut a batch where a crash could.
 */
import { DEFAULT_ACTION_WEIGHTS, type ActionWeights } from '../features/definitions.js';
import { execPipeline, type RedisClient, pipelineOf } from '../redis/client.js';
import type { Pipeline } from '../redis/lua.js';
import { createFeatureCache } from '../features/feature-cache.js';
import type { RedisKeys } from '../core/keys.js';
import { registerScripts, scripts } from '../redis/scripts.js';
import { compilePatterns, planPatternCalls, type PatternCallResult } from '../patterns/plan.js';
import type { PatternRule } from '../patterns/rules.js';
import type { ProfileEvent } from '../core/events.js';
import { createEpochStore, type EpochFence } from './epoch.js';
import {
  orderContributions,
  planItemCalls,
  planTrendingCalls,
  planUserCalls,
  userContributions,
  type Contribution,
  type ItemInfo,
  type PartitionContributions,
  type PositionedEvent,
} from './plan.js';

/** What the user step did with a batch, summed over its users. */
export interface ApplyResult {
  counted: number;
  late: number;
  duplicate: number;
  replayed: number;
  watermark: number;
}

/** No events yet: the start of a running total. */
export const noCounts = (): ApplyResult => ({ counted: 0, late: 0, duplicate: 0, replayed: 0, watermark: 0 });

/** Adds one call's (or one slice's) counts into a running total. */
export function addCounts(into: ApplyResult, r: ApplyResult): void {
  into.counted += r.counted;
  into.late += r.late;
  into.duplicate += r.duplicate;
  into.replayed += r.replayed;
  into.watermark = Math.max(into.watermark, r.watermark);
}

/**
 * How many users' and items' script calls go out as one (see `queueGrouped`): one EVALSHA and one
 * epoch check per group instead of per call, while one group still runs in about a millisecond (a
 * user's call took about 0.15 ms of Redis time on the bench's mix, an item's about 0.03 ms), so
 * the API's reads queued behind it on the same Redis wait no longer than that.
 */
export const USERS_PER_CALL = 8;
const ITEMS_PER_CALL = 32;

/**
 * Item calls the item step sends per round trip: one grouped call, a millisecond or two of Redis
 * time. A window's step (a second of batches: thousands of items at a live rate) goes out as a run
 * of such round trips, one after another, and Redis takes the users' steps of the next batches (on
 * their own connection, see `itemRedis`) between them. Sent as one pipeline, the window held Redis
 * for 0.3–2 s at 5,000 events/s, and every user step sent meanwhile waited for all of it.
 */
export const ITEM_CALLS_PER_ROUND_TRIP = ITEMS_PER_CALL;

export interface ApplierOptions {
  redis: RedisClient;
  /**
   * The connection the item step (`itemStep`) goes out on and records its progress with (default:
   * `redis`). Redis answers one connection's commands in order: on the users' own connection, a
   * user step sent while the item step runs waits for every item call sent before it. On a
   * connection of its own, Redis takes the users' steps between the item step's round trips (see
   * ITEM_CALLS_PER_ROUND_TRIP). Read on each item step, so that a worker can open it when it starts.
   */
  itemRedis?: () => RedisClient | undefined;
  keys: RedisKeys;
  /**
   * The worker group's epoch key (`keys.streamEpoch(groupId)`): every offset-guarded write checks
   * it holds the epoch adopted by `adoptEpoch`, so nothing is written once Redis has lost the state.
   */
  epochKey: string;
  allowedLatenessMs: number;
  weights?: ActionWeights;
  /** How long a user's dedupe and offset state lives after their last event. */
  stateTtlSec?: number;
  /** Behaviour patterns to match per user (none: the pattern step is skipped). */
  patterns?: readonly PatternRule[];
  /**
   * How long an item's category and tags, once read from the catalogue, are used without reading
   * them again (default ITEM_INFO_TTL_MS; 0: read every batch). Items not in the catalogue are
   * never remembered, so an item catalogued after its first events counts under its category from
   * the next batch on.
   */
  itemInfoTtlMs?: number;
}

/** See ApplierOptions.itemInfoTtlMs: a catalogue change reaches new events within this. */
export const ITEM_INFO_TTL_MS = 30_000;
/** Items whose category and tags one applier remembers (the oldest read go first). */
export const ITEM_INFO_MAX = 100_000;

export interface UserStepResult extends ApplyResult {
  /** Users with at least one newly counted event (they get a change notification). */
  changed: string[];
  /** What the item step must apply, in offset order (including what a cut-off batch left). */
  contributions: Contribution[];
}

export interface PatternStepResult {
  /** One entry per user whose pattern state took new events. */
  users: PatternCallResult[];
}

export function createApplier(options: ApplierOptions) {
  const { redis, keys } = options;
  registerScripts(redis);
  /** The item step's connection (see ApplierOptions.itemRedis). */
  function itemConnection(): RedisClient {
    const via = options.itemRedis?.() ?? redis;
    registerScripts(via);
    return via;
  }
  const patterns = options.patterns?.length ? compilePatterns(options.patterns) : undefined;
  /** The epoch this applier's writes belong to (null: none adopted yet). */
  let epoch: string | null = null;

  const epochs = createEpochStore(redis, options.epochKey);

  /** Redis' epoch, written first by whichever worker finds none; later writes are fenced by it. */
  async function adoptEpoch(): Promise<string> {
    epoch = await epochs.adopt();
    return epoch;
  }

  /** True when Redis no longer holds the epoch adopted (its data was lost since). */
  async function epochLost(): Promise<boolean> {
    return epoch !== null && (await epochs.lost(epoch));
  }

  function fence(): EpochFence {
    if (epoch === null) throw new Error('adopt the stream epoch before applying events');
    return { key: options.epochKey, epoch, perSlot: epochs.perSlot };
  }

  /** What every step's plan needs; the user and pattern steps' also name their partition. */
  const stepOptions = () => ({
    keys,
    fence: fence(),
    allowedLatenessMs: options.allowedLatenessMs,
    weights: options.weights ?? DEFAULT_ACTION_WEIGHTS,
    stateTtlSec: options.stateTtlSec ?? 7 * 24 * 3600,
    now: Date.now(),
    tagFilter: patterns?.tagFilter,
  });
  const planOptions = (partition: number) => ({ ...stepOptions(), partition });

  const itemInfoTtlMs = options.itemInfoTtlMs ?? ITEM_INFO_TTL_MS;
  /** Catalogued items' categories and tags as read (an item not in the catalogue is never kept). */
  const itemInfo = createFeatureCache<ItemInfo>(
    'catalogue',
    async (ids) => {
      const read = pipelineOf(redis);
      for (const id of ids) read.hmget(keys.item(id), 'category', 'tags');
      const values = (await execPipeline(read)) as [string | null, string | null][];
      return values.map(([category, tags]) => ({
        category: category || null,
        tags: tags ? tags.split(',').filter(Boolean) : [],
      }));
    },
    {
      ttlMs: itemInfoTtlMs,
      staleMs: itemInfoTtlMs,
      maxEntries: ITEM_INFO_MAX,
      shortTtlMs: (info) => (info.category === null ? 0 : undefined),
    },
  );

  /**
   * The item categories and tags of a batch (null category: not in the catalogue yet): what was
   * read within itemInfoTtlMs is used again, the rest is read in one round trip.
   */
  async function readItems(events: PositionedEvent[]): Promise<Map<string, ItemInfo>> {
    const ids = [...new Set(events.map((e) => e.event.itemId))];
    const infos = await itemInfo.get(ids);
    return new Map(ids.map((id, i) => [id, infos[i]!]));
  }

  /**
   * Step 1: every user's events, atomically per user, in one round trip. `settledOffset`: the
   * partition's offset through which step 2 is known to have succeeded (what each user keeps for a
   * redelivery is trimmed to what lies past it; none: nothing is trimmed).
   */
  async function userStep(
    events: PositionedEvent[],
    items: Map<string, ItemInfo>,
    partition: number,
    settledOffset?: string,
  ): Promise<UserStepResult> {
    const pipeline = pipelineOf(redis);
    const planned = planUserCalls(events, items, { ...planOptions(partition), settledOffset });
    const replies = scripts.applyUser.queueGrouped(pipeline, planned, USERS_PER_CALL);
    const calls = planned.map((call, i) => ({ userId: call.userId, reply: replies[i]! }));
    const results = calls.length ? await execPipeline(pipeline) : [];
    const out: UserStepResult = { ...noCounts(), changed: [], contributions: [] };
    const contributions: Contribution[] = [];
    for (const call of calls) {
      const r = call.reply(results);
      addCounts(out, r);
      if (r.counted > 0) out.changed.push(call.userId);
      // A redelivered call also returns what its last applied call left for the item step: the
      // item and trending scripts skip what they already hold, so this finishes a cut-off batch.
      contributions.push(
        ...userContributions(r.rehanded, call.userId),
        ...userContributions(r.contributions, call.userId),
      );
    }
    out.contributions = orderContributions(contributions);
    return out;
  }

  /** Queues the pattern step of one partition's contributions; returns the reader of its results. */
  function queuePatterns(pipeline: Pipeline, contributions: readonly Contribution[], partition: number) {
    const planned = patterns ? planPatternCalls(contributions, { ...planOptions(partition), patterns }) : [];
    const replies = scripts.matchPatterns.queueGrouped(pipeline, planned, USERS_PER_CALL);
    return (results: readonly unknown[]): PatternStepResult => {
      const users: PatternCallResult[] = [];
      planned.forEach((call, i) => {
        const result = replies[i]!(results);
        if (result) users.push({ userId: call.userId, ...result });
      });
      return { users };
    };
  }

  /** The item and trending calls of one or more partitions' contributions (one call per item and scope). */
  function planItems(batches: readonly PartitionContributions[]) {
    const plan = stepOptions();
    return { items: planItemCalls(batches, plan), trending: planTrendingCalls(batches, plan) };
  }

  /** Queues planned item and trending calls on a pipeline. */
  function queueItems(pipeline: Pipeline, calls: Partial<ReturnType<typeof planItems>>) {
    if (calls.items) scripts.applyItem.queueGrouped(pipeline, calls.items, ITEMS_PER_CALL);
    if (calls.trending) scripts.applyTrending.queueGrouped(pipeline, calls.trending);
  }

  /** Records the partitions' progress: the offsets through which both steps are done. */
  async function recordProgress(key: string, offsets: ReadonlyMap<number, string>, via = redis) {
    if (offsets.size) await via.hset(key, Object.fromEntries([...offsets].map(([p, o]) => [String(p), o])));
  }

  /**
   * Step 2 for one batch: what the counted events add to each user's behaviour patterns, to items,
   * co-visitation and trending; then, only once all of them succeeded, the partition's progress under
   * `progress.key` (the offset through which both steps are done, which the next user steps trim
   * their kept hand-overs to).
   */
  async function secondStep(
    contributions: Contribution[],
    partition: number,
    progress?: { key: string; lastOffset: string },
  ): Promise<PatternStepResult> {
    const pipeline = pipelineOf(redis);
    const read = queuePatterns(pipeline, contributions, partition);
    queueItems(pipeline, planItems([{ partition, contributions }]));
    const results = pipeline.length ? await execPipeline(pipeline) : [];
    if (progress) await recordProgress(progress.key, new Map([[partition, progress.lastOffset]]));
    return read(results);
  }

  /** The users a batch changed: those who counted something, and those whose patterns moved. */
  function changedUsers(step: UserStepResult, patternStep: PatternStepResult): string[] {
    // A match fired or withdrawn from a cut-off batch's leftovers changes a user that counted
    // nothing new.
    const tagged = patternStep.users.filter(
      (u) => (u.fired.length || u.withdrawn.length) && !step.changed.includes(u.userId),
    );
    return [...step.changed, ...tagged.map((u) => u.userId)];
  }

  return {
    adoptEpoch,
    epochLost,
    readItems,
    /**
     * Forgets what was read about these items (the caller just wrote their catalogue entries), or,
     * without ids, about every item (Redis lost its data).
     */
    forgetItems(itemIds?: Iterable<string>) {
      itemInfo.forget(itemIds);
    },
    userStep,
    /**
     * Everything a batch does for its users, now: the user step, then the pattern step. What the
     * counted events add to items and trending is returned (`contributions`) for `itemStep`, which
     * may apply several batches' at once (see item-window.ts); until it has, the users keep what a
     * redelivery needs to finish it.
     */
    async applyUserSide(events: PositionedEvent[], partition: number, settled?: string) {
      const step = await userStep(events, await readItems(events), partition, settled);
      const pipeline = pipelineOf(redis);
      const read = queuePatterns(pipeline, step.contributions, partition);
      const patternStep = read(pipeline.length ? await execPipeline(pipeline) : []);
      return { ...step, changed: changedUsers(step, patternStep), patterns: patternStep };
    },
    /**
     * The item and trending step of several partitions' batches at once (one call per item and
     * scope however many batches add to it), then, once it succeeded, each partition's progress.
     */
    async itemStep(
      batches: readonly PartitionContributions[],
      progress?: { key: string; offsets: ReadonlyMap<number, string> },
    ) {
      const via = itemConnection();
      const { items, trending } = planItems(batches);
      for (let i = 0; i < items.length; i += ITEM_CALLS_PER_ROUND_TRIP) {
        const pipeline = pipelineOf(via);
        queueItems(pipeline, { items: items.slice(i, i + ITEM_CALLS_PER_ROUND_TRIP) });
        await execPipeline(pipeline);
      }
      const pipeline = pipelineOf(via);
      queueItems(pipeline, { trending });
      if (pipeline.length) await execPipeline(pipeline);
      if (progress) await recordProgress(progress.key, progress.offsets, via);
    },
    /**
     * Both steps for one partition's batch; the progress is recorded only after both. `settled`:
     * the progress recorded before this batch, when known.
     */
    async applyBatch(
      events: PositionedEvent[],
      partition: number,
      progress?: { key: string; lastOffset: string; settled?: string },
    ) {
      const step = await userStep(events, await readItems(events), partition, progress?.settled);
      const patternStep = await secondStep(step.contributions, partition, progress);
      return { ...step, changed: changedUsers(step, patternStep), patterns: patternStep };
    },
    /** Declared interests: the newest declaration wins, whatever order redelivery brings. */
    async applyProfiles(profiles: ProfileEvent[]) {
      const pipeline = pipelineOf(redis);
      for (const p of profiles)
        scripts.applyProfile.queue(
          pipeline,
          { profile: keys.userProfile(p.userId) },
          { interests: p.interests, updatedAt: p.updatedAt },
        );
      if (pipeline.length) await execPipeline(pipeline);
    },
  };
}

export type Applier = ReturnType<typeof createApplier>;
