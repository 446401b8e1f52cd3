import { parse } from 'graphql';
import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { compiledFor, RUNS_BEFORE_COMPILING, useCompiledQueries } from '../../src/http/compiled-execution.js';

const schema = createSchema({
  typeDefs: /* GraphQL */ `
    type Item {
      id: ID!
      rank: Int!
    }
    type Query {
      items(ids: [ID!]!, first: Int = 2): [Item!]!
      fails: Int
    }
  `,
  resolvers: {
    Query: {
      items: (_: unknown, a: { ids: string[]; first: number }) =>
        a.ids.slice(0, a.first).map((id, i) => ({ id, rank: i + 1 })),
      fails: () => {
        throw new Error('refused');
      },
    },
  },
});

const yoga = createYoga({ schema, logging: false, maskedErrors: false, plugins: [useCompiledQueries()] });
const post = async (query: string, variables?: Record<string, unknown>) => {
  const res = await yoga.fetch('http://local/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: unknown; errors?: { message: string; path?: string[] }[] };
};

describe('compiled queries', () => {
  it('compiles a document only once it comes again, and answers the same either way', async () => {
    const document = parse('query Q($ids: [ID!]!) { items(ids: $ids) { id rank } }');
    const args = { schema, document, operationName: 'Q' };
    for (let i = 0; i < RUNS_BEFORE_COMPILING; i++) expect(compiledFor(args)).toBeNull();
    expect(compiledFor(args)).not.toBeNull();

    const query = 'query Q($ids: [ID!]!, $first: Int) { items(ids: $ids, first: $first) { id rank } }';
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await post(query, { ids: ['a', 'b', 'c'], first: 2 }));
    expect(answers[0]).toEqual({
      data: {
        items: [
          { id: 'a', rank: 1 },
          { id: 'b', rank: 2 },
        ],
      },
    });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });

  it('reports variables that do not fit their types, and resolver errors, as the interpreter does', async () => {
    const query = 'query Q($ids: [ID!]!, $first: Int) { items(ids: $ids, first: $first) { id } }';
    for (let i = 0; i < 3; i++) {
      const wrong = await post(query, { ids: ['a'], first: 'ten' });
      expect(wrong.data).toBeUndefined();
      expect(wrong.errors?.[0]?.message).toMatch(/^Variable "\$first" got invalid value "ten"/);
      const nullInList = await post(query, { ids: ['a', null] });
      expect(nullInList.errors?.[0]?.message).toMatch(/^Variable "\$ids" got invalid value/);
      const failed = await post('{ fails }');
      expect(failed).toMatchObject({ data: { fails: null }, errors: [{ message: 'refused', path: ['fails'] }] });
    }
  });
});
