import type { GraphQLContext } from '../../context.js';
import type { FeedUpdate } from '../../live/hub.js';
import { LazyLoaders } from '../../loaders/index.js';
import { feedTarget, recommendations } from '../queries/recommendations.js';

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
    // This context lives as long as the subscription (every push is executed with it), and its
    // loaders hold every feature the first feed read; pushes are ranked with loaders of their own,
    // so an idle subscription need not hold those reads, nor a logger of its own.
    forgetReads(ctx);
    ctx.log = ctx.domain.log;
  }
  return subscription.updates;
}

/**
 * Swaps the context's loaders for ones created on first use. Clearing their caches is not enough:
 * each DataLoader also keeps its last batch (keys and callbacks) until a new one starts. A plain
 * assignment keeps the context's shape (redefining `loaders` as an accessor turned every idle
 * subscription's context into a dictionary of its own, 832 bytes of it).
 */
function forgetReads(ctx: GraphQLContext) {
  ctx.loaders = new LazyLoaders(ctx.domain);
}
