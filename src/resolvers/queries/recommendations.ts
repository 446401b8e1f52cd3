import { actingUser } from '../../auth/viewer.js';
import type { GraphQLContext } from '../../context.js';
import { badInput } from '../../core/errors.js';
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
  const { maxFirst } = ctx.domain.limits;
  const userId = actingUser(ctx.viewer, args.userId);
  if (!isValidId(userId)) throw badInput('userId is not a valid id', 'userId');
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 1 || first > maxFirst)
    throw badInput(`first must be from 1 to ${maxFirst}`, 'first');
  return { userId, first };
}

export function recommendations(ctx: GraphQLContext, args: RecommendationsArgs): Promise<Feed> {
  const { limits, feeds } = ctx.domain;
  const { userId, first } = feedTarget(ctx, args);
  checkIds(args.candidates, 'candidates', limits.maxCandidates);
  checkIds(args.exclude, 'exclude', limits.maxCandidates);
  return feeds.serve(ctx.loaders, { userId, first, candidates: args.candidates, exclude: args.exclude }, ctx.log);
}
