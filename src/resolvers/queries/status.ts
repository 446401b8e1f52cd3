import type { GraphQLContext } from '../../context.js';

export async function serviceStatus(ctx: GraphQLContext) {
  const checks = await ctx.domain.readiness();
  return {
    ready: checks.every((c) => c.up),
    dependencies: checks.map((c) => ({ name: c.name, up: c.up, detail: c.detail ?? null })),
  };
}
