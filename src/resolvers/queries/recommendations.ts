import { actingUser } from '../../auth/viewer.js';
import type { GraphQLContext } from '../../context.js';
import { AppError, badInput, unavailable } from '../../core/errors.js';
import type { Feed } from '../../ranking/ranker.js';
import { isValidId } from '../../core/events.js';

export interface RecommendationsArgs {
  userId?: string | null;
  first?: number | null;
  candidates?: readonly string[] | null;
  exclude?: readonly string[] | null;
}

function checkIds(ids: readonly string[] | null | undefined, field: string, max: number) {
  if (!ids) return;
  if (ids.length > max) throw badInput(`${field} takes at most ${max} ids, got ${ids.length}`, field);
  const bad = ids.findIndex((id) => !isValidId(id));
  if (bad >= 0) throw badInput(`${field}[${bad}] is not a valid id`, field);
}

/** Whose feed and how long: the identity and size rules every feed field shares (query and subscription). */
export function feedTarget(
  ctx: GraphQLContext,
  args: Pick<RecommendationsArgs, 'userId' | 'first'>,
): { userId: string; first: number } {
  const { config } = ctx.services;
  const userId = actingUser(ctx.viewer, args.userId);
  if (!isValidId(userId)) throw badInput('userId is not a valid id', 'userId');
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 1 || first > config.ranking.maxFirst)
    throw badInput(`first must be from 1 to ${config.ranking.maxFirst}`, 'first');
  return { userId, first };
}

export async function recommendations(ctx: GraphQLContext, args: RecommendationsArgs): Promise<Feed> {
  const { config, ranking, metrics } = ctx.services;
  const { userId, first } = feedTarget(ctx, args);
  checkIds(args.candidates, 'candidates', config.ranking.maxCandidates);
  checkIds(args.exclude, 'exclude', config.ranking.maxCandidates);

  const key = JSON.stringify([first, args.candidates ?? null, args.exclude ?? null]);
  const cached = ranking.cache.get(userId, key);
  if (cached) {
    metrics.feedsServed.inc({ outcome: 'cached' });
    return cached;
  }
  try {
    const feed = await ranking.ranker.rank(ctx.loaders, {
      userId,
      first,
      candidates: args.candidates,
      exclude: args.exclude,
    });
    ranking.cache.set(userId, key, feed);
    metrics.feedsServed.inc({ outcome: 'computed' });
    metrics.recommendationDuration.observe({ source: args.candidates ? 'supplied' : 'recall' }, feed.computeMs);
    return feed;
  } catch (error) {
    if (error instanceof AppError) throw error;
    ctx.log.warn({ err: error, userId }, 'computing a feed failed; answering degraded if possible');
    const fallback = ranking.ranker.degradedFeed(userId, first);
    if (fallback) {
      metrics.feedsServed.inc({ outcome: 'degraded' });
      return fallback;
    }
    throw unavailable('recommendations are unavailable right now (features cannot be read); retry');
  }
}
