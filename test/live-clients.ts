/** What the live-feed tests share: HS256 test tokens, a fail-fast graphql-ws client, and a watcher. */
import WebSocket from 'ws';
import type { App } from '../src/app.js';
import { eventually } from './helpers.js';
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

/**
 * A bare graphql-transport-ws socket, for the protocol-level limits, optionally with request headers
 * (a proxy's X-Forwarded-For).
 */
export async function rawSocket(url: string, headers: Record<string, string> = {}) {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', { headers });
  const messages: { type: string; id?: string; payload?: unknown }[] = [];
  // With the default binaryType, ws hands every message over as one Buffer.
  socket.on('message', (data) => void messages.push(JSON.parse((data as Buffer).toString()) as { type: string }));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const sendInit = (token?: string) =>
    socket.send(
      JSON.stringify({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} }),
    );
  /** Sends connection_init and waits for the ack (true) or the close (its code and reason). */
  const init = async (token?: string) => {
    sendInit(token);
    return Promise.race([
      eventually(async () => messages.some((m) => m.type === 'connection_ack'), { timeoutMs: 10_000, intervalMs: 10 }),
      closed,
    ]);
  };
  return { socket, messages, closed, init, sendInit };
}
