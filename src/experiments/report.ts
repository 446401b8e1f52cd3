/**
 * The running experiment with what each arm's model earned: impressions, clicks, likes, hides
 * and click-through, read from the counts attribution keeps in Redis. An arm's numbers are those
 * of the model version it serves now (an arm that changed version starts counting afresh).
 */
import { execPipeline, pipelineOf, type RedisClient } from '../redis/client.js';
import type { Experiment, ModelRegistry } from '../model/registry.js';
import { AB_SHARDS, type RedisKeys } from '../core/keys.js';
import { ARM_COUNTS, countField, type ArmCount } from './attribution.js';

export interface ArmReport extends Record<ArmCount, number> {
  name: string;
  share: number;
  modelVersion: string;
  /** Clicks per impression; null before the first impression. */
  ctr: number | null;
}

export interface ExperimentReport {
  id: string;
  revision: number;
  updatedAt: number;
  arms: ArmReport[];
}

/** Counts of one experiment's arms, each for the version it serves, in one round trip. */
export async function armReports(redis: RedisClient, keys: RedisKeys, experiment: Experiment): Promise<ArmReport[]> {
  const fields = experiment.arms.flatMap((arm) =>
    ARM_COUNTS.map((kind) => countField(experiment.id, arm.name, arm.version, kind)),
  );
  // Every shard's counts, and those written before attribution was sharded, added up.
  const read = pipelineOf(redis);
  for (let shard = 0; shard < AB_SHARDS; shard++) read.hmget(keys.abCounts(shard), ...fields);
  read.hmget(keys.abLegacyCounts(), ...fields);
  const replies = (await execPipeline(read)) as (string | null)[][];
  const values = fields.map((_, f) => replies.reduce((sum, reply) => sum + Number(reply[f] ?? 0), 0));
  return experiment.arms.map((arm, a) => {
    const counts = Object.fromEntries(
      ARM_COUNTS.map((kind, k) => [kind, Number(values[a * ARM_COUNTS.length + k] ?? 0)]),
    ) as Record<ArmCount, number>;
    return {
      name: arm.name,
      share: arm.share,
      modelVersion: arm.version,
      ...counts,
      ctr: counts.impressions > 0 ? counts.clicks / counts.impressions : null,
    };
  });
}

/** The registry's experiment with its per-arm numbers; null when nothing was ever activated. */
export async function experimentReport(
  registry: ModelRegistry,
  redis: RedisClient,
  keys: RedisKeys,
): Promise<ExperimentReport | null> {
  const experiment = await registry.experiment();
  if (!experiment) return null;
  return {
    id: experiment.id,
    revision: experiment.revision,
    updatedAt: experiment.updatedAt,
    arms: await armReports(redis, keys, experiment),
  };
}
