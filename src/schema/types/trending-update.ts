import { builder } from '../builder.js';
import { TrendingItem } from './item.js';
import type { TrendingUpdate as TrendingUpdateShape } from '../../live/hub.js';
import { trendingUpdated } from '../../resolvers/subscriptions/trending-updated.js';

export const TrendingUpdate = builder.objectRef<TrendingUpdateShape>('TrendingUpdate').implement({
  description: 'A trending list pushed to a subscriber, with what changed since the previous push.',
  fields: (t) => ({
    items: t.field({ type: [TrendingItem], description: 'The list, fastest-gaining first.', resolve: (u) => u.items }),
    entered: t.exposeIDList('entered', {
      description: 'Items the previous push did not have (every item on the first push).',
    }),
    left: t.exposeIDList('left', { description: 'Items of the previous push that this list no longer has.' }),
  }),
});

builder.subscriptionField('trendingUpdated', (t) =>
  t.field({
    type: TrendingUpdate,
    description:
      'Trending items now, then again whenever the list changes (checked at most once per TRENDING_PUSH_INTERVAL_MS ' +
      'per category, for all subscribers together). Anyone may subscribe.',
    args: {
      category: t.arg.string({ required: false, description: 'Only this category; all items when omitted.' }),
      first: t.arg.int({ required: false, defaultValue: 20, description: 'How many (1 to 100).' }),
    },
    subscribe: (_root, args, ctx) => trendingUpdated(ctx, { category: args.category, first: args.first }),
    resolve: (update) => update,
  }),
);
