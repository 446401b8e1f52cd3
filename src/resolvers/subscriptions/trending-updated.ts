import type { GraphQLContext } from '../../context.js';
import type { TrendingUpdate } from '../../live/hub.js';
import { trending } from '../queries/items.js';
import { releaseFirstResult } from './idle-context.js';

/** Trending for anonymous screens: the list now (as the `trending` query answers), then its changes. */
export async function trendingUpdated(
  ctx: GraphQLContext,
  args: { category?: string | null; first?: number | null },
): Promise<AsyncIterableIterator<TrendingUpdate>> {
  let initial: Awaited<ReturnType<typeof trending>>;
  try {
    initial = await trending(ctx, args.category, args.first ?? 20);
  } finally {
    releaseFirstResult(ctx);
  }
  // Anonymous screens draw on a budget of their own, so they cannot take signed-in users' room;
  // a user's trending lists count against their per-user cap, as their feeds do.
  const { viewer } = ctx;
  const subscription = ctx.domain.live.openTrending(
    args.category ?? null,
    args.first ?? 20,
    viewer.role === 'anonymous' ? { anonymous: true } : { anonymous: false, userId: viewer.userId },
  );
  subscription.initial(initial);
  return subscription.updates;
}
