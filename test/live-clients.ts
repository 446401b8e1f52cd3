/** What the live-feed tests share: HS256 test tokens, a fail-fast graphql-ws client, and a watcher. */
import type { App } from '../src/app.js';
import { signToken } from '../src/auth/tokens.js';
import {
  createLiveClient,
  type LiveClient,
  type SubscriptionResult,
  type TypedDocumentNode,
} from '../src/client/index.js';

/** A one-hour token signed with `secret`, a user's unless `role` says service. */
export const signer =
  (secret: string) =>
  (claims: { sub?: string; role?: 'user' | 'service' }): Promise<string> =>
    signToken(secret, { sub: claims.sub, role: claims.role ?? 'user', ttlSeconds: 3600 });

/** A graphql-ws client, failing fast instead of retrying. */
export function wsClient(app: App, token?: string): LiveClient {
  return createLiveClient(app.url, { connectionParams: token ? { authorization: `Bearer ${token}` } : {} });
}

/**
 * Subscribes and records every result (and when it arrived, `receivedAt[i]` for `results[i]`) and
 * the terminal error, as a screen would see them.
 */
export function watch<TResult, TVariables>(
  client: LiveClient,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
) {
  const results: SubscriptionResult<TResult>[] = [];
  const receivedAt: number[] = [];
  const state: { error?: unknown; complete: boolean } = { complete: false };
  const unsubscribe = client.subscribe(document, variables, {
    next: (r) => {
      results.push(r);
      receivedAt.push(Date.now());
    },
    error: (e) => void (state.error = e),
    complete: () => void (state.complete = true),
  });
  return { results, receivedAt, state, unsubscribe };
}
