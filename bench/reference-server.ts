/**
 * The reference endpoint for throughput ratios: a bare graphql-yoga server over node:http with no
 * I/O. `recommendations` has the service's signature and answer shape but returns a fixed list of
 * 20 items, so the same request bodies cost it only HTTP, parsing, validation and serialisation.
 * It must accept every field and argument the client's `Recommendations` operation names
 * (operations/recommendations.graphql), or the bench's bodies fail validation here.
 * Started as its own process by the bench.
 */
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';

const feed = {
  modelVersion: 'fixed',
  arm: null,
  computeMs: 0,
  computedAt: new Date(0).toISOString(),
  degraded: false,
  items: Array.from({ length: 20 }, (_, i) => ({
    item: { id: `item-${i}`, category: 'fixed', tags: ['fixed'] },
    score: 1 - i / 20,
    rank: i + 1,
    reasons: ['fixed'],
  })),
};

const yoga = createYoga({
  logging: false,
  schema: createSchema({
    typeDefs: /* GraphQL */ `
      type Item {
        id: ID!
        category: String
        tags: [String!]!
      }
      type FeedItem {
        item: Item!
        score: Float!
        rank: Int!
        reasons: [String!]!
      }
      type Feed {
        items: [FeedItem!]!
        modelVersion: String!
        arm: String
        computeMs: Float!
        computedAt: String!
        degraded: Boolean!
      }
      type Query {
        recommendations(userId: ID, first: Int = 20, candidates: [ID!], exclude: [ID!]): Feed!
      }
      type Mutation {
        record(userId: ID!, itemId: ID!): String!
      }
    `,
    resolvers: { Query: { recommendations: () => feed }, Mutation: { record: () => '0' } },
  }),
});
// The request listener sends yoga's own error responses; it never rejects.
const server = createServer(yoga.requestListener);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/graphql` })}\n`,
  );
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
