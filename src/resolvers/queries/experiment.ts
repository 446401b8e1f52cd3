import { requireService } from '../../auth/viewer.js';
import type { GraphQLContext } from '../../context.js';
import type { ExperimentView } from '../../experiments/view.js';

export type { ExperimentView };

/** The running experiment (services only: it shows every arm's outcomes). */
export function experiment(ctx: GraphQLContext): Promise<ExperimentView | null> {
  requireService(ctx.viewer);
  return ctx.domain.experiments.view(ctx.log);
}
