import type { GraphQLContext } from '../../context.js';
import type { TrendingUpdate } from '../../live/hub.js';
import { trending } from '../queries/items.js';

/** Trending for anonymous screens: the list now (as the `trending` query answers), then its changes. */
export async function trendingUpdated(
  ctx: GraphQLContext,
  args: { category?: string | null; first?: number | null },
): Promise<AsyncIterableIterator<TrendingUpdate>> {
  const initial = await trending(ctx, args.category, args.first ?? 20);
  // Anonymous screens draw on a budget of their own, so they cannot take signed-in users' room;
  // a user's trending lists count against their per-user cap, as their feeds do.
  const { viewer } = ctx;
  const subscription = ctx.domain.live.openTrending(
    args.category ?? null,
    args.first ?? 20,
    viewer.role === 'anonymous' ? { anonymous: true } : { anonymous: false, userId: viewer.userId },
  );
  subscription.initial(initial);
  // The context lives as long as the subscription: no logger of its own (see Domain.log).
  ctx.log = ctx.domain.log;
  return subscription.updates;
}
