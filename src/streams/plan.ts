/**
 * The pure part of the stream worker: from a batch of decoded events (and the item categories and
 * tags the shell read), the script calls to make: one per user, then one per item and one per
 * trending scope for what the user step counted. No I/O, so it is tested without Kafka.
 */
import {
  ACTION_CODES,
  AFFINITY_HALF_LIFE_MS,
  bucketStart,
  COVISIT_MAX_PARTNERS,
  COVISIT_MIN_WEIGHT,
  COVISIT_MAX_PER_ITEM,
  COVISIT_HORIZON_MS,
  COVISIT_TTL_SEC,
  TTL_REFRESH_MS,
  HIDDEN_ITEMS_MAX,
  HIDDEN_TTL_SEC,
  POPULARITY_HALF_LIFE_MS,
  POSITIVE_ITEMS_MAX,
  RECENT_ITEMS_MAX,
  TRENDING,
  TRENDING_ALL,
  UNCATALOGUED_TTL_SEC,
  UNKNOWN_CATEGORY,
  USER_ITEM_CAP,
  WATERMARK_MAX_AHEAD_MS,
  WINDOW_NAMES,
  WINDOWS,
  windowField,
  type ActionWeights,
} from '../features/definitions.js';
import type { RedisKeys } from '../core/keys.js';
import { fenceKey, type EpochFence } from './epoch.js';
import type {
  ApplyItemArgs,
  ApplyItemCoVisit,
  ApplyItemContribution,
  ApplyItemKeys,
  ApplyTrendingArgs,
  ApplyTrendingKeys,
  ApplyUserArgs,
  ApplyUserEvent,
  ApplyUserKeys,
  ContributionRow,
  ScriptCall,
} from '../redis/scripts.js';
import { ACTIONS, type Action, type BehaviorEvent } from '../core/events.js';

export interface PositionedEvent {
  event: BehaviorEvent;
  offset: string;
}

/** A script call for one user's keys. */
export interface UserCall<K, A> extends ScriptCall<K, A> {
  userId: string;
}

export interface PlanOptions {
  keys: RedisKeys;
  fence: EpochFence;
  partition: number;
  allowedLatenessMs: number;
  weights: ActionWeights;
  stateTtlSec: number;
  now: number;
  /** Item tags the second step needs (those pattern rules look at); other tags are not carried. */
  tagFilter?: ReadonlySet<string>;
  /**
   * The partition's offset through which the second step is known to have succeeded: the user step
   * keeps what it handed over past it for a redelivery to finish (none: keep everything).
   */
  settledOffset?: string;
}

/** What the shell reads about the items of a batch (null category: not in the catalogue yet). */
export interface ItemInfo {
  category: string | null;
  tags: string[];
}

/**
 * A counted event, as the user step hands it to the second step: whose and which event it is, the
 * item, its category and the tags pattern rules look at, the action and its weight, and the
 * co-visitation partners found in the user's positive items.
 */
export interface Contribution {
  offset: string;
  userId: string;
  eventId: string;
  itemId: string;
  category: string;
  tags: string[];
  action: Action;
  occurredAt: number;
  weight: number;
  partners: string[];
  /** Past the user's cap for this item and trending bucket: counted, but weighs nothing on the item side. */
  capped: boolean;
  /** How far the event moves the user's watermark: occurredAt, at most receivedAt + WATERMARK_MAX_AHEAD_MS. */
  clock: number;
}

/** When a bucket stops mattering: after its window has passed it by, plus the allowed lateness. */
function bucketTtlSec(bucket: number, lengthMs: number, bucketMs: number, latenessMs: number, now: number) {
  return Math.max(60, Math.ceil((bucket + bucketMs + lengthMs + latenessMs - now) / 1000));
}

