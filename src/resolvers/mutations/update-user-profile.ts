import { actingUser } from '../../auth/viewer.js';
import type { GraphQLContext } from '../../context.js';

export async function updateUserProfile(ctx: GraphQLContext, input: { userId?: string | null; interests: string[] }) {
  const userId = actingUser(ctx.viewer, input.userId);
  const profile = await ctx.domain.ingest.updateProfile({ userId, interests: input.interests });
  return { userId: profile.userId, interests: profile.interests, updatedAt: new Date(profile.updatedAt) };
}
