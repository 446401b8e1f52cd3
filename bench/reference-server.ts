/**
 * The reference endpoint for throughput ratios: a bare graphql-yoga server over node:http that
 * answers every operation with a fixed list of 20 items. Started as its own process by the bench.
 */
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';

const items = Array.from({ length: 20 }, (_, i) => ({ id: `item-${i}`, score: 1 - i / 20 }));
const yoga = createYoga({
  logging: false,
  schema: createSchema({
    typeDefs: /* GraphQL */ `
      type Item {
        id: ID!
        score: Float!
      }
      type Query {
        items: [Item!]!
      }
      type Mutation {
        record(userId: ID!, itemId: ID!): String!
      }
    `,
    resolvers: { Query: { items: () => items }, Mutation: { record: () => '0' } },
  }),
});
const server = createServer(yoga);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/graphql` })}\n`,
  );
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
