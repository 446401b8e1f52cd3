/**
 * Every Redis key name, in one module. Keys of one user share the hash tag `{u:<id>}` so that the
 * per-user atomic script touches a single Redis Cluster slot.
 */
export function redisKeys(prefix: string) {
  const user = (userId: string) => `${prefix}:{u:${userId}}`;
  return {
    /** Hash: the stream's per-user state: `wm` (latest event time), `off:<partition>` (last applied offset). */
    userState: (userId: string) => `${user(userId)}:state`,
    /** Sorted set of recent eventIds scored by event time: dedupes client retries within the lateness bound. */
    userSeen: (userId: string) => `${user(userId)}:seen`,
    /** Hash of `category|ACTION` → count for one window bucket starting at `bucket` (epoch ms). */
    userBucket: (userId: string, window: string, bucket: number) => `${user(userId)}:w:${window}:${bucket}`,
    /** Hash: item catalogue metadata (category, tags, authorId, createdAt). */
    item: (itemId: string) => `${prefix}:{i:${itemId}}:meta`,
    /** Hash: per-partition progress of the stream worker, for seeking on assignment. */
    streamOffsets: (groupId: string, topic: string) => `${prefix}:stream:${groupId}:${topic}:offsets`,
    /** Pub/sub channel announcing "user U's features changed". */
    userChangedChannel: () => `${prefix}:user-changed`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;
