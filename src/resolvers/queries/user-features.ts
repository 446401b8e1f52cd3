import { requireService } from '../../auth/viewer.js';
import type { GraphQLContext } from '../../context.js';
import { badInput, unavailable } from '../../core/errors.js';
import { isValidId } from '../../core/events.js';

/** Redis failures reach the client as a retryable UNAVAILABLE, logged with the user. */
async function readOrUnavailable<T>(ctx: GraphQLContext, userId: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    ctx.log.warn({ err: error, userId }, 'reading user features failed');
    throw unavailable('features are unavailable right now (Redis); retry');
  }
}

export async function userFeatures(ctx: GraphQLContext, userId: string) {
  requireService(ctx.viewer);
  if (!isValidId(userId)) throw badInput('userId is not a valid id', 'userId');
  return readOrUnavailable(ctx, userId, () => ctx.loaders.userRealtime.load(userId));
}

/** The long-horizon part of userFeatures (the caller was checked there). */
export const userLongHorizon = (ctx: GraphQLContext, userId: string) =>
  readOrUnavailable(ctx, userId, () => ctx.loaders.userLongHorizon.load(userId));
