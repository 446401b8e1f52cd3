import { isService } from '../../auth/viewer.js';
import type { GraphQLContext } from '../../context.js';

/**
 * The readiness check as a query. Why a dependency is down (error texts, broker and Redis
 * addresses) is for operators: only service callers see it; everyone else sees up or down.
 */
export async function serviceStatus(
  ctx: Pick<GraphQLContext, 'viewer'> & { domain: Pick<GraphQLContext['domain'], 'readiness'> },
) {
  const checks = await ctx.domain.readiness();
  const detailed = isService(ctx.viewer);
  return {
    ready: checks.every((c) => c.up),
    dependencies: checks.map((c) => ({ name: c.name, up: c.up, detail: detailed ? (c.detail ?? null) : null })),
  };
}
