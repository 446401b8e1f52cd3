import { requireService } from '../../auth/viewer.js';
import type { GraphQLContext } from '../../context.js';
import { unavailable } from '../../core/errors.js';
import { experimentReport, type ExperimentReport } from '../../experiments/report.js';
import { createModelRegistry } from '../../model/registry.js';

export interface ExperimentView extends ExperimentReport {
  /** Per arm, the version this instance serves right now (it trails the registry by a reload). */
  served: Map<string, string>;
}

export async function experiment(ctx: GraphQLContext): Promise<ExperimentView | null> {
  requireService(ctx.viewer);
  const { redis, keys, ranking } = ctx.services;
  let report: ExperimentReport | null;
  try {
    report = await experimentReport(createModelRegistry(redis, keys), redis, keys);
  } catch (error) {
    ctx.log.warn({ err: error }, 'reading the experiment failed');
    throw unavailable('the experiment cannot be read right now (Redis); retry');
  }
  if (!report) return null;
  const served = new Map(ranking.models.serving().arms.map((a) => [a.name, a.version]));
  return { ...report, served };
}