/** Collects the distinct bucket keys a call touches, with their TTLs, as 1-based indices. */
function bucketIndex() {
  const keys: string[] = [];
  const ttls: number[] = [];
  const index = new Map<string, number>();
  return {
    keys,
    ttls,
    add(key: string, ttl: number): number {
      let idx = index.get(key);
      if (idx === undefined) {
        keys.push(key);
        ttls.push(ttl);
        idx = keys.length;
        index.set(key, idx);
      }
      return idx;
    },
  };
}

function groupBy<T>(xs: Iterable<T>, key: (x: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = groups.get(k);
    if (list) list.push(x);
    else groups.set(k, [x]);
  }
  return groups;
}

/** The user's window fields an event counts in (`<window>:<bucket index>`), and how long they matter. */
function windowFields(t: number, options: Pick<PlanOptions, 'allowedLatenessMs' | 'now'>) {
  let ttlSec = 0;
  const fields = WINDOW_NAMES.map((name) => {
    const { lengthMs, bucketMs } = WINDOWS[name];
    const bucket = bucketStart(t, bucketMs);
    ttlSec = Math.max(ttlSec, bucketTtlSec(bucket, lengthMs, bucketMs, options.allowedLatenessMs, options.now));
    return windowField(name, bucket);
  });
  return { fields, ttlSec };
}

/** Every window with its bucket and window lengths, as apply-user.lua prunes by it. */
export const WINDOW_SPEC = WINDOW_NAMES.map(
  (name) => `${name}:${WINDOWS[name].bucketMs}:${WINDOWS[name].lengthMs}`,
).join(',');

/**
 * The prefix of the windows hash field counting the user's events on an item in the trending bucket
 * holding `t` (`c:<bucket index>|itemId`; no window is named `c`), and how long the hash must live
 * for it: while events can still land in the bucket, and at least 10 minutes, so that a replay of
 * old events keeps the counts through a restart.
 */
function capField(t: number, options: Pick<PlanOptions, 'allowedLatenessMs' | 'now'>) {
  const bucket = bucketStart(t, TRENDING.bucketMs);
  const ttl = Math.ceil((bucket + TRENDING.bucketMs + options.allowedLatenessMs - options.now) / 1000);
  return { field: `c:${(bucket / TRENDING.bucketMs).toString(36)}`, ttlSec: Math.max(600, ttl) };
}

export function planUserCalls(
  events: PositionedEvent[],
  items: Map<string, ItemInfo>,
  options: PlanOptions,
): UserCall<ApplyUserKeys, ApplyUserArgs>[] {
  const calls: UserCall<ApplyUserKeys, ApplyUserArgs>[] = [];
  const filter = options.tagFilter;
  for (const [userId, list] of groupBy(events, (e) => e.event.userId)) {
    const userEvents: ApplyUserEvent[] = [];
    let windowsTtlSec = 60;
    for (const { event, offset } of list) {
      const item = items.get(event.itemId);
      const windows = windowFields(event.occurredAt, options);
      const cap = capField(event.occurredAt, options);
      windowsTtlSec = Math.max(windowsTtlSec, windows.ttlSec, cap.ttlSec);
      userEvents.push({
        offset,
        eventId: event.eventId,
        occurredAt: event.occurredAt,
        receivedAt: event.receivedAt,
        itemId: event.itemId,
        category: item?.category ?? UNKNOWN_CATEGORY,
        action: event.action,
        actionCode: ACTION_CODES[event.action],
        weight: options.weights[event.action],
        tags: filter?.size && item ? item.tags.filter((t) => filter.has(t)) : [],
        windows: windows.fields,
        cap: cap.field,
      });
    }
    const k = options.keys;
    calls.push({
      userId,
      keys: {
        epoch: fenceKey(options.fence, k.userState(userId)),
        state: k.userState(userId),
        seen: k.userSeen(userId),
        recent: k.userRecent(userId),
        positive: k.userPositive(userId),
        hidden: k.userHidden(userId),
        affinity: k.userAffinity(userId),
        windows: k.userWindows(userId),
        pending: k.userPending(userId, options.partition),
      },
      args: {
        epoch: options.fence.epoch,
        partition: options.partition,
        allowedLatenessMs: options.allowedLatenessMs,
        stateTtlSec: options.stateTtlSec,
        recentMax: RECENT_ITEMS_MAX,
        positiveMax: POSITIVE_ITEMS_MAX,
        hiddenMax: HIDDEN_ITEMS_MAX,
        hiddenTtlSec: HIDDEN_TTL_SEC,
        horizonMs: COVISIT_HORIZON_MS,
        maxPartners: COVISIT_MAX_PARTNERS,
        minPartnerWeight: COVISIT_MIN_WEIGHT,
        affinityHalfLifeMs: AFFINITY_HALF_LIFE_MS,
        now: options.now,
        ttlRefreshMs: TTL_REFRESH_MS,
        maxAheadMs: WATERMARK_MAX_AHEAD_MS,
        capMax: USER_ITEM_CAP,
        settledOffset: options.settledOffset ?? '-1',
        windowsTtlSec,
        windowSpec: WINDOW_SPEC,
        capBucketMs: TRENDING.bucketMs,
        events: userEvents,
      },
    });
  }
  return calls;
}

