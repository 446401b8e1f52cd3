import type { GraphQLContext } from '../../context.js';
import { badInput, unavailable } from '../../core/errors.js';
import type { ItemFeatures } from '../../features/item-features.js';
import { isValidId } from '../../core/events.js';

/** One catalogue item, or null when the catalogue does not know it. */
export async function item(ctx: GraphQLContext, id: string): Promise<ItemFeatures | null> {
  if (!isValidId(id)) throw badInput('id is not a valid id', 'id');
  try {
    const found = await ctx.loaders.item.load(id);
    return found.known ? found : null;
  } catch (error) {
    ctx.log.warn({ err: error, itemId: id }, 'reading an item failed');
    throw unavailable('items are unavailable right now (Redis); retry');
  }
}

/** Trending items, globally or in one category; anyone may read them. */
export async function trending(
  ctx: GraphQLContext,
  category: string | null | undefined,
  first: number,
): Promise<{ item: ItemFeatures; score: number }[]> {
  if (category != null && !isValidId(category)) throw badInput('category is not a valid id', 'category');
  if (!Number.isInteger(first) || first < 1 || first > ctx.domain.limits.maxFirst)
    throw badInput(`first must be from 1 to ${ctx.domain.limits.maxFirst}`, 'first');
  try {
    const list = await ctx.domain.trending.get(category ?? null, Math.max(first, 20));
    const items = await ctx.loaders.item.loadMany(list.slice(0, first).map((t) => t.itemId));
    return list.slice(0, first).map((t, i) => {
      const it = items[i];
      if (it instanceof Error || it === undefined) throw it ?? new Error('missing item');
      return { item: it, score: t.score };
    });
  } catch (error) {
    ctx.log.warn({ err: error, category }, 'reading trending failed');
    throw unavailable('trending is unavailable right now (Redis); retry');
  }
}
