import { builder } from '../builder.js';
import { upsertItems } from '../../resolvers/mutations/upsert-items.js';

export interface ItemShape {
  id: string;
  category: string | null;
  tags: string[];
  authorId: string | null;
  createdAt: Date | null;
}

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
  }),
});

const ItemInput = builder.inputType('ItemInput', {
  description: 'A catalogue entry to create or replace.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The catalogue id.' }),
    category: t.string({ required: false, description: 'The category (an id-like name such as "pets").' }),
    tags: t.stringList({ required: false, description: 'Up to 32 tags.' }),
    authorId: t.id({ required: false, description: 'Who published it.' }),
    createdAt: t.field({ type: 'DateTime', required: false, description: 'When it was published. Defaults to now.' }),
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