function toAction(value: string): Action {
  const action = ACTIONS.find((a) => a === value);
  if (!action) throw new Error(`the user step returned an unknown action "${value}"`);
  return action;
}

/**
 * The contributions of one user's reply rows. Rows written before contributions carried eventId
 * and tags have neither: the pattern step skips them, the item side does not need them.
 */
export function userContributions(rows: readonly ContributionRow[], userId: string): Contribution[] {
  return rows.map((row) => ({ ...row, userId, action: toAction(row.action) }));
}

/** One contribution per offset, ascending: the order every item and trending step applies them in. */
export function orderContributions(contributions: Iterable<Contribution>): Contribution[] {
  const byOffset = new Map<string, Contribution>();
  for (const c of contributions) byOffset.set(c.offset, c);
  return [...byOffset.values()].sort((a, b) => {
    const d = BigInt(a.offset) - BigInt(b.offset);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  });
}

/**
 * Most contributions one item or trending call carries: a window's share of a popular item (or of
 * the global trending scope) goes out as several calls, in order, so that each stays about a
 * millisecond of Redis time and a bounded number of arguments. Each partition's offsets still
 * ascend from one call to the next, as the guards need.
 */
export const CONTRIBUTIONS_PER_CALL = 500;

/** `list` in consecutive slices of at most `size`. */
function slices<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** One partition's contributions for the second step, ordered (see orderContributions). */
export interface PartitionContributions {
  partition: number;
  contributions: readonly Contribution[];
}

/** The partitions of a second step, each once, ascending. */
const partitionsOf = (list: readonly { partition: number }[]) =>
  [...new Set(list.map((x) => x.partition))].sort((a, b) => a - b);

/**
 * The item step: per item, its events (windows, totals, popularity, its own co-visitation
 * partners) and the co-visits other items' events add to it, over one or more partitions' ordered
 * contributions (one call per item however many partitions add to it; each partition's offsets
 * are guarded on their own).
 */
