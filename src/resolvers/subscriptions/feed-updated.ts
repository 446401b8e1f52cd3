import type { GraphQLContext } from '../../context.js';
import type { FeedUpdate } from '../../live/hub.js';
import { feedTarget, recommendations } from '../queries/recommendations.js';
import { releaseFirstResult } from './idle-context.js';

/**
 * The viewer's live feed: the same identity rules and first snapshot as `recommendations`, then
 * the hub's pushes. The subscriber is registered before the snapshot is computed, so a change that
 * lands meanwhile is re-ranked rather than lost.
 */
export async function feedUpdated(
  ctx: GraphQLContext,
  args: { userId?: string | null; first?: number | null },
): Promise<AsyncIterableIterator<FeedUpdate>> {
  const { userId, first } = feedTarget(ctx, args);
  const subscription = ctx.domain.live.openFeed(userId, first);
  try {
    subscription.initial(await recommendations(ctx, { userId, first }));
  } catch (error) {
    await subscription.updates.return?.();
    throw error;
  } finally {
    releaseFirstResult(ctx);
  }
  return subscription.updates;
}
