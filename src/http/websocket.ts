/**
 * GraphQL over WebSocket (graphql-ws, `graphql-transport-ws`) on the HTTP server's port and path,
 * executed through the same yoga envelope as HTTP (context, limits, error masking), with the
 * socket limits of DESIGN.md:
 *
 * - `connection_init` is authenticated (`{ authorization: "Bearer …" }`) with the same rules as
 *   queries; a bad token closes the socket with 4403 Forbidden, reason "UNAUTHENTICATED: …".
 * - a user's (N+1)th socket on this instance closes with 4403 Forbidden, reason "LIMIT_EXCEEDED: …";
 *   a socket is counted for its user only once its token is verified and only while it is open, so
 *   sockets dropped during authentication never hold a user's slots.
 * - an address's (N+1)th socket (signed in or not) closes the same way as soon as it opens; the
 *   address is the TCP peer's, or the last X-Forwarded-For entry when the proxy is trusted.
 * - the (N+1)th subscription on one socket is refused with a GraphQL error whose
 *   `extensions.code` is LIMIT_EXCEEDED (`extensions.limit: "subscriptionsPerSocket"`); the socket
 *   and its other subscriptions stay open.
 * - an operation before `connection_init` closes with 4401 (graphql-ws), no `connection_init`
 *   within 3 s with 4408, a message over the size limit with 1009 (ws).
 * - the server pings every keep-alive interval and drops a socket that does not answer by the next.
 */
import type { IncomingMessage, Server } from 'node:http';
import { DEFAULT_ERROR_MESSAGE } from '@envelop/core';
import {
  getOperationAST,
  GraphQLError,
  OperationTypeNode,
  subscribe,
  type DocumentNode,
  type execute,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { CloseCode, type Context } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocket, WebSocketServer } from 'ws';
import { AppError } from '../core/errors.js';
import type { Authenticate } from '../auth/viewer.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { maskError, type Yoga } from './graphql.js';
import { originAllowed } from './origin.js';

type SocketContext = Context<Record<string, unknown> | undefined, Extra & Partial<Record<PropertyKey, never>>>;

/** A query's or mutation's enveloped executor, carried from `onSubscribe` to graphql-ws's execute in `rootValue`. */
type Enveloped = { execute: typeof execute | undefined };

/** Runs the enveloped executor, then drops it from `rootValue` (nothing needs its closures after the call). */
async function runOnce(root: Enveloped, args: Parameters<typeof execute>[0]) {
  const run = root.execute;
  root.execute = undefined;
  if (!run) throw new Error('no enveloped execute for this operation');
  return run(args);
}

/**
 * The root value of every subscription on a socket, shared: it marks the operation's results as a
 * subscription's, whose errors are masked here (see `masked`) rather than by the envelope.
 */
const LIVE_ROOT = Object.freeze({ live: true });

/**
 * Most distinct operation texts kept by `internQuery`. Clients send the same few documents with
 * every subscribe message; each copy would otherwise live as long as its subscription.
 */
const INTERNED_QUERIES_MAX = 256;

/** The token a client sent in `connection_init` (either capitalisation, as browsers' clients vary). */
function authorizationOf(params: Record<string, unknown> | undefined): string | undefined {
  const value = params?.authorization ?? params?.Authorization;
  return typeof value === 'string' ? value : undefined;
}

/** The client's address: the TCP peer, or what a trusted proxy appended last to X-Forwarded-For. */
function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
    const last = hops
      .map((hop) => hop.trim())
      .filter(Boolean)
      .at(-1);
    if (last) return last;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

/** Adds `delta` to a per-key count, forgetting keys that reach zero. */
function count(counts: Map<string, number>, key: string, delta: number) {
  const next = (counts.get(key) ?? 0) + delta;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}

