import { builder } from '../builder.js';
import { Feed } from './feed.js';
import type { FeedUpdate as FeedUpdateShape } from '../../live/hub.js';
import { feedUpdated } from '../../resolvers/subscriptions/feed-updated.js';

export const FeedUpdate = builder.objectRef<FeedUpdateShape>('FeedUpdate').implement({
  description: 'A refreshed feed pushed to a subscriber, with what changed since the previous push.',
  fields: (t) => ({
    feed: t.field({
      type: Feed,
      description: 'The whole feed, as `recommendations` would answer now.',
      resolve: (u) => u.feed,
    }),
    entered: t.exposeIDList('entered', {
      description: 'Items in this feed that the previous push did not have (every item on the first push).',
    }),
    left: t.exposeIDList('left', { description: 'Items of the previous push that this feed no longer has.' }),
    trigger: t.exposeString('trigger', {
      nullable: true,
      description:
        'Why it was pushed: "subscribed" (the feed at subscription time) or "behaviour" (the user\'s features changed).',
    }),
  }),
});

builder.subscriptionField('feedUpdated', (t) =>
  t.field({
    type: FeedUpdate,
    description:
      "The viewer's feed now, then again whenever their behaviour changes its top `first` items (re-ranked at most " +
      'once per FEED_PUSH_INTERVAL_MS; nothing is pushed when the items stay the same).',
    args: {
      userId: t.arg.id({
        required: false,
        description: 'Whose feed. Defaults to the viewer; only a service may name a user.',
      }),
      first: t.arg.int({ required: false, defaultValue: 20, description: 'How many entries (1 to 100).' }),
    },
    subscribe: (_root, args, ctx) =>
      feedUpdated(ctx, {
        userId: args.userId === null || args.userId === undefined ? null : String(args.userId),
        first: args.first,
      }),
    resolve: (update) => update,
  }),
);
