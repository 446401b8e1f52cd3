/**
 * Subscriptions that go through the envelope (over HTTP, as server-sent events) are executed by
 * graphql-js's own `subscribe` instead of yoga's default executor (@graphql-tools/executor). For a
 * stream that waits most of its life, the default wraps every event in an async generator
 * flattened by another iterator whose two pending `next()` frames, closures and per-operation
 * execution context a subscription keeps while idle; graphql-js maps the source stream with one
 * small iterator. Queries and mutations keep yoga's executor, and every plugin hook (error masking,
 * metrics) still applies: only the function that runs the operation is swapped. graphql-js does not
 * implement @defer/@stream, which no subscription here uses. Subscriptions over the WebSocket call
 * graphql-js's `subscribe` without the envelope's hooks, and mask their errors themselves
 * (`src/http/websocket.ts`).
 */
import { subscribe } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export function useGraphQLJsSubscribe(): Plugin {
  return {
    onSubscribe: ({ setSubscribeFn }) => {
      setSubscribeFn(subscribe);
    },
  };
}
