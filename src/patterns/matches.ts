/**
 * The matches the stream worker fired and withdrew for users, as kept in Redis (the latest
 * PATTERN_MATCH_LOG_MAX entries per user): what explains a tag event by event, and what shows that
 * no match was fired twice (each entry has its own sequence number).
 */
import { execPipeline, type RedisClient, pipelineOf } from '../redis/client.js';
import type { RedisKeys } from '../core/keys.js';

export interface PatternMatch {
  /** The user's match counter when it fired: consecutive unless older matches were dropped. */
  seq: number;
  rule: string;
  /** The matched events, in event-time order. */
  eventIds: string[];
  /** Event time of the last matched event. */
  at: number;
  /**
   * Set on the entry that withdrew an earlier fired match of the same rule and first event: why
   * (the late event that broke the run, or changed which events make it).
   */
  withdrawn?: string;
}

/** Several users' match logs in one round trip, oldest match first; in input order. */
export async function readPatternMatchesBatch(
  redis: RedisClient,
  keys: RedisKeys,
  userIds: readonly string[],
): Promise<PatternMatch[][]> {
  const read = pipelineOf(redis);
  for (const userId of userIds) read.zrange(keys.userPatternMatches(userId), 0, -1, 'WITHSCORES');
  const replies = (await execPipeline(read)) as string[][];
  return replies.map((flat) => {
    const matches: PatternMatch[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const [seq, rule, ids, ...reason] = (flat[i] as string).split('|');
      matches.push({
        seq: Number(seq),
        rule: rule ?? '',
        eventIds: ids ? ids.split(',') : [],
        at: Number(flat[i + 1]),
        ...(reason.length ? { withdrawn: reason.join('|') } : {}),
      });
    }
    return matches.sort((a, b) => a.seq - b.seq);
  });
}