export function planItemCalls(
  batches: readonly PartitionContributions[],
  options: Pick<PlanOptions, 'keys' | 'fence' | 'allowedLatenessMs' | 'stateTtlSec' | 'now'>,
): ScriptCall<ApplyItemKeys, ApplyItemArgs>[] {
  // An item's share: an event on it (`partner` undefined), or another item's event naming it as a
  // co-visitation partner.
  type Share = { c: Contribution; partition: number; partner?: string };
  const shares = new Map<string, Share[]>();
  const add = (itemId: string, share: Share) => {
    const list = shares.get(itemId);
    if (list) list.push(share);
    else shares.set(itemId, [share]);
  };
  for (const { partition, contributions } of batches)
    for (const c of contributions) {
      add(c.itemId, { c, partition });
      for (const p of c.partners) add(p, { c, partition, partner: c.itemId });
    }
  const calls: ScriptCall<ApplyItemKeys, ApplyItemArgs>[] = [];
  for (const [itemId, all] of shares)
    for (const list of slices(all, CONTRIBUTIONS_PER_CALL)) {
      const own: ApplyItemContribution[] = [];
      const coVisits: ApplyItemCoVisit[] = [];
      for (const { c, partition, partner } of list)
        if (partner !== undefined) coVisits.push({ partition, offset: c.offset, partner });
        else
          own.push({
            partition,
            offset: c.offset,
            occurredAt: c.occurredAt,
            action: c.action,
            weight: c.capped ? 0 : c.weight,
            windows: windowFields(c.occurredAt, options).fields,
            partners: c.partners,
          });
      calls.push({
        keys: {
          epoch: fenceKey(options.fence, options.keys.itemStats(itemId)),
          stats: options.keys.itemStats(itemId),
          covisit: options.keys.itemCovisit(itemId),
          meta: options.keys.item(itemId),
        },
        args: {
          epoch: options.fence.epoch,
          partitions: partitionsOf(list),
          popularityHalfLifeMs: POPULARITY_HALF_LIFE_MS,
          covisitMax: COVISIT_MAX_PER_ITEM,
          covisitTtlSec: COVISIT_TTL_SEC,
          statsTtlSec: options.stateTtlSec,
          now: options.now,
          ttlRefreshMs: TTL_REFRESH_MS,
          uncataloguedTtlSec: UNCATALOGUED_TTL_SEC,
          // The user step read the item's category: known means the catalogue held it then.
          catalogued: all.some(({ c, partner }) => partner === undefined && c.category !== UNKNOWN_CATEGORY),
          allowedLatenessMs: options.allowedLatenessMs,
          windowSpec: WINDOW_SPEC,
          coVisits,
          contributions: own,
        },
      });
    }
  return calls;
}

/**
 * The trending step: one call per scope (global, and each category the batch touched). Only items
 * the catalogue held when the event was counted trend (an event on an uncatalogued item has the
 * category `_unknown`), and capped repeats add nothing.
 */
export function planTrendingCalls(
  batches: readonly PartitionContributions[],
  options: Pick<PlanOptions, 'keys' | 'fence' | 'allowedLatenessMs' | 'stateTtlSec' | 'now'>,
): ScriptCall<ApplyTrendingKeys, ApplyTrendingArgs>[] {
  const scopes = new Map<string, { partition: number; c: Contribution }[]>();
  for (const { partition, contributions } of batches)
    for (const c of contributions) {
      if (c.capped || c.category === UNKNOWN_CATEGORY) continue;
      for (const scope of [TRENDING_ALL, c.category]) {
        const list = scopes.get(scope);
        if (list) list.push({ partition, c });
        else scopes.set(scope, [{ partition, c }]);
      }
    }
  const horizonMs = TRENDING.bucketMs * TRENDING.horizonBuckets;
  const calls: ScriptCall<ApplyTrendingKeys, ApplyTrendingArgs>[] = [];
  for (const [scope, all] of scopes)
    for (const list of slices(all, CONTRIBUTIONS_PER_CALL)) {
      const buckets = bucketIndex();
      const applied = list.map(({ partition, c }) => {
        const bucket = bucketStart(c.occurredAt, TRENDING.bucketMs);
        const idx = buckets.add(
          options.keys.trendingBucket(scope, bucket),
          bucketTtlSec(bucket, horizonMs, TRENDING.bucketMs, options.allowedLatenessMs, options.now),
        );
        return { partition, offset: c.offset, itemId: c.itemId, weight: c.weight, bucket: idx };
      });
      calls.push({
        keys: {
          epoch: fenceKey(options.fence, options.keys.trendingState(scope)),
          state: options.keys.trendingState(scope),
          buckets: buckets.keys,
        },
        args: {
          epoch: options.fence.epoch,
          partitions: partitionsOf(list),
          stateTtlSec: options.stateTtlSec,
          bucketTtlSec: buckets.ttls,
          contributions: applied,
        },
      });
    }
  return calls;
}
