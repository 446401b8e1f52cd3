import { builder } from '../builder.js';
import { itemShape } from '../../resolvers/shapes.js';
import { Item } from './item.js';
import { recommendations } from '../../resolvers/queries/recommendations.js';
import type { Feed as FeedShape, FeedEntry } from '../../ranking/ranker.js';

export const FeedItem = builder.objectRef<FeedEntry>('FeedItem').implement({
  description: 'One entry of a feed, with why it is there.',
  fields: (t) => ({
    item: t.field({ type: Item, description: 'The item.', resolve: (e) => itemShape(e.item) }),
    score: t.exposeFloat('score', {
      description:
        "The blended score the feed is ordered by (the model's real-time score and long-horizon preferences).",
    }),
    rank: t.exposeInt('rank', { description: 'Position in the feed, from 1.' }),
    reasons: t.exposeStringList('reasons', {
      description: 'Why this item, in words, e.g. "3 pets items liked in the last 5 minutes".',
    }),
  }),
});

export const Feed = builder.objectRef<FeedShape>('Feed').implement({
  description: "A user's ranked feed.",
  fields: (t) => ({
    items: t.field({ type: [FeedItem], description: 'The entries, best first.', resolve: (f) => f.items }),
    modelVersion: t.exposeString('modelVersion', {
      description: 'The ranking model that scored it ("fallback:trending" when degraded).',
    }),
    arm: t.string({
      nullable: true,
      description:
        'The experiment arm the user is in, whose model scored the feed; the same on every request and instance while the experiment is unchanged. Null on a fallback feed.',
      resolve: (f) => f.arm ?? null,
    }),
    computedAt: t.field({
      type: 'DateTime',
      description: 'When it was computed (a cached feed keeps its time).',
      resolve: (f) => new Date(f.computedAt),
    }),
    computeMs: t.exposeFloat('computeMs', { description: 'Server time spent computing it, in milliseconds.' }),
    degraded: t.exposeBoolean('degraded', {
      description:
        'True when personal features could not be read and this is a fallback (the last known trending items), not personalised.',
    }),
  }),
});

builder.queryField('recommendations', (t) =>
  t.field({
    type: Feed,
    description:
      "The viewer's next feed: recalled candidates (or the supplied ones) scored in one model run, blended, diversified, with reasons.",
    args: {
      userId: t.arg.id({
        required: false,
        description: 'Whose feed. Defaults to the viewer; only a service may name a user.',
      }),
      first: t.arg.int({ required: false, defaultValue: 20, description: 'How many entries (1 to 100).' }),
      candidates: t.arg.idList({
        required: false,
        description: 'Re-rank these items (up to 500) instead of recalling candidates; hidden items are still removed.',
      }),
      exclude: t.arg.idList({
        required: false,
        description: 'Items never to return (up to 500), e.g. those on screen.',
      }),
    },
    // ID arguments arrive as strings (graphql-js coerces an integer ID to its string): the lists,
    // up to 500 ids each, are passed on as they are.
    resolve: (_root, args, ctx) =>
      recommendations(ctx, {
        userId: args.userId === null || args.userId === undefined ? null : String(args.userId),
        first: args.first,
        candidates: args.candidates,
        exclude: args.exclude,
      }),
  }),
);
