import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, type Client } from 'graphql-ws';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { AppError } from '../../src/core/errors.js';
import { maskError, type Yoga } from '../../src/http/graphql.js';
import { createWebSocketEndpoint } from '../../src/http/websocket.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';

/**
 * Subscriptions over the WebSocket are run by graphql-js directly, outside the envelope: their
 * errors must still reach clients masked and coded exactly as a query's do.
 */
const schema = createSchema({
  typeDefs: /* GraphQL */ `
    type Query {
      ok: Boolean
    }
    type Subscription {
      leaks: String
      refused: String
      breaks: String
      ticks: Int
    }
  `,
  resolvers: {
    Subscription: {
      leaks: {
        subscribe: async function* () {
          yield {};
        },
        resolve: () => {
          throw new Error('connection string postgres://admin:hunter2@db');
        },
      },
      refused: {
        subscribe: () => {
          throw new AppError('FORBIDDEN', 'not your feed');
        },
      },
      breaks: {
        subscribe: async function* () {
          yield { breaks: 'first' };
          throw new Error('stream failed at 10.0.0.7');
        },
      },
      ticks: {
        subscribe: async function* () {
          for (let i = 1; i <= 3; i++) yield { ticks: i };
        },
      },
    },
  },
});

/** Every message a subscription delivered, and how it ended. */
function run(client: Client, query: string) {
  return new Promise<{ results: unknown[]; error?: unknown }>((resolve) => {
    const results: unknown[] = [];
    client.subscribe(
      { query },
      {
        next: (r) => results.push(r),
        error: (error) => resolve({ results, error }),
        complete: () => resolve({ results }),
      },
    );
  });
}

describe('subscription errors over the WebSocket', () => {
  let server: Server;
  let client: Client;
  let endpoint: ReturnType<typeof createWebSocketEndpoint>;

  beforeAll(async () => {
    const log = createLogger('silent');
    const metrics = createMetrics();
    const yoga = createYoga({ schema, maskedErrors: { maskError: maskError({ log, metrics }) }, logging: false });
    server = createServer((req, res) => void yoga(req, res));
    endpoint = createWebSocketEndpoint(server, yoga as unknown as Yoga, {
      config: loadConfig({ AUTH_MODE: 'dev' }),
      metrics,
      log,
      authenticate: async () => ({ role: 'service' }),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
  });

  afterAll(async () => {
    await client.dispose();
    await endpoint.dispose(100);
    await new Promise((resolve) => server.close(resolve));
  });

  it('delivers results unchanged when nothing fails', async () => {
    const { results, error } = await run(client, 'subscription { ticks }');
    expect(error).toBeUndefined();
    expect(results).toEqual([{ data: { ticks: 1 } }, { data: { ticks: 2 } }, { data: { ticks: 3 } }]);
  });

  it('masks an unexpected error in a pushed result, with a request id instead of the detail', async () => {
    const { results } = await run(client, 'subscription { leaks }');
    expect(results).toHaveLength(1);
    const [result] = results as { data: unknown; errors: { message: string; extensions: Record<string, unknown> }[] }[];
    expect(result!.data).toEqual({ leaks: null });
    expect(result!.errors).toHaveLength(1);
    expect(result!.errors[0]!.message).toBe('Unexpected error.');
    expect(result!.errors[0]!.extensions.code).toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(results)).not.toContain('hunter2');
  });

  it('codes a domain error raised when the subscription starts', async () => {
    const { results } = await run(client, 'subscription { refused }');
    const [result] = results as { errors: { message: string; extensions: Record<string, unknown> }[] }[];
    expect(results).toHaveLength(1);
    expect(result!.errors.map((e) => [e.message, e.extensions.code])).toEqual([['not your feed', 'FORBIDDEN']]);
  });

  it('masks a stream that fails after its first result', async () => {
    const { results, error } = await run(client, 'subscription { breaks }');
    expect(results).toEqual([{ data: { breaks: 'first' } }]);
    expect(error).toEqual([expect.objectContaining({ message: 'Unexpected error.' })]);
    expect(JSON.stringify(error)).not.toContain('10.0.0.7');
  });

  it('gives validation errors a code a client can branch on', async () => {
    const { error } = await run(client, 'subscription { nothingHere }');
    const errors = error as { extensions?: { code?: string } }[];
    expect(errors.map((e) => e.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  });
});
