/**
 * The API's one port: GraphQL over HTTP and WebSocket on `/graphql`, GraphiQL, the live demo page,
 * and the ops routes (`/healthz`, `/readyz`, `/metrics`). As a component it listens on start and,
 * on stop, ends live streams, closes sockets and drains requests within the shutdown deadline.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';
import type { Domain } from '../context.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { opsRoutes, requestPath, sendJson, type Readiness } from '../runtime/ops-server.js';
import type { Component } from '../runtime/runner.js';
import { BodyTooLarge, readBody } from './body-limit.js';
import { demoPage, graphqlWsBrowserClient } from './demo.js';
import { createGraphQLServer } from './graphql.js';
import { createWebSocketEndpoint } from './websocket.js';
import { originAllowed } from './origin.js';

/**
 * The part of the shutdown deadline that draining requests and sockets may take; the rest is for
 * the components that stop after the server (in-flight mutations still need the producer).
 */
const HTTP_DRAIN_SHARE = 0.6;

export interface HttpServerOptions {
  config: Config;
  log: Logger;
  metrics: Metrics;
  domain: Domain;
  readiness: Readiness;
  /** Called first on stop: ends every live stream, so SSE responses finish instead of holding the server open. */
  onClosing: () => void;
}

/**
 * What yoga is handed as the request body it would otherwise read itself. A JSON body is parsed
 * here: given an object, yoga's adapter answers `json()` with it and reads nothing more, while
 * given the bytes it lists every byte index (Object.keys on the Buffer), turns them back into a
 * stream and pipes that through its own size limit before parsing: for a request naming 500
 * candidates that was more work than parsing. Anything that is not a JSON object or array with at
 * least one entry (malformed JSON included) is passed on as bytes, so yoga answers it as before.
 */
export function bodyForYoga(req: IncomingMessage, body: Buffer): unknown {
  // The adapter's own test: a parsed body with another content type would be relabelled JSON.
  if (!req.headers['content-type']?.includes('json')) return body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return body;
  }
  return typeof parsed === 'object' && parsed !== null && Object.keys(parsed).length > 0 ? parsed : body;
}

export function createHttpServer(options: HttpServerOptions): Component & { server: Server; url(): string } {
  const { config, log, metrics, domain } = options;
  const yoga = createGraphQLServer({ config, log, metrics, domain });
  const ops = opsRoutes({ metrics, readiness: options.readiness });
  const maxBody = config.limits.maxBodyBytes;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = requestPath(req);
    if (await ops(path, res)) return;
    if (!originAllowed(config.auth.mode, req.headers.origin)) {
      // Authentication is off: a page of another site must not act as a service through this browser.
      return sendJson(res, 403, {
        errors: [
          { message: 'cross-site requests are refused while authentication is off', extensions: { code: 'FORBIDDEN' } },
        ],
      });
    }
    if (path === '/') {
      res.writeHead(302, { location: '/graphql' });
      return res.end();
    }
    if (config.live.demoPage && path === '/demo') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
      return res.end(demoPage());
    }
    if (config.live.demoPage && path === '/demo/graphql-ws.js') {
      const script = await graphqlWsBrowserClient();
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'content-length': script.length });
      return res.end(script);
    }
    if (path === '/graphql' && req.method === 'POST') {
      try {
        (req as IncomingMessage & { body?: unknown }).body = bodyForYoga(req, await readBody(req, maxBody));
      } catch (error) {
        if (!(error instanceof BodyTooLarge)) throw error;
        res.setHeader('connection', 'close');
        sendJson(res, 413, {
          errors: [{ message: error.message, extensions: { code: 'PAYLOAD_TOO_LARGE', limit: maxBody } }],
        });
        req.destroy();
        return;
      }
    }
    return yoga(req, res);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log.error({ err: error, url: req.url }, 'request failed');
      if (!res.headersSent)
        sendJson(res, 500, { errors: [{ message: 'internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  const ws = createWebSocketEndpoint(server, yoga, { config, metrics, log, authenticate: domain.authenticate });

  let url = '';
  return {
    name: 'http-server',
    server,
    url: () => url,
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => resolve());
      });
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}/graphql`;
    },
    async stop() {
      // The deadline starts before anything that can wait on a client: a socket that never answers
      // the close handshake or a request that never ends cannot hold the process past it. It is a
      // share of the shutdown deadline, because the producer's flush, the consumers' commits and
      // Redis stop after this component, within the same deadline.
      const deadline = setTimeout(
        () => {
          log.warn({ shutdownTimeoutMs: config.shutdownTimeoutMs }, 'cutting the connections still open');
          ws.terminate();
          server.closeAllConnections();
        },
        Math.floor(config.shutdownTimeoutMs * HTTP_DRAIN_SHARE),
      );
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // WebSocket clients get `complete` (sent on the next turn) before their socket closes.
      options.onClosing();
      await new Promise((resolve) => setImmediate(resolve));
      await ws.dispose(config.live.closeGraceMs);
      server.closeIdleConnections();
      await closed;
      clearTimeout(deadline);
    },
  };
}
