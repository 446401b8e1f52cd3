import { lexicographicSortSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './types/scalars.js';
import './types/status.js';
import './types/interaction.js';
import './types/item.js';
import './types/profile.js';
import './types/user-features.js';
import './types/feed.js';
import './types/experiment.js';
import './types/feed-update.js';
import './types/trending-update.js';

builder.queryType({ description: 'Reads: recommendations, features, items and service status.' });
builder.mutationType({ description: 'Writes: behaviour events, catalogue entries and declared interests.' });
builder.subscriptionType({
  description: 'Live updates over WebSocket (graphql-ws) or SSE: refreshed feeds and trending lists, pushed on change.',
});

/** The executable schema, sorted so that the printed `schema.graphql` diffs stay readable. */
export const schema: GraphQLSchema = lexicographicSortSchema(builder.toSchema());
