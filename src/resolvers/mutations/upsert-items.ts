import { requireService } from '../../auth/viewer.js';
import type { GraphQLContext } from '../../context.js';
import type { ItemRequest } from '../../ingest/interactions.js';
import type { ItemShape } from '../shapes.js';

export async function upsertItems(ctx: GraphQLContext, inputs: ItemRequest[]): Promise<{ items: ItemShape[] }> {
  requireService(ctx.viewer);
  const stored = await ctx.domain.ingest.upsertItems(inputs);
  return {
    items: stored.map(({ item }) => ({
      id: item.itemId,
      category: item.category,
      tags: item.tags,
      authorId: item.authorId,
      createdAt: item.createdAt === null ? null : new Date(item.createdAt),
    })),
  };
}
