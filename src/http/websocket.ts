/**
 * GraphQL over WebSocket (graphql-ws, `graphql-transport-ws`) on the HTTP server's port and path,
 * executed through the same yoga envelope as HTTP (context, limits, error masking), with the
 * socket limits of DESIGN.md:
 *
 * - `connection_init` is authenticated (`{ authorization: "Bearer …" }`) with the same rules as
 *   queries; a bad token closes the socket with 4403 Forbidden, reason "UNAUTHENTICATED: …".
 * - a user's (N+1)th socket on this instance closes with 4403 Forbidden, reason "LIMIT_EXCEEDED: …".
 * - the (N+1)th subscription on one socket is refused with a GraphQL error whose
 *   `extensions.code` is LIMIT_EXCEEDED (`extensions.limit: "subscriptionsPerSocket"`); the socket
 *   and its other subscriptions stay open.
 * - an operation before `connection_init` closes with 4401 (graphql-ws), no `connection_init`
 *   within 3 s with 4408, a message over the size limit with 1009 (ws).
 * - the server pings every keep-alive interval and drops a socket that does not answer by the next.
 */
import type { Server } from 'node:http';
import {
  getOperationAST,
  GraphQLError,
  OperationTypeNode,
  type DocumentNode,
  type execute,
  type GraphQLSchema,
  type subscribe,
} from 'graphql';
import { CloseCode, type Context } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { AppError } from '../core/errors.js';
import type { Authenticate } from '../auth/viewer.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Yoga } from './graphql.js';

type SocketContext = Context<Record<string, unknown> | undefined, Extra & Partial<Record<PropertyKey, never>>>;

/** The token a client sent in `connection_init` (either capitalisation, as browsers' clients vary). */
function authorizationOf(params: Record<string, unknown> | undefined): string | undefined {
  const value = params?.authorization ?? params?.Authorization;
  return typeof value === 'string' ? value : undefined;
}

export function createWebSocketEndpoint(
  server: Server,
  yoga: Yoga,
  {
    config,
    metrics,
    log,
    authenticate,
  }: { config: Pick<Config, 'live'>; metrics: Metrics; log: Logger; authenticate: Authenticate },
) {
  const limits = config.live;
  const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: limits.maxMessageBytes });
  /** Open sockets per user (user tokens only: a service multiplexes many users on purpose). */
  const socketsByUser = new Map<string, number>();
  const socketOwner = new WeakMap<SocketContext, string>();
  /** Ids of each socket's subscription operations, pruned against graphql-ws's own bookkeeping. */
  const subscriptionIds = new WeakMap<SocketContext, Set<string>>();

  const refuse = (ctx: SocketContext, reason: string) => {
    ctx.extra.socket.close(CloseCode.Forbidden, reason.length > 120 ? `${reason.slice(0, 117)}...` : reason);
    return false;
  };

  const handle = useServer<Record<string, unknown> | undefined>(
    {
      execute: (args) => (args.rootValue as { execute: typeof execute }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: typeof subscribe }).subscribe(args),
      onConnect: async (ctx) => {
        let viewer;
        try {
          viewer = await authenticate(authorizationOf(ctx.connectionParams));
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          metrics.liveRefused.inc({ limit: 'unauthenticated' });
          return refuse(ctx, `${error.code}: ${error.message}`);
        }
        if (viewer.role !== 'user') return true;
        const open = socketsByUser.get(viewer.userId) ?? 0;
        if (open >= limits.maxSocketsPerUser) {
          metrics.liveRefused.inc({ limit: 'socketsPerUser' });
          log.info(
            { userId: viewer.userId, max: limits.maxSocketsPerUser },
            'refused a socket over the per-user limit',
          );
          return refuse(ctx, `LIMIT_EXCEEDED: at most ${limits.maxSocketsPerUser} sockets per user`);
        }
        socketsByUser.set(viewer.userId, open + 1);
        socketOwner.set(ctx, viewer.userId);
        return true;
      },
      onClose: (ctx) => {
        const userId = socketOwner.get(ctx);
        if (userId === undefined) return;
        socketOwner.delete(ctx);
        const open = (socketsByUser.get(userId) ?? 1) - 1;
        if (open > 0) socketsByUser.set(userId, open);
        else socketsByUser.delete(userId);
      },
      onSubscribe: async (ctx, id, params) => {
        const enveloped = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params });
        // envelop types its parse/validate/schema as `any` (it supports several graphql versions);
        // they are graphql-js's, so they get graphql-js's types here, once.
        let document: DocumentNode;
        try {
          document = enveloped.parse(params.query) as DocumentNode;
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        if (getOperationAST(document, params.operationName)?.operation === OperationTypeNode.SUBSCRIPTION) {
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
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
        const errors = enveloped.validate(args.schema, args.document) as readonly GraphQLError[];
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
    limits.keepAliveMs,
  );
  return {
    /** Open sockets per user, for tests and diagnostics. */
    socketsOf: (userId: string) => socketsByUser.get(userId) ?? 0,
    /** Closes every socket (1001 Going Away) and the WebSocket server. */
    dispose: () => handle.dispose(),
  };
}
