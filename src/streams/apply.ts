/**
 * The Redis side of the stream worker, without Kafka: apply a partition's decoded events in two
 * pipelined steps (per user, then per item, trending scope and user pattern state), each step's
 * scripts guarded by per-partition offsets so that any step can be repeated without effect. The
 * worker calls `applyBatch`; tests call the steps one by one to cut a batch where a crash could.
 */
import { DEFAULT_ACTION_WEIGHTS, type ActionWeights } from '../features/definitions.js';
import { execPipeline, type RedisClient, pipelineOf } from '../redis/client.js';
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
const USERS_PER_CALL = 8;
const ITEMS_PER_CALL = 32;

export interface ApplierOptions {
  redis: RedisClient;
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

  const planOptions = (partition: number) => ({
    keys,
    fence: fence(),
    partition,
    allowedLatenessMs: options.allowedLatenessMs,
    weights: options.weights ?? DEFAULT_ACTION_WEIGHTS,
    stateTtlSec: options.stateTtlSec ?? 7 * 24 * 3600,
    now: Date.now(),
    tagFilter: patterns?.tagFilter,
  });

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

  /**
   * Step 2: what the counted events add to each user's behaviour patterns, to items, co-visitation
   * and trending; then, only once all of them succeeded, the partition's progress under
   * `progress.key` (the offset through which both steps are done, which the next user steps trim
   * their kept hand-overs to).
   */
  async function itemStep(
    contributions: Contribution[],
    partition: number,
    progress?: { key: string; lastOffset: string },
  ): Promise<PatternStepResult> {
    const plan = planOptions(partition);
    const pipeline = pipelineOf(redis);
    const planned = patterns ? planPatternCalls(contributions, { ...plan, patterns }) : [];
    const replies = scripts.matchPatterns.queueGrouped(pipeline, planned, USERS_PER_CALL);
    const patternCalls = planned.map((call, i) => ({ userId: call.userId, reply: replies[i]! }));
    scripts.applyItem.queueGrouped(pipeline, planItemCalls(contributions, plan), ITEMS_PER_CALL);
    scripts.applyTrending.queueGrouped(pipeline, planTrendingCalls(contributions, plan));
    const results = pipeline.length ? await execPipeline(pipeline) : [];
    if (progress) await redis.hset(progress.key, String(partition), progress.lastOffset);
    const users: PatternCallResult[] = [];
    for (const call of patternCalls) {
      const result = call.reply(results);
      if (result) users.push({ userId: call.userId, ...result });
    }
    return { users };
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
    itemStep,
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
      const patternStep = await itemStep(step.contributions, partition, progress);
      // A match fired or withdrawn from a cut-off batch's leftovers changes a user that counted
      // nothing new.
      const tagged = patternStep.users.filter(
        (u) => (u.fired.length || u.withdrawn.length) && !step.changed.includes(u.userId),
      );
      return { ...step, changed: [...step.changed, ...tagged.map((u) => u.userId)], patterns: patternStep };
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
