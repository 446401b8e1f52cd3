import { builder } from '../builder.js';
import { updateUserProfile } from '../../resolvers/mutations/update-user-profile.js';

const UserProfile = builder
  .objectRef<{ userId: string; interests: string[]; updatedAt: Date }>('UserProfile')
  .implement({
    description: "A user's declared interests, used for cold start before they have behaviour of their own.",
    fields: (t) => ({
      userId: t.exposeID('userId', { description: 'The user.' }),
      interests: t.exposeStringList('interests', { description: 'Declared categories of interest.' }),
      updatedAt: t.field({
        type: 'DateTime',
        description: 'When they were last declared.',
        resolve: (p) => p.updatedAt,
      }),
    }),
  });

const UserProfileInput = builder.inputType('UserProfileInput', {
  description: 'Interests a user declares, e.g. at sign-up.',
  fields: (t) => ({
    userId: t.id({ required: false, description: 'Defaults to the viewer; only a service may name another user.' }),
    interests: t.stringList({ required: true, description: 'Up to 32 categories, e.g. ["pets", "travel"].' }),
  }),
});

builder.mutationField('updateUserProfile', (t) =>
  t.field({
    type: UserProfile,
    description: "Replaces a user's declared interests.",
    args: { input: t.arg({ type: UserProfileInput, required: true, description: 'The interests.' }) },
    resolve: (_root, args, ctx) => updateUserProfile(ctx, args.input),
  }),
);
