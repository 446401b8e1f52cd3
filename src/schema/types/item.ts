import { builder } from '../builder.js';
import { upsertItems } from '../../resolvers/mutations/upsert-items.js';
import { item, trending } from '../../resolvers/queries/items.js';
import type { ItemFeatures } from '../../features/item-features.js';
import { itemShape, type ItemShape } from '../../resolvers/shapes.js';

export const Item = builder.objectRef<ItemShape>('Item').implement({
  description: 'A piece of content that can appear in a feed.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The catalogue id.' }),
    category: t.exposeString('category', { nullable: true, description: 'The item\'s category, e.g. "pets".' }),
    tags: t.exposeStringList('tags', { description: 'Free-form tags, e.g. ["corgi", "funny"].' }),
    authorId: t.exposeID('authorId', { nullable: true, description: 'Who published it.' }),
    createdAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When it was published: new items get an exploration slot.',
      resolve: (i) => i.createdAt,
    }),
    popularity: t.float({
      nullable: true,
      description:
        'Weighted actions on the item, halving every six hours (negative when skips and hides dominate); ' +
        'null when not read from the feature store.',
      resolve: (i) => i.popularity ?? null,
    }),
    trendingScore: t.float({
      nullable: true,
      description:
        'How fast the item is gaining engagement (weighted actions in the last hour, each 5-minute bucket ' +
        'halved every 15 minutes of age); set when the item comes from `trending`, else null.',
      resolve: (i) => i.trendingScore ?? null,
    }),
  }),
});

export const TrendingItem = builder.objectRef<{ item: ItemFeatures; score: number }>('TrendingItem').implement({
  description: 'An item and how fast it is gaining engagement.',
  fields: (t) => ({
    item: t.field({ type: Item, description: 'The item.', resolve: (e) => itemShape(e.item) }),
    score: t.exposeFloat('score', {
      description: 'Weighted actions in the last hour, each 5-minute bucket halved every 15 minutes of age.',
    }),
  }),
});

builder.queryField('item', (t) =>
  t.field({
    type: Item,
    nullable: true,
    description: 'A catalogue item, or null when the catalogue does not know it.',
    args: { id: t.arg.id({ required: true, description: 'The catalogue id.' }) },
    resolve: async (_root, args, ctx) => {
      const found = await item(ctx, String(args.id));
      return found ? itemShape(found) : null;
    },
  }),
);

builder.queryField('trending', (t) =>
  t.field({
    type: [Item],
    description: 'Items gaining engagement fastest right now, globally or in one category. Anyone may read it.',
    args: {
      category: t.arg.string({ required: false, description: 'Only this category; all items when omitted.' }),
      first: t.arg.int({ required: false, defaultValue: 20, description: 'How many (1 to 100).' }),
    },
    resolve: async (_root, args, ctx) =>
      (await trending(ctx, args.category, args.first ?? 20)).map((e) => ({
        ...itemShape(e.item),
        trendingScore: e.score,
      })),
  }),
);

const ItemInput = builder.inputType('ItemInput', {
  description: 'A catalogue entry to create or replace.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The catalogue id.' }),
    category: t.string({ required: false, description: 'The category (an id-like name such as "pets").' }),
    tags: t.stringList({ required: false, description: 'Up to 32 tags.' }),
    authorId: t.id({ required: false, description: 'Who published it.' }),
    createdAt: t.field({
      type: 'DateTime',
      required: false,
      description:
        'When it was published. Omitted: its age is unknown, and it is never treated as new (no exploration slot).',
    }),
  }),
});

const UpsertItemsPayload = builder.objectRef<{ items: ItemShape[] }>('UpsertItemsPayload').implement({
  description: 'The catalogue entries, durable in Kafka; item metadata in Redis follows within moments.',
  fields: (t) => ({
    items: t.field({ type: [Item], description: 'The items as stored.', resolve: (p) => p.items }),
  }),
});

builder.mutationField('upsertItems', (t) =>
  t.field({
    type: UpsertItemsPayload,
    description: 'Creates or replaces catalogue entries (service callers only).',
    args: { inputs: t.arg({ type: [ItemInput], required: true, description: 'Up to 500 items.' }) },
    resolve: (_root, args, ctx) => upsertItems(ctx, args.inputs),
  }),
);
