import { encodeUserChanged } from '../core/user-changed.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import {
  execPipeline,
  isDeterministicRedisError,
  isEpochLost,
  replicated,
  type RedisClient,
  pipelineOf,
} from '../redis/client.js';
import type { RedisKeys } from '../core/keys.js';
import { FRESH_ITEMS_MAX, TRENDING_ALL, type ActionWeights } from '../features/definitions.js';
import type { PatternRule } from '../patterns/rules.js';
import { addCounts, createApplier, noCounts, type Applier, type ApplyResult, type PatternStepResult } from './apply.js';
import {
  decodeBehavior,
  decodeItem,
  decodeProfile,
  DecodeError,
  type BehaviorEvent,
  type ProfileEvent,
} from '../core/events.js';
import type { EachBatchPayload, Kafka, Producer } from './kafka.js';
import type { PartitionContributions, PositionedEvent } from './plan.js';
import { createItemWindow, type WindowEntry } from './item-window.js';
import { replayRange } from './replay.js';
import type { Topics } from '../core/topics.js';
import { supervisedConsumer } from './supervised-consumer.js';

/** Most bytes one partition's fetch returns to the stream worker (one batch). */
const STREAM_BATCH_BYTES = 256 * 1024;

export interface FeatureWorkerOptions {
  kafka: Kafka;
  redis: RedisClient;
  /**
   * Opens the connection the item window's step goes out on (opened on start, closed on stop).
   * Redis answers one connection's commands in order and takes other connections' between them:
   * on a connection of its own, the window's step (sent a grouped call at a time, see
   * ITEM_CALLS_PER_ROUND_TRIP) lets the next batches' user steps through instead of holding them
   * back. None: the item step shares `redis`.
   */
  connectItemRedis?: () => Promise<RedisClient>;
  keys: RedisKeys;
  topics: Topics;
  log: Logger;
  groupId: string;
  allowedLatenessMs: number;
  /** Action weights for affinity, popularity and trending (default: the feature definitions'). */
  weights?: ActionWeights;
  metrics?: Metrics;
  /** How long a user's dedupe and offset state lives after their last event. */
  stateTtlSec?: number;
  /** Behaviour patterns matched per user (see src/patterns); none: no pattern step. */
  patterns?: readonly PatternRule[];
  /** How often an idle worker checks that Redis still holds its epoch (data loss), in ms. */
  epochCheckIntervalMs?: number;
  /**
   * On a Redis Cluster: replicas of every master that must confirm a batch's writes (WAIT) before
   * its offsets are committed to Kafka; not confirmed in time, the batch is not committed and is
   * delivered again (the offset guards make that exact). Default none.
   */
  replicas?: { count: number; timeoutMs: number };
  /**
   * How long a batch's item side (items, co-visitation, trending) waits to be applied with the
   * batches after it, at most (default ITEM_WINDOW_MS), and how many contributions the window holds
   * before it is applied sooner (default ITEM_WINDOW_MAX). See item-window.ts.
   */
  itemWindow?: { maxAgeMs?: number; maxContributions?: number };
  /**
   * A batch is done: both steps applied and its offset committed to Kafka. `visibleAt`: when its
   * user side (the users' own features and patterns) was in Redis, which is what their next feed reads.
   */
  onApplied?: (
    stats: ApplyResult & {
      deadLettered: number;
      partition: number;
      durationMs: number;
      visibleAt: number;
      events: BehaviorEvent[];
      patterns: PatternStepResult;
    },
  ) => void;
}

/**
 * Attempts of one batch that Redis refuses with the same kind of error (a script or data error,
 * never a connection or transient one) before its records are applied one at a time and the ones
 * Redis still refuses are dead-lettered: one bad record must not stall its partition forever.
 */
export const POISON_ATTEMPTS = 3;

/** How long after a failed flush of the item window the next is tried (a batch arriving or the timer). */
const ITEM_RETRY_MS = 1000;

type BatchResult = Awaited<ReturnType<Applier['applyBatch']>>;

interface DeadRecord {
  value: Buffer | null;
  key: Buffer | null;
  offset: string;
  reason: string;
}

/** What the worker keeps with a batch in the item window. */
interface Waiting {
  /** The batch's records (a record whose item side Redis keeps refusing is dead-lettered). */
  records: readonly { offset: string; key: Buffer | null; value: Buffer | null }[];
  /** Reports the batch done (onApplied) once its item side is applied and its offset committed. */
  report(): void;
}

