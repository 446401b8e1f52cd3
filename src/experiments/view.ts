/** The running experiment as the `experiment` query shows it: the registry's report plus what this instance serves. */
import type { RedisClient } from '../redis/client.js';
import { unavailable } from '../core/errors.js';
import type { RedisKeys } from '../core/keys.js';
import type { Logger } from '../logger.js';
import { createModelRegistry } from '../model/registry.js';
import type { ModelArms } from '../ranking/model-arms.js';
import { experimentReport, type ExperimentReport } from './report.js';

export interface ExperimentView extends ExperimentReport {
  /** Per arm, the version this instance serves right now (it trails the registry by a reload). */
  served: Map<string, string>;
}

export interface Experiments {
  /** The experiment with its arms' outcomes, null when none runs; UNAVAILABLE when Redis cannot be read. */
  view(log: Logger): Promise<ExperimentView | null>;
}

export function createExperiments({
  redis,
  keys,
  models,
}: {
  redis: RedisClient;
  keys: RedisKeys;
  models: ModelArms;
}): Experiments {
  const registry = createModelRegistry(redis, keys);
  return {
    async view(log) {
      let report: ExperimentReport | null;
      try {
        report = await experimentReport(registry, redis, keys);
      } catch (error) {
        log.warn({ err: error }, 'reading the experiment failed');
        throw unavailable('the experiment cannot be read right now (Redis); retry');
      }
      if (!report) return null;
      return { ...report, served: new Map(models.serving().arms.map((a) => [a.name, a.version])) };
    },
  };
}
