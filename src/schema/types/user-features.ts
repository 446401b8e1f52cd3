import { builder } from '../builder.js';
import { InteractionAction } from './interaction.js';
import { userFeatures } from '../../resolvers/queries/user-features.js';
import type { UserWindows, WindowCount } from '../../features/user-features.js';

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

const FeatureWindow = builder.objectRef<UserWindows['windows'][number]>('FeatureWindow').implement({
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

const UserFeatures = builder.objectRef<UserWindows>('UserFeatures').implement({
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
