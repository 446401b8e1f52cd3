import { builder } from '../builder.js';
import { InteractionAction } from './interaction.js';
import { userFeatures, userLongHorizon } from '../../resolvers/queries/user-features.js';
import type { TimedItem, UserLongHorizon, UserRealtime, WindowCount } from '../../features/user-features.js';
import type { UserTag } from '../../features/definitions.js';

const WindowCountRef = builder.objectRef<WindowCount>('WindowCount').implement({
  description: 'How many times the user did one action on items of one category within a window.',
  fields: (t) => ({
    category: t.exposeString('category', {
      description: 'Item category ("_unknown" for items not in the catalogue yet).',
    }),
    action: t.field({ type: InteractionAction, description: 'The action.', resolve: (c) => c.action }),
    count: t.exposeInt('count', { description: 'Events counted (each eventId once).' }),
  }),
});

const FeatureWindow = builder.objectRef<UserRealtime['windows'][number]>('FeatureWindow').implement({
  description: 'An event-time sliding window of behaviour counts.',
  fields: (t) => ({
    window: t.exposeString('window', { description: '"5m" (slides by 1 minute) or "1h" (slides by 5 minutes).' }),
    endsAt: t.field({
      type: 'DateTime',
      description: 'The event time the window ends at.',
      resolve: (w) => new Date(w.endsAt),
    }),
    counts: t.field({
      type: [WindowCountRef],
      description: 'Non-zero counts by category and action.',
      resolve: (w) => w.counts,
    }),
  }),
});

const CategoryAffinity = builder.objectRef<{ category: string; score: number }>('CategoryAffinity').implement({
  description:
    "A user's short-term interest in a category: their weighted actions on it, halving every two hours " +
    '(shares count most; skips and hides count against).',
  fields: (t) => ({
    category: t.exposeString('category', { description: 'The category.' }),
    score: t.exposeFloat('score', { description: 'Decayed weighted sum at the time of the request.' }),
  }),
});

const RecentItem = builder.objectRef<TimedItem>('RecentItem').implement({
  description: 'An item the user acted on, with the event time of their latest action on it.',
  fields: (t) => ({
    itemId: t.exposeID('itemId', { description: 'The item.' }),
    at: t.field({ type: 'DateTime', description: 'Event time of the latest action.', resolve: (r) => new Date(r.at) }),
  }),
});

const CategoryPreference = builder.objectRef<UserLongHorizon['preferences'][number]>('CategoryPreference').implement({
  description: "A category's share of the user's positive weight over the long horizon (30 days).",
  fields: (t) => ({
    category: t.exposeString('category', { description: 'The category.' }),
    share: t.exposeFloat('share', { description: 'From 0 to 1; the shares of a user sum to 1.' }),
  }),
});

const ActionTotal = builder.objectRef<UserLongHorizon['totals'][number]>('ActionTotal').implement({
  description: 'How many events of one action the user had over the long horizon.',
  fields: (t) => ({
    action: t.field({ type: InteractionAction, description: 'The action.', resolve: (a) => a.action }),
    count: t.exposeInt('count', { description: 'Events (each eventId once).' }),
  }),
});

const LongHorizon = builder.objectRef<UserLongHorizon>('LongHorizonPreferences').implement({
  description: 'Preferences the daily batch computed from the last 30 days of the behaviour log.',
  fields: (t) => ({
    version: t.exposeString('version', {
      nullable: true,
      description: 'The batch run that wrote them; null when no run has covered this user yet.',
    }),
    computedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When that run finished.',
      resolve: (l) => (l.computedAt === null ? null : new Date(l.computedAt)),
    }),
    preferences: t.field({
      type: [CategoryPreference],
      description: 'Category shares, strongest first.',
      resolve: (l) => l.preferences,
    }),
    totals: t.field({ type: [ActionTotal], description: 'Events per action.', resolve: (l) => l.totals }),
  }),
});

const UserTagRef = builder.objectRef<UserTag>('UserTag').implement({
  description:
    'A tag a behaviour pattern (patterns.json) set on the user when their events, in event-time order, ' +
    'completed the rule; it holds until `until`.',
  fields: (t) => ({
    tag: t.exposeString('tag', { description: 'The tag, e.g. "pet_lover".' }),
    since: t.field({
      type: 'DateTime',
      description: 'Event time the current activation started (overlapping matches extend it).',
      resolve: (g) => new Date(g.since),
    }),
    until: t.field({
      type: 'DateTime',
      description: "The latest match's last event time plus the rule's tag TTL.",
      resolve: (g) => new Date(g.until),
    }),
    rule: t.exposeString('rule', { description: 'The rule whose match set `until`.' }),
    reason: t.exposeString('reason', { description: 'Why, in words: "3 pet videos in a row".' }),
    eventIds: t.exposeIDList('eventIds', { description: "That match's events, in event-time order." }),
  }),
});

const UserFeatures = builder.objectRef<UserRealtime>('UserFeatures').implement({
  description: 'What the ranking sees for a user: for debugging and explanations.',
  fields: (t) => ({
    userId: t.exposeID('userId', { description: 'The user.' }),
    latestEventAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: "The user's latest applied event time; windows end there.",
      resolve: (f) => (f.latestEventAt === null ? null : new Date(f.latestEventAt)),
    }),
    windows: t.field({
      type: [FeatureWindow],
      description: 'Window counts, shortest window first.',
      resolve: (f) => f.windows,
    }),
    affinities: t.field({
      type: [CategoryAffinity],
      description: 'Decayed category affinity, strongest first.',
      resolve: (f) => f.affinity,
    }),
    recentItems: t.field({
      type: [RecentItem],
      args: { first: t.arg.int({ defaultValue: 20, description: 'How many, newest first (at most 200).' }) },
      description: 'Items the user acted on, newest first: excluded from their recommendations.',
      resolve: (f, args) => f.recentItems.slice(0, Math.max(0, Math.min(args.first ?? 20, 200))),
    }),
    hiddenItems: t.idList({
      description: 'Items the user marked "not interested": never recommended to them again.',
      resolve: (f) => f.hiddenItems,
    }),
    interests: t.stringList({
      description: 'Declared interests (updateUserProfile), used for cold start.',
      resolve: (f) => f.interests,
    }),
    tags: t.field({
      type: [UserTagRef],
      description: 'Tags behaviour patterns set on the user that hold now, by tag name.',
      resolve: (f) => f.tags,
    }),
    longHorizon: t.field({
      type: LongHorizon,
      description: '30-day preferences and totals from the daily batch.',
      resolve: (f, _args, ctx) => userLongHorizon(ctx, f.userId),
    }),
  }),
});

builder.queryField('userFeatures', (t) =>
  t.field({
    type: UserFeatures,
    description: "A user's real-time features (service callers only).",
    args: { userId: t.arg.id({ required: true, description: 'The user.' }) },
    resolve: (_root, args, ctx) => userFeatures(ctx, String(args.userId)),
  }),
);