export function createWebSocketEndpoint(
  server: Server,
  yoga: Yoga,
  {
    config,
    metrics,
    log,
    authenticate,
  }: {
    config: Pick<Config, 'live' | 'trustProxy' | 'auth'>;
    metrics: Metrics;
    log: Logger;
    authenticate: Authenticate;
  },
) {
  const limits = config.live;
  const wss = new WebSocketServer({
    server,
    path: '/graphql',
    maxPayload: limits.maxMessageBytes,
    // ws's default, stated because it decides what an idle socket costs: per-message deflate would
    // keep a zlib context per socket (tens of KB each) to shrink payloads of a few KB.
    perMessageDeflate: false,
    // Browsers do not apply CORS to WebSockets: without authentication, refuse other sites' pages.
    verifyClient: ({ origin }: { origin?: string }) => originAllowed(config.auth.mode, origin || undefined),
  });
  /** Open sockets per user (user tokens only: a service multiplexes many users on purpose). */
  const socketsByUser = new Map<string, number>();
  /** Open sockets per client address, whoever they authenticate as (anonymous ones included). */
  /** Ids of each socket's subscription operations, pruned against graphql-ws's own bookkeeping. */
  const subscriptionIds = new WeakMap<SocketContext, Set<string>>();

  const refuse = (ctx: SocketContext, reason: string) => {
    ctx.extra.socket.close(CloseCode.Forbidden, reason.length > 120 ? `${reason.slice(0, 117)}...` : reason);
    return false;
  };

  /**
   * Per client address, the sockets that are not a signed-in user's: still waiting for their
   * `connection_init`, or anonymous. A signed-in socket gives its place back once verified (it is
   * bounded per user instead), so users behind one address (an office, a mobile carrier) are not
   * held out by anonymous screens there; a few places above the limit are kept for sockets still
   * initialising, so a user can still get in next to an address full of anonymous sockets.
   */
  const unverifiedByAddress = new Map<string, number>();
  /** Of those, the ones verified as anonymous: at most the limit per address. */
  const anonymousByAddress = new Map<string, number>();
  const addressOf = new WeakMap<WebSocket, { address: string; counted: boolean; anonymous: boolean }>();
  const headroom = Math.max(10, Math.ceil(limits.maxSocketsPerIp / 10));
  const release = (socket: WebSocket) => {
    const entry = addressOf.get(socket);
    if (!entry?.counted) return;
    entry.counted = false;
    count(unverifiedByAddress, entry.address, -1);
    if (entry.anonymous) count(anonymousByAddress, entry.address, -1);
  };
  const refuseAddress = (address: string) => {
    metrics.liveRefused.inc({ limit: 'socketsPerIp' });
    log.info({ address, max: limits.maxSocketsPerIp }, 'refused a socket over the per-address limit');
    return `LIMIT_EXCEEDED: at most ${limits.maxSocketsPerIp} sockets per address`;
  };

  // Registered before graphql-ws's own listener, so an address over its limit is refused before
  // graphql-ws waits for its connection_init.
  wss.on('connection', (socket, req) => {
    const address = clientAddress(req, config.trustProxy);
    if ((unverifiedByAddress.get(address) ?? 0) >= limits.maxSocketsPerIp + headroom) {
      socket.close(CloseCode.Forbidden, refuseAddress(address));
      return;
    }
    count(unverifiedByAddress, address, 1);
    addressOf.set(socket, { address, counted: true, anonymous: false });
    socket.once('close', () => release(socket));
  });

  const mask = maskError({ log, metrics });
  /**
   * A subscription's result with its errors masked as the envelope masks a query's (domain errors
   * coded, anything unexpected replaced by a generic message and logged). Subscriptions are run by
   * graphql-js directly instead of through the envelope: its masking and error hooks wrap every
   * subscription's stream in two more async iterators (closures, contexts, pending promises), which
   * an idle subscription kept alive for nothing but the rare result with errors.
   */
  const masked = (result: ExecutionResult) =>
    result.errors?.length
      ? { ...result, errors: result.errors.map((e) => mask(e, DEFAULT_ERROR_MESSAGE).toJSON()) }
      : { ...result };

  /**
   * What a subscription's result is sent as: a copy, masked. The result itself is emptied once
   * copied, because graphql-ws keeps the last result of each subscription in its loop until the
   * next one arrives: without this, every subscription held its last feed (every item, score and
   * reason as objects, several kilobytes) for as long as it stayed idle.
   */
  const sent = (result: ExecutionResult) => {
    const out = masked(result);
    const spent = result as { data?: unknown; errors?: unknown; extensions?: unknown };
    spent.data = undefined;
    spent.errors = undefined;
    spent.extensions = undefined;
    return out;
  };

  /** One copy of each operation text seen recently, shared by the subscriptions that sent it. */
  const queries = new Map<string, string>();
  const internQuery = (text: string) => {
    const known = queries.get(text);
    if (known !== undefined) return known;
    if (queries.size >= INTERNED_QUERIES_MAX) queries.delete(queries.keys().next().value!);
    queries.set(text, text);
    return text;
  };

  const handle = useServer<Record<string, unknown> | undefined>(
    {
      execute: (args) => runOnce(args.rootValue as Enveloped, args),
      subscribe: (args) => subscribe(args),
      // The operation text of a subscribe message (payload.query) is shared, not copied per socket.
      jsonMessageReviver: (key, value: unknown) =>
        key === 'query' && typeof value === 'string' ? internQuery(value) : value,
      onNext: (_ctx, _id, _payload, args, result) => (args.rootValue === LIVE_ROOT ? sent(result) : undefined),
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => mask(e, DEFAULT_ERROR_MESSAGE).toJSON()),
      onConnect: async (ctx) => {
        let viewer;
        try {
          viewer = await authenticate(authorizationOf(ctx.connectionParams));
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          metrics.liveRefused.inc({ limit: 'unauthenticated' });
          return refuse(ctx, `${error.code}: ${error.message}`);
        }
        const { socket } = ctx.extra;
        if (viewer.role === 'anonymous') {
          const entry = addressOf.get(socket);
          if (!entry?.counted) return true;
          if ((anonymousByAddress.get(entry.address) ?? 0) >= limits.maxSocketsPerIp)
            return refuse(ctx, refuseAddress(entry.address));
          entry.anonymous = true;
          count(anonymousByAddress, entry.address, 1);
          return true;
        }
        release(socket); // verified: a service, or a user bounded by the per-user limit below
        if (viewer.role !== 'user') return true;
        // Closed while the token was being verified: there is nothing to count, and graphql-ws
        // would never report its close (it reports only acknowledged sockets).
        if (socket.readyState !== WebSocket.OPEN) return false;
        const open = socketsByUser.get(viewer.userId) ?? 0;
        if (open >= limits.maxSocketsPerUser) {
          metrics.liveRefused.inc({ limit: 'socketsPerUser' });
          log.info(
            { userId: viewer.userId, max: limits.maxSocketsPerUser },
            'refused a socket over the per-user limit',
          );
          return refuse(ctx, `LIMIT_EXCEEDED: at most ${limits.maxSocketsPerUser} sockets per user`);
        }
        count(socketsByUser, viewer.userId, 1);
        // The socket's own close event, not graphql-ws's onClose: it fires whatever the socket's
        // state in the protocol when it goes.
        socket.once('close', () => count(socketsByUser, viewer.userId, -1));
        return true;
      },
      onSubscribe: async (ctx, id, params) => {
        // The context is built from the connection's parameters (its token) alone: whatever the
        // initial context holds, every subscription keeps for its lifetime.
        const enveloped = yoga.getEnveloped({ connectionParams: ctx.connectionParams });
        // envelop types its parse/validate/schema as `any` (it supports several graphql versions);
        // they are graphql-js's, so they get graphql-js's types here, once.
        let document: DocumentNode;
        try {
          document = enveloped.parse(params.query) as DocumentNode;
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const live = getOperationAST(document, params.operationName)?.operation === OperationTypeNode.SUBSCRIPTION;
        if (live) {
          let ids = subscriptionIds.get(ctx);
          if (!ids) subscriptionIds.set(ctx, (ids = new Set()));
          for (const known of ids) if (!(known in ctx.subscriptions)) ids.delete(known);
          if (ids.size >= limits.maxSubscriptionsPerSocket) {
            metrics.liveRefused.inc({ limit: 'subscriptionsPerSocket' });
            return [
              new GraphQLError(`at most ${limits.maxSubscriptionsPerSocket} subscriptions per socket`, {
                extensions: {
                  code: 'LIMIT_EXCEEDED',
                  limit: 'subscriptionsPerSocket',
                  max: limits.maxSubscriptionsPerSocket,
                },
              }),
            ];
          }
          ids.add(id);
        }
        const args = {
          schema: enveloped.schema as GraphQLSchema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await enveloped.contextFactory(),
          rootValue: live ? LIVE_ROOT : ({ execute: enveloped.execute } satisfies Enveloped),
        };
        const errors = enveloped.validate(args.schema, args.document) as readonly GraphQLError[];
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
    limits.keepAliveMs,
  );
  const terminate = () => {
    for (const socket of wss.clients) socket.terminate();
  };
  return {
    /** Open sockets per user, for tests and diagnostics. */
    socketsOf: (userId: string) => socketsByUser.get(userId) ?? 0,
    /** Sockets from one client address not (yet) verified as a user's or a service's, for tests and diagnostics. */
    socketsFrom: (address: string) => unverifiedByAddress.get(address) ?? 0,
    /**
     * Closes every socket (1001 Going Away) and the WebSocket server. A client that has not
     * answered the close handshake within `graceMs` (one that stopped reading, say) is cut off,
     * instead of holding the shutdown for ws's 30 s close timeout.
     */
    async dispose(graceMs: number) {
      const cut = setTimeout(terminate, graceMs);
      try {
        await handle.dispose();
      } finally {
        clearTimeout(cut);
      }
    },
    /** Cuts every socket now, handshake or not (the shutdown deadline). */
    terminate,
  };
}
