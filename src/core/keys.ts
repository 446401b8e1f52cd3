/**
 * Every Redis key name, in one module. Keys of one user share the hash tag `{u:<id>}`, keys of one
 * item `{i:<id>}` and keys of one trending scope `{t:<scope>}`, so that each atomic script touches
 * a single Redis Cluster slot.
 */
/**
 * Experiment attribution is spread by user over this many hash tags (`{ab:<shard>}`), so that no
 * single Redis Cluster slot takes every user's impressions and clicks.
 */
export const AB_SHARDS = 16;

/** The attribution shard of a user: FNV-1a of the id, modulo AB_SHARDS (stable across processes). */
export function abShard(userId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) {
    h ^= userId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % AB_SHARDS;
}

export function redisKeys(prefix: string) {
  const user = (userId: string) => `${prefix}:{u:${userId}}`;
  const item = (itemId: string) => `${prefix}:{i:${itemId}}`;
  const trend = (scope: string) => `${prefix}:{t:${scope}}`;
  return {
    /**
     * Hash: the stream's per-user state: `wm` (watermark), `off:<partition>` (last applied offset),
     * and the bookkeeping fields apply-user.lua lists.
     */
    userState: (userId: string) => `${user(userId)}:state`,
    /**
     * String: what the user step handed to the second step for the user's events on a partition and
     * that is not yet known to be applied, kept so that a crash between the user and item steps can
     * be finished on redelivery (see apply-user.lua).
     */
    userPending: (userId: string, partition: number) => `${user(userId)}:pend:${partition}`,
    /** Sorted set of recent eventIds scored by event time: dedupes client retries within the lateness bound. */
    userSeen: (userId: string) => `${user(userId)}:seen`,
    /**
     * Hash: the user's window counts, `<window>:<bucket index>|category|<action code>` → count
     * (bucket index = bucket start / the window's bucket length; see ACTION_CODES), and the user's
     * counted events per item in each trending bucket, `c:<bucket index>|itemId` → count (see
     * USER_ITEM_CAP); fields no window can read any more, and counts of buckets that can take no
     * more events, are pruned.
     */
    userWindows: (userId: string) => `${user(userId)}:win`,
    /** Sorted set: items the user acted on (any action), scored by their latest event time. */
    userRecent: (userId: string) => `${user(userId)}:recent`,
    /** Sorted set: items the user acted on positively, scored by event time (co-visitation seeds). */
    userPositive: (userId: string) => `${user(userId)}:pos`,
    /** Sorted set: items the user hid ("not interested"), scored by event time. */
    userHidden: (userId: string) => `${user(userId)}:hidden`,
    /** Hash: decayed category affinity, `category` → decayed weighted sum, `_b` → its base time. */
    userAffinity: (userId: string) => `${user(userId)}:aff`,
    /** Hash: declared interests (`interests`, comma-separated) and `updatedAt`. */
    userProfile: (userId: string) => `${user(userId)}:profile`,
    /** Hash: long-horizon preferences from the daily batch (`c:<category>`, `n:<ACTION>`, `_v`, `_at`). */
    userLongHorizon: (userId: string) => `${user(userId)}:lt`,
    /**
     * Hash: the pattern matcher's state: `off:<partition>` (last applied offset), `wm` (latest event
     * time it saw), `floor` (the newest event time dropped for size: older events are not admitted),
     * `seq` (matches so far).
     */
    userPatternState: (userId: string) => `${user(userId)}:pat`,
    /** Sorted set: the user's recent counted events, scored by event time, for pattern matching. */
    userPatternEvents: (userId: string) => `${user(userId)}:pat:ev`,
    /** Sorted set: `rule|firstEventId` of matches already fired, scored by the first event's time. */
    userPatternFired: (userId: string) => `${user(userId)}:pat:fired`,
    /** Sorted set: the user's latest matches, `seq|rule|eventId,…`, scored by the last event's time. */
    userPatternMatches: (userId: string) => `${user(userId)}:pat:log`,
    /** Hash: `tag` → JSON of the user's tag (since, until, rule, reason, events); see UserTag. */
    userTags: (userId: string) => `${user(userId)}:tags`,
    /** Hash: item catalogue metadata (category, tags, authorId, createdAt). */
    item: (itemId: string) => `${item(itemId)}:meta`,
    /**
     * Hash: an item's real-time stats: `pop` (decayed popularity) with its base `_b`, `n:<ACTION>`
     * (counts since first seen), the window counts `<window>:<bucket index base 36>|<ACTION>` and
     * `off:<partition>` (last applied offset, for exactly-once).
     */
    itemStats: (itemId: string) => `${item(itemId)}:stats`,
    /** Sorted set: items co-visited with this one, scored by how often. */
    itemCovisit: (itemId: string) => `${item(itemId)}:covis`,
    /** Hash: an item's long-horizon totals from the daily batch (`n:<ACTION>`, `score`, `_v`, `_at`). */
    itemLongHorizon: (itemId: string) => `${item(itemId)}:lt`,
    /** Sorted set: weighted actions per item in one trending bucket of a scope (`_all` or a category). */
    trendingBucket: (scope: string, bucket: number) => `${trend(scope)}:${bucket}`,
    /** Hash: `off:<partition>` progress of a trending scope, for exactly-once. */
    trendingState: (scope: string) => `${trend(scope)}:state`,
    /** Sorted set: the newest catalogue items of a scope (`_all` or a category), scored by createdAt. */
    freshItems: (scope: string) => `${prefix}:{f:${scope}}:fresh`,
    /** Hash: the daily batch's last run (version, computedAt, range, counts). */
    longHorizonMeta: () => `${prefix}:lt:meta`,
    /**
     * String: the stream worker's epoch, a random id written when a consumer group first finds Redis
     * without one. It vanishing or changing while a worker runs means Redis lost data (FLUSHALL, a
     * restart without persistence, a failover to a lagging replica): the worker rebuilds from the log.
     */
    streamEpoch: (groupId: string) => `${prefix}:stream:${groupId}:epoch`,
    /** Hash: per-partition progress of the stream worker, for seeking on assignment. */
    streamOffsets: (groupId: string, topic: string) => `${prefix}:stream:${groupId}:${topic}:offsets`,
    /**
     * Hash: per partition, the last offset whose users' own features (the user and pattern steps)
     * are in Redis, what their next feed reads. Ahead of `streamOffsets` by the item window (about
     * a second); for watching freshness, never for seeking.
     */
    streamVisible: (groupId: string, topic: string) => `${prefix}:stream:${groupId}:${topic}:visible`,
    /** Pub/sub channel announcing "user U's features changed". */
    userChangedChannel: () => `${prefix}:user-changed`,
    /**
     * Pub/sub channel announcing "every feed may have changed" (a daily batch finished): instances
     * re-rank the users they have live subscribers for. See src/core/feed-refresh.ts.
     */
    feedRefreshChannel: () => `${prefix}:feed-refresh`,
    // The model registry: every key under one hash tag, so that publishing and changing the
    // experiment are single atomic scripts (one Redis Cluster slot).
    /** String: the ONNX bytes of one published model version; immutable once published. */
    modelBytes: (version: string) => `${prefix}:{models}:bytes:${version}`,
    /** Hash: version → JSON of its metadata (features, kind, training range, metrics, publishedAt, sha256). */
    modelMeta: () => `${prefix}:{models}:meta`,
    /** Sorted set: published versions, scored by publish time. */
    modelVersions: () => `${prefix}:{models}:versions`,
    /** String: JSON of the experiment being served: id, revision, arms (name, share, version). */
    modelExperiment: () => `${prefix}:{models}:experiment`,
    /** List: the latest experiment changes (JSON), newest first, kept for auditing. */
    modelHistory: () => `${prefix}:{models}:history`,
    /** Pub/sub channel announcing "the registry changed": instances reload their active models. */
    modelsChangedChannel: () => `${prefix}:models-changed`,
    // Experiment attribution: per shard of users (abShard), one hash tag, so one script per Kafka
    // batch and shard joins impressions and behaviour atomically with the shard's progress.
    /** Hash: `<topic>:<partition>` → last offset whose records of this shard's users were attributed. */
    abOffsets: (shard: number) => `${prefix}:{ab:${shard}}:offsets`,
    /** Hash: `experiment|arm|version|kind` → this shard's count (feeds, impressions, clicks, likes, hides). */
    abCounts: (shard: number) => `${prefix}:{ab:${shard}}:counts`,
    /** Hash: the counts written before attribution was sharded, still added to every report. */
    abLegacyCounts: () => `${prefix}:{ab}:counts`,
    /** Hash: `<topic>:<partition>` → last offset attributed in every shard (progress, for operators and tests). */
    abProgress: () => `${prefix}:ab:progress`,
    /** Hash: itemId → `experiment|arm|version|servedAt|flags` of the last impression that showed it to the user; TTL = window, the newest SHOWN_ITEMS_MAX kept. */
    abShown: (userId: string) => `${prefix}:{ab:${abShard(userId)}}:shown:${userId}`,
    /** Sorted set: the user's clicks, likes and hides no impression claimed yet, scored by event time; TTL = window. */
    abPending: (userId: string) => `${prefix}:{ab:${abShard(userId)}}:pending:${userId}`,
    /** String: JSON of an online trainer's learning state (weights, accumulators, standardisation, offsets). */
    onlineTrainerState: (name: string) => `${prefix}:online:${name}:state`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;
