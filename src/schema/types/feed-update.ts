import { builder } from '../builder.js';
import { Feed } from './feed.js';
import type { FeedUpdate as FeedUpdateShape } from '../../live/hub.js';
import { feedUpdated } from '../../resolvers/subscriptions/feed-updated.js';

export const FeedTrigger = builder.enumType('FeedTrigger', {
  description:
    'Why a feed was pushed. The values are lower case, as the strings this field carried before it was an enum.',
  values: {
    subscribed: { description: 'The feed at subscription time: the first payload of every subscription.' },
    behaviour: {
      description:
        "The user's behaviour (their recorded interactions) changed their features, and with them the feed's items or order.",
    },
    tag: {
      description:
        'A behaviour pattern set or withdrew a tag on the user (`triggerDetail` names it, e.g. `pet_lover set`). ' +
        'Pushed even when the items stay the same: the tag shows in the reasons and the user features.',
    },
    model: {
      description:
        'This instance started serving another model version (`triggerDetail`: the version, or `arm version` pairs).',
    },
    experiment: {
      description:
        'The experiment changed without a new version, e.g. arm shares or a promotion (`triggerDetail`: `experiment <id> revision <n>`).',
    },
    batch: {
      description:
        'A batch job recomputed features, e.g. the daily long-horizon preferences (`triggerDetail`: the run).',
    },
  } as const,
});

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
    trigger: t.expose('trigger', {
      type: FeedTrigger,
      description:
        'Why it was pushed. Apart from `subscribed` and `tag`, a push means the items or their order changed.',
    }),
    triggerDetail: t.exposeString('triggerDetail', {
      nullable: true,
      description:
        'What exactly caused it, for people: the tags set or withdrawn (`pet_lover set, night_owl withdrawn`), the ' +
        'model version now served, the experiment revision, the batch run. Null for `subscribed` and `behaviour`.',
    }),
  }),
});

builder.subscriptionField('feedUpdated', (t) =>
  t.field({
    type: FeedUpdate,
    description:
      "The viewer's feed now, then again whenever their behaviour changes its top `first` items (re-ranked at most " +
      'once per FEED_PUSH_INTERVAL_MS; nothing is pushed when the items stay the same, unless a tag was set or ' +
      'withdrawn), and when a model or experiment swap or a batch changes them (every subscribed user re-ranked at ' +
      'most LIVE_REFRESH_PER_SEC per second per instance). `trigger` says which.',
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