/** The results of several applied slices of one batch, as one. */
function mergeResults(results: BatchResult[]): BatchResult {
  const changed = new Set<string>();
  const out: BatchResult = { ...noCounts(), changed: [], contributions: [], patterns: { users: [] } };
  for (const r of results) {
    addCounts(out, r);
    for (const u of r.changed) changed.add(u);
    out.contributions.push(...r.contributions);
    out.patterns.users.push(...r.patterns.users);
  }
  out.changed = [...changed];
  return out;
}

export interface FeatureWorker {
  start(): Promise<void>;
  stop(): Promise<void>;
  ready(): boolean;
}

/**
 * The stream module's consumer-group worker. Per batch: decode (undecodable records go to the
 * dead-letter topic with the reason), read item categories in one round trip, apply every user's
 * events with one atomic script call each (pipelined), then what they add to items, co-visitation
 * and trending (pipelined, see apply.ts), record the partition's progress, publish "user changed"
 * notifications, and only then commit the offset to Kafka. Catalogue and profile records keep
 * item metadata and declared interests in Redis.
 *
 * On the first batch of a partition after an assignment, the worker compares the batch with the
 * progress Redis holds: if Redis is behind (it lost writes), it seeks back and refills from the log.
 */
export function createFeatureWorker(options: FeatureWorkerOptions): FeatureWorker {
  const { kafka, redis, keys, topics, log, groupId } = options;
  /** The item step's own connection while the worker runs (see connectItemRedis). */
  let itemRedis: RedisClient | undefined;
  const applier = createApplier({
    redis,
    itemRedis: () => itemRedis,
    keys,
    epochKey: keys.streamEpoch(groupId),
    allowedLatenessMs: options.allowedLatenessMs,
    weights: options.weights,
    stateTtlSec: options.stateTtlSec,
    patterns: options.patterns,
  });
  const offsetsKey = keys.streamOffsets(groupId, topics.behavior);
  const visibleKey = keys.streamVisible(groupId, topics.behavior);
  let dlq: Promise<Producer> | undefined;

  /** The dead-letter producer: created on the first bad record, kept until stop(). */
  const deadLetterProducer = () =>
    (dlq ??= (async () => {
      const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await p.connect();
      return p;
    })());
  /** After Redis acknowledged a batch: commit it to Kafka, then let kafkajs move past it. */
  async function commitAfterSink(
    batch: EachBatchPayload['batch'],
    last: string,
    resolveOffset: (offset: string) => void,
  ) {
    if (options.replicas) await replicated(redis, options.replicas.count, options.replicas.timeoutMs);
    await consumer
      .current()
      ?.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
    resolveOffset(last);
  }
  /** Partitions whose position was checked against Redis since the last assignment. */
  const checked = new Set<number>();
  /**
   * The last offset this worker applied and committed per partition since the last assignment. kafkajs can hand
   * out a batch again (a fetch issued before the previous batch was resolved); such records are
   * skipped here instead of costing a Redis round trip. Cleared on every assignment, so Redis'
   * own per-user offsets stay the authority.
   */
  const appliedHere = new Map<number, bigint>();
  /**
   * Per partition, the offset through which both steps are known done (Redis' recorded progress):
   * the user step trims what it keeps for redelivery to what lies past it. Unknown: nothing trimmed.
   */
  const settled = new Map<number, string>();
  /** Per partition, the batch (by its first offset) Redis keeps refusing and how often it did. */
  const failures = new Map<number, { offset: string; attempts: number }>();

  async function deadLetter(batch: { topic: string; partition: number }, records: DeadRecord[]) {
    await (
      await deadLetterProducer()
    ).send({
      topic: topics.behaviorDeadLetter,
      acks: -1,
      messages: records.map((d) => ({
        key: d.key,
        value: d.value,
        headers: {
          reason: d.reason,
          'source-topic': batch.topic,
          'source-partition': String(batch.partition),
          'source-offset': d.offset,
        },
      })),
    });
  }

  /** Records Redis refused to apply again and again: dead-lettered, counted and logged. */
  async function refuse(batch: { topic: string; partition: number }, refused: DeadRecord[]) {
    if (!refused.length) return;
    await deadLetter(batch, refused);
    options.metrics?.streamApplyDeadLetters.inc(refused.length);
    for (const d of refused)
      log.error(
        { partition: batch.partition, offset: d.offset, userId: d.key?.toString(), reason: d.reason },
        'redis refused a record again and again; dead-lettered it and moved on',
      );
  }

  /** A record Redis refused to apply, with why. */
  const refusedRecord = (
    record: { key: Buffer | null; value: Buffer | null } | undefined,
    offset: string,
    error: unknown,
  ): DeadRecord => ({
    key: record?.key ?? null,
    value: record?.value ?? null,
    offset,
    reason: `apply failed: ${error instanceof Error ? error.message : String(error)}`,
  });

  /**
   * A batch Redis refused POISON_ATTEMPTS times, one record at a time: what applies is applied (in
   * offset order, so exactly as a batch would be), what Redis still refuses is dead-lettered. A
   * record refused in the item step keeps what its user step counted.
   */
  async function applyOneByOne(
    batch: EachBatchPayload['batch'],
    events: PositionedEvent[],
    lastOffset: string,
  ): Promise<{ result: BatchResult; refused: number }> {
    const messages = new Map(batch.messages.map((m) => [m.offset, m]));
    const results: BatchResult[] = [];
    const refused: DeadRecord[] = [];
    let done = settled.get(batch.partition);
    for (const e of events) {
      try {
        results.push(
          await applier.applyBatch([e], batch.partition, { key: offsetsKey, lastOffset: e.offset, settled: done }),
        );
      } catch (error) {
        if (!isDeterministicRedisError(error)) throw error;
        refused.push(refusedRecord(messages.get(e.offset), e.offset, error));
      }
      done = e.offset;
    }
    await refuse(batch, refused);
    await redis.hset(offsetsKey, String(batch.partition), lastOffset);
    return { result: mergeResults(results), refused: refused.length };
  }

  /**
   * The batch's user side (its item side then waits in the window), or, once Redis has refused it
   * POISON_ATTEMPTS times, both steps one record at a time (`isolated`: its progress is recorded).
   */
  async function applyOrIsolate(batch: EachBatchPayload['batch'], events: PositionedEvent[], lastOffset: string) {
    try {
      const result = await applier.applyUserSide(events, batch.partition, settled.get(batch.partition));
      failures.delete(batch.partition);
      return { result, refused: 0, isolated: false };
    } catch (error) {
      const first = events[0]?.offset;
      if (!isDeterministicRedisError(error) || first === undefined) throw error;
      const seen = failures.get(batch.partition);
      const attempts = seen?.offset === first ? seen.attempts + 1 : 1;
      failures.set(batch.partition, { offset: first, attempts });
      if (attempts < POISON_ATTEMPTS) throw error;
      log.error(
        { err: error, partition: batch.partition, offset: first, attempts },
        'redis keeps refusing this batch; applying its records one at a time',
      );
      // The window's batches first: the one-by-one steps record this partition's progress past them.
      await settle(true);
      if (itemWindow.batches)
        throw new Error('the item side of earlier batches is still waiting; retrying the batch', { cause: error });
      const isolated = await applyOneByOne(batch, events, lastOffset);
      failures.delete(batch.partition);
      return { ...isolated, isolated: true };
    }
  }

  // ---- the item window: the item side of recent batches, applied together, then committed ----

  const itemWindow = createItemWindow<Waiting>(options.itemWindow);
  /** Flushes of the window in a row that Redis refused with a script or data error. */
  let itemFailures = 0;
  /** After a failed flush, the next is not tried before this (ms since the epoch), unless forced. */
  let retryAfter = 0;

  /**
   * The window's item side, one contribution at a time: what applies is applied, the records whose
   * contributions Redis still refuses are dead-lettered (their user side stays counted).
   */
  async function itemsOneByOne(
    batches: PartitionContributions[],
    offsets: Map<number, string>,
    entries: readonly WindowEntry<Waiting>[],
  ) {
    for (const { partition, contributions } of batches) {
      const refused: DeadRecord[] = [];
      for (const c of contributions) {
        try {
          await applier.itemStep([{ partition, contributions: [c] }]);
        } catch (error) {
          if (!isDeterministicRedisError(error)) throw error;
          const record = entries
            .filter((e) => e.partition === partition)
            .flatMap((e) => e.tag.records)
            .find((r) => r.offset === c.offset);
          refused.push(refusedRecord(record, c.offset, error));
        }
      }
      await refuse({ topic: topics.behavior, partition }, refused);
    }
    await applier.itemStep([], { key: offsetsKey, offsets });
  }

  /**
   * Applies the window's item side and records its partitions' progress, then commits them to
   * Kafka and reports their batches done. Due only: nothing unless the window is due (`force`:
   * whatever it holds). A failure is logged and left for the next call (the batches stay in the
   * window, their offsets uncommitted); once Redis refused the window POISON_ATTEMPTS times with
   * the same kind of error, it is applied one contribution at a time.
   */
  let settling: Promise<void> = Promise.resolve();
  /** settle(), not awaited: a rebuild waits for it as for a batch handler. */
  function settleInBackground() {
    gated(() => settle()).catch((error: unknown) =>
      log.error({ err: error }, 'applying the item side of recent batches failed; retrying'),
    );
  }
  function settle(force = false): Promise<void> {
    const run = settling.then(() => settleOnce(force));
    settling = run.catch(() => {});
    return run;
  }
  async function settleOnce(force: boolean) {
    if (!(force ? itemWindow.batches > 0 : itemWindow.due() && Date.now() >= retryAfter)) return;
    let flushed: WindowEntry<Waiting>[];
    try {
      flushed = await itemWindow.flush((batches, offsets) => applier.itemStep(batches, { key: offsetsKey, offsets }));
      itemFailures = 0;
    } catch (error) {
      if (isEpochLost(error)) {
        void startRebuild('the epoch fence refused an item step');
        return;
      }
      if (!isDeterministicRedisError(error) || ++itemFailures < POISON_ATTEMPTS) {
        retryAfter = Date.now() + ITEM_RETRY_MS;
        log.error(
          { err: error, waiting: itemWindow.batches },
          'applying the item side of recent batches failed; retrying',
        );
        return;
      }
      log.error(
        { err: error, attempts: itemFailures },
        "redis keeps refusing recent batches' item side; applying it one event at a time",
      );
      flushed = await itemWindow.flush(itemsOneByOne);
      itemFailures = 0;
    }
    const last = new Map<number, string>();
    for (const e of flushed) last.set(e.partition, e.lastOffset);
    for (const [partition, offset] of last) settled.set(partition, offset);
    // WAIT covers the writes of the connection that made them: the batches' user steps' and the window's.
    const { replicas } = options;
    if (replicas)
      await Promise.all(
        [...new Set([redis, itemRedis ?? redis])].map((via) => replicated(via, replicas.count, replicas.timeoutMs)),
      );
    try {
      await consumer.current()?.commitOffsets(
        [...last].map(([partition, offset]) => ({
          topic: topics.behavior,
          partition,
          offset: (BigInt(offset) + 1n).toString(),
        })),
      );
    } catch (error) {
      // A rebalance took the partitions: their next owner re-applies from the last commit, which
      // the offset guards make harmless.
      log.warn({ err: error, partitions: [...last.keys()] }, 'could not commit applied batches to kafka');
    }
    for (const [partition, offset] of last) finishedReplaying(partition, offset);
    for (const e of flushed) e.tag.report();
  }

  /**
   * Redis' progress for the partition decides where to read: the batch must start right after the
   * last offset Redis applied (or at the log start when Redis has none). Offsets Redis already
   * holds are skipped by the per-user guard; a gap means Redis lost writes, so seek back.
   */
  async function checkPosition(batch: EachBatchPayload['batch']): Promise<boolean> {
    if (checked.has(batch.partition)) return true;
    const first = batch.messages[0] ? BigInt(batch.messages[0].offset) : undefined;
    if (first === undefined) return true;
    const stored = await redis.hget(offsetsKey, String(batch.partition));
    let expected: bigint;
    if (stored !== null) {
      expected = BigInt(stored) + 1n;
      settled.set(batch.partition, stored);
    } else {
      // Needed once per partition after an assignment, when Redis has no progress for it.
      const a = kafka.admin();
      await a.connect();
      try {
        const offsets = await a.fetchTopicOffsets(batch.topic);
        expected = BigInt(offsets.find((o) => o.partition === batch.partition)?.low ?? '0');
      } finally {
        await a.disconnect();
      }
    }
    checked.add(batch.partition);
    if (first > expected) {
      log.warn(
        { partition: batch.partition, offset: String(first), expected: String(expected) },
        'redis is behind the consumer group; refilling from the log',
      );
      consumer.current()?.seek({ topic: batch.topic, partition: batch.partition, offset: String(expected) });
      return false;
    }
    return true;
  }

  // ---- lost data: an epoch Redis must keep, and a rebuild from the log when it does not ----

  /** The partitions this worker holds, per topic (from the last group join). */
  let assignment: Record<string, number[]> = {};
  let rebuilding: Promise<void> | undefined;
  /** Batch handlers running now: a rebuild waits for them, new ones wait for the rebuild. */
  const inflight = new Set<Promise<void>>();
  /** The rebuild being replayed: when it started and the log end each behaviour partition must reach. */
  let replaying: { startedAt: number; until: Map<number, bigint> } | undefined;
  let watch: ReturnType<typeof setInterval> | undefined;
  let flushTimer: ReturnType<typeof setInterval> | undefined;

  const { adoptEpoch, epochLost } = applier;

  /**
   * Redis lost data while this worker held its partitions: replay the catalogue and the declared
   * interests in full (events are applied with the categories Redis holds, so these come first),
   * then seek every behaviour partition held to the oldest record the log retains. The per-user
   * and per-item offset guards make the replay exact over whatever Redis still holds: the epoch
   * fence kept batches in flight at the loss from writing guards into the emptied Redis.
   */
  async function rebuild(reason: string) {
    const startedAt = performance.now();
    log.warn(
      { reason, partitions: assignment[topics.behavior] ?? [] },
      'redis lost the stream state; rebuilding it from the log',
    );
    options.metrics?.streamRebuilds.inc();
    await Promise.all(
      (
        [
          [topics.items, writeItems],
          [topics.profiles, writeProfiles],
        ] as const
      ).map(async ([topic, write]) => {
        const records: { value: Buffer | null; partition: number; offset: string }[] = [];
        await replayRange(kafka, topic, { since: 0 }, (value, partition, offset) =>
          records.push({ value, partition, offset }),
        );
        for (let i = 0; i < records.length; i += 1000) await write(records.slice(i, i + 1000));
      }),
    );
    const held = assignment[topics.behavior] ?? [];
    const until = new Map<number, bigint>();
    if (held.length) {
      // A batch that finished its fenced steps just before the loss may have written its progress
      // just after it; every handler has finished now, so what is there is stale.
      await redis.hdel(offsetsKey, ...held.map(String));
      await redis.hdel(visibleKey, ...held.map(String));
      const admin = kafka.admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets(topics.behavior);
        for (const partition of held) {
          const o = offsets.find((p) => p.partition === partition);
          if (!o) continue;
          consumer.current()?.seek({ topic: topics.behavior, partition, offset: o.low });
          if (BigInt(o.high) > BigInt(o.low)) until.set(partition, BigInt(o.high));
        }
      } finally {
        await admin.disconnect();
      }
    }
    // Nothing this worker remembers about its partitions or the catalogue holds any more: the
    // window's batches are replayed with the rest.
    applier.forgetItems();
    itemWindow.drop();
    checked.clear();
    appliedHere.clear();
    settled.clear();
    failures.clear();
    await adoptEpoch();
    replaying = { startedAt, until };
    log.info(
      { durationMs: Math.round(performance.now() - startedAt), partitions: held },
      'catalogue and profiles replayed; behaviour partitions seeked to the log start',
    );
    finishedReplaying();
  }

  /** Logs the rebuild's duration once every behaviour partition is back at the log end it had. */
  function finishedReplaying(partition?: number, lastOffset?: string) {
    if (!replaying) return;
    if (partition !== undefined && lastOffset !== undefined) {
      const end = replaying.until.get(partition);
      if (end !== undefined && BigInt(lastOffset) + 1n >= end) replaying.until.delete(partition);
    }
    if (replaying.until.size > 0) return;
    log.warn(
      { durationMs: Math.round(performance.now() - replaying.startedAt) },
      'rebuilt the stream state from the log',
    );
    replaying = undefined;
  }

  /** Starts a rebuild (once, however many callers notice) after the running batch handlers finish. */
  function startRebuild(reason: string): Promise<void> {
    rebuilding ??= (async () => {
      try {
        await Promise.allSettled([...inflight]);
        await rebuild(reason);
      } catch (error) {
        log.error({ err: error }, 'rebuilding the stream state failed; the next check tries again');
      } finally {
        rebuilding = undefined;
      }
    })();
    return rebuilding;
  }

  /** Runs a batch handler unless a rebuild is under way (then after it). */
  async function gated(run: () => Promise<void>) {
    while (rebuilding) await rebuilding;
    const running = run();
    inflight.add(running);
    try {
      await running;
    } finally {
      inflight.delete(running);
    }
  }

  async function handleBehavior({ batch, heartbeat, resolveOffset }: EachBatchPayload) {
    const started = performance.now();
    if (!(await checkPosition(batch))) return;
    const done = appliedHere.get(batch.partition) ?? -1n;
    const fresh = batch.messages.filter((m) => BigInt(m.offset) > done);
    if (fresh.length === 0) {
      // Everything here was applied and committed by this worker already: just move past it.
      const last = batch.messages.at(-1)?.offset;
      if (last !== undefined) resolveOffset(last);
      return;
    }
    const events: PositionedEvent[] = [];
    const dead: DeadRecord[] = [];
    for (const message of fresh) {
      try {
        events.push({ event: decodeBehavior(message.value), offset: message.offset });
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        dead.push({ value: message.value, key: message.key, offset: message.offset, reason: error.message });
      }
    }
    const lastOffset = fresh.at(-1)?.offset;
    if (lastOffset === undefined) return;

    if (dead.length) {
      await deadLetter(batch, dead);
      for (const d of dead)
        log.warn({ partition: batch.partition, offset: d.offset, reason: d.reason }, 'dead-lettered a record');
    }

    let applied: Awaited<ReturnType<typeof applyOrIsolate>>;
    try {
      applied = await applyOrIsolate(batch, events, lastOffset);
    } catch (error) {
      if (!isEpochLost(error)) throw error;
      // Redis lost the state since this worker adopted its epoch: the fence refused every write of
      // this batch that came after the loss, and the rebuild replays the partition from the log.
      void startRebuild('the epoch fence refused a batch');
      return;
    }
    const { result: total, refused, isolated } = applied;
    const visibleAt = Date.now();
    if (isolated) settled.set(batch.partition, lastOffset);
    const { changed } = total;
    // With the notice, in one round trip: how far this partition's users are visible.
    const notice = pipelineOf(redis);
    notice.hset(visibleKey, String(batch.partition), lastOffset);
    if (changed.length) {
      // receivedAt[i]: when the API accepted users[i]'s earliest event of this batch, so live
      // subscribers can measure behaviour → push latency end to end.
      const firstReceived = new Map<string, number>();
      for (const { event } of events) {
        const seen = firstReceived.get(event.userId);
        if (seen === undefined || event.receivedAt < seen) firstReceived.set(event.userId, event.receivedAt);
      }
      const receivedAt = changed.map((u) => firstReceived.get(u) ?? null);
      // The tags that appeared or went, so that a push can say a tag caused it.
      const tagChanges = new Map<string, string[]>();
      for (const u of total.patterns.users)
        if (u.tagChanges.length) tagChanges.set(u.userId, [...(tagChanges.get(u.userId) ?? []), ...u.tagChanges]);
      const tags = tagChanges.size ? changed.map((u) => tagChanges.get(u)?.join(',') ?? null) : undefined;
      notice.publish(
        keys.userChangedChannel(),
        encodeUserChanged({ users: changed, at: Date.now(), receivedAt, tags }),
      );
    }
    await execPipeline(notice);

    // The batch's users are done: kafkajs may move on. Its offset is committed to Kafka only once
    // its item side is applied too (below, or with the window's next flush).
    resolveOffset(lastOffset);
    appliedHere.set(batch.partition, BigInt(lastOffset));
    const m = options.metrics;
    if (m) {
      const appliedAt = visibleAt;
      m.streamEvents.inc({ outcome: 'counted' }, total.counted);
      m.streamEvents.inc({ outcome: 'late' }, total.late);
      m.streamEvents.inc({ outcome: 'duplicate' }, total.duplicate);
      m.streamEvents.inc({ outcome: 'replayed' }, total.replayed);
      m.streamEvents.inc({ outcome: 'dead_lettered' }, dead.length + refused);
      m.streamBatchDuration.observe(performance.now() - started);
      for (const e of events) m.streamFreshness.observe(Math.max(0, appliedAt - e.event.receivedAt));
      m.streamLag.set(
        { partition: String(batch.partition) },
        Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(lastOffset) - 1n)),
      );
      if (options.patterns?.length) {
        const partition = String(batch.partition);
        let buffered = 0;
        let partial = 0;
        let undecided = 0;
        for (const u of total.patterns.users) {
          for (const rule of u.fired) m.patternMatches.inc({ rule });
          for (const rule of u.withdrawn) m.patternWithdrawals.inc({ rule });
          m.patternUserEvents.observe(u.bufferedEvents);
          buffered += u.bufferedEvents;
          partial += u.partialMatches;
          undecided += u.undecidedMatches;
        }
        m.patternBufferedEvents.set({ partition }, buffered);
        m.patternPartialMatches.set({ partition, kind: 'partial' }, partial);
        m.patternPartialMatches.set({ partition, kind: 'provisional' }, undecided);
      }
    }
    for (const u of total.patterns.users) {
      for (const rule of u.fired) log.debug({ userId: u.userId, rule, partition: batch.partition }, 'pattern matched');
      // The reason (the event that broke the run) is in the user's match log (userFeatures).
      for (const rule of u.withdrawn)
        log.info({ userId: u.userId, rule, partition: batch.partition }, 'a late event withdrew a pattern match');
    }
    if (total.late > 0)
      log.debug({ partition: batch.partition, late: total.late }, 'late events not applied to windows');
    const report = () =>
      options.onApplied?.({
        ...total,
        deadLettered: dead.length + refused,
        partition: batch.partition,
        durationMs: performance.now() - started,
        visibleAt,
        events: events.map((e) => e.event),
      });
    if (isolated) {
      // Both steps are applied and the progress recorded: commit now.
      await commitAfterSink(batch, lastOffset, resolveOffset);
      finishedReplaying(batch.partition, lastOffset);
      report();
    } else {
      itemWindow.add(batch.partition, total.contributions, lastOffset, { records: fresh, report });
      // The window goes out beside the next batches' user sides; a batch waits for it only once
      // the window holds twice its most (Redis is behind on the item side).
      if (itemWindow.size >= 2 * itemWindow.maxContributions) await settle();
      else if (itemWindow.due()) settleInBackground();
    }
    await heartbeat();
  }

  /** Catalogue records into Redis: metadata, and the newest items per scope. */
  async function writeItems(records: readonly { value: Buffer | null; partition: number; offset: string }[]) {
    const write = pipelineOf(redis);
    const written: string[] = [];
    for (const message of records) {
      try {
        const item = decodeItem(message.value);
        written.push(item.itemId);
        write.hset(keys.item(item.itemId), {
          category: item.category ?? '',
          tags: item.tags.join(','),
          authorId: item.authorId ?? '',
          createdAt: item.createdAt ?? '',
          updatedAt: item.updatedAt,
        });
        // The newest items per scope, where recall finds candidates nobody has engaged with yet.
        // An item of unknown age is listed by when it was catalogued, but only a known `createdAt`
        // makes it new enough for an exploration slot (the ranker checks that).
        for (const scope of item.category ? [TRENDING_ALL, item.category] : [TRENDING_ALL]) {
          write.zadd(keys.freshItems(scope), item.createdAt ?? item.updatedAt, item.itemId);
          write.zremrangebyrank(keys.freshItems(scope), 0, -(FRESH_ITEMS_MAX + 1));
        }
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        log.warn(
          { partition: message.partition, offset: message.offset, reason: error.message },
          'skipped an undecodable catalogue record',
        );
      }
    }
    if (write.length) await execPipeline(write);
    applier.forgetItems(written);
  }

  async function handleItems({ batch, heartbeat, resolveOffset }: EachBatchPayload) {
    await writeItems(batch.messages.map((m) => ({ value: m.value, partition: batch.partition, offset: m.offset })));
    const last = batch.messages.at(-1)?.offset;
    if (last !== undefined) await commitAfterSink(batch, last, resolveOffset);
    await heartbeat();
  }

  /** Declared interests: the newest declaration wins, whatever order redelivery brings. */
  async function writeProfiles(records: readonly { value: Buffer | null; partition: number; offset: string }[]) {
    const profiles: ProfileEvent[] = [];
    for (const message of records) {
      try {
        profiles.push(decodeProfile(message.value));
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        log.warn(
          { partition: message.partition, offset: message.offset, reason: error.message },
          'skipped an undecodable profile record',
        );
      }
    }
    await applier.applyProfiles(profiles);
  }

  async function handleProfiles({ batch, heartbeat, resolveOffset }: EachBatchPayload) {
    await writeProfiles(batch.messages.map((m) => ({ value: m.value, partition: batch.partition, offset: m.offset })));
    const last = batch.messages.at(-1)?.offset;
    if (last !== undefined) await commitAfterSink(batch, last, resolveOffset);
    await heartbeat();
  }

  const consumer = supervisedConsumer(
    {
      name: 'stream',
      create: () =>
        kafka.consumer({
          groupId,
          maxWaitTimeInMs: 20,
          // A batch is applied whole before the next heartbeat: kafkajs' default 1 MiB per partition
          // is ~7,000 behaviour records, which a worker catching up a backlog on a busy machine took
          // longer than the session timeout to apply (3 partitions at once), so the group evicted it
          // and rebalanced again and again. 256 KiB (~1,800 records) keeps a batch to a few seconds.
          maxBytesPerPartition: STREAM_BATCH_BYTES,
          sessionTimeout: 10_000,
          heartbeatInterval: 1000,
          allowAutoTopicCreation: false,
        }),
      topics: [topics.behavior, topics.items, topics.profiles],
      onGroupJoin: (memberAssignment) => {
        assignment = memberAssignment;
        // Uncommitted batches come again from the last commit, to whichever worker holds them now.
        itemWindow.drop();
        itemFailures = 0;
        checked.clear();
        appliedHere.clear();
        settled.clear();
        failures.clear();
      },
      run: {
        // The handlers resolve and commit each batch's offsets themselves, after Redis acknowledged.
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 3,
        eachBatch: async (payload) => {
          try {
            await gated(async () => {
              if (payload.batch.topic === topics.items) await handleItems(payload);
              else if (payload.batch.topic === topics.profiles) await handleProfiles(payload);
              else await handleBehavior(payload);
            });
          } catch (error) {
            // kafkajs retries the batch; say why, with where it was.
            log.error(
              { err: error, topic: payload.batch.topic, partition: payload.batch.partition },
              'applying a batch failed; it will be retried',
            );
            throw error;
          }
        },
      },
    },
    { log, metrics: options.metrics },
  );

  return {
    ready: () => consumer.ready(),
    async start() {
      await adoptEpoch();
      itemRedis = await options.connectItemRedis?.();
      try {
        await consumer.start();
      } catch (error) {
        itemRedis?.disconnect();
        itemRedis = undefined;
        throw error;
      }
      // An idle worker notices lost data too, not only at its next batch.
      watch = setInterval(() => {
        if (!consumer.ready() || rebuilding) return;
        epochLost().then(
          (lost) => {
            if (lost) void startRebuild('the epoch vanished (noticed by the periodic check)');
          },
          () => {}, // Redis unreachable: the connection logs it, and the next check asks again
        );
      }, options.epochCheckIntervalMs ?? 1000);
      watch.unref();
      // An idle partition's last batches do not wait for a next batch to be applied.
      flushTimer = setInterval(
        () => {
          if (!rebuilding && itemWindow.due()) settleInBackground();
        },
        Math.max(10, itemWindow.maxAgeMs / 4),
      );
      flushTimer.unref();
      if (options.patterns?.length)
        log.info({ patterns: options.patterns.map((r) => r.id) }, 'matching behaviour patterns');
    },
    async stop() {
      clearInterval(watch);
      clearInterval(flushTimer);
      await rebuilding;
      // What the window holds, applied and committed before leaving (what fails is re-delivered).
      await gated(() => settle(true)).catch((error: unknown) =>
        log.warn({ err: error }, 'could not apply the item side of the last batches; they are re-delivered'),
      );
      await consumer.stop();
      await dlq?.then((p) => p.disconnect()).catch(() => {});
      dlq = undefined;
      itemRedis?.disconnect();
      itemRedis = undefined;
    },
  };
}
