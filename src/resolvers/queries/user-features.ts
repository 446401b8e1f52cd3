import { requireService } from '../../auth/viewer.js';
import type { GraphQLContext } from '../../context.js';
import { badInput, unavailable } from '../../errors.js';
import { isValidId } from '../../streams/events.js';

export async function userFeatures(ctx: GraphQLContext, userId: string) {
  requireService(ctx.viewer);
  if (!isValidId(userId)) throw badInput('userId is not a valid id', 'userId');
  try {
    return await ctx.loaders.userRealtime.load(userId);
  } catch (error) {
    ctx.log.warn({ err: error, userId }, 'reading user features failed');
    throw unavailable('features are unavailable right now (Redis); retry');
  }
}
