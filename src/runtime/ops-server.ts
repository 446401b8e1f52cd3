/**
 * What an orchestrator probes and Prometheus scrapes, the same for every process: `/healthz` (the
 * process answers), `/readyz` (its dependencies answer within the readiness timeout: 200 or 503
 * with each dependency's state) and `/metrics`. The API serves them on its own port; the stream
 * worker and the online trainer on `WORKER_METRICS_PORT`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Component } from './runner.js';

export interface DependencyCheck {
  name: string;
  up: boolean;
  detail?: string;
}

/** One dependency: resolves when it answers, throws (or times out) when it does not. */
export interface Probe {
  name: string;
  /** Throws when the dependency is down; may describe what answered (its topology) when up. */
  probe(): Promise<string | void>;
}

export type Readiness = () => Promise<DependencyCheck[]>;

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });

/**
 * Runs every probe at once, each within `timeoutMs`, and records each outcome in `dependency_up`.
 * Why a dependency is down is logged (when a logger is given) and kept in the check for service
 * callers of the `status` query; `/readyz` shows only up or down.
 */
export function createReadiness(
  probes: readonly Probe[],
  { timeoutMs, metrics, log }: { timeoutMs: number; metrics: Metrics; log?: Logger },
): Readiness {
  return () =>
    Promise.all(
      probes.map(async ({ name, probe }): Promise<DependencyCheck> => {
        try {
          const described = await withTimeout(probe(), timeoutMs, name);
          metrics.dependencyUp.set({ dependency: name }, 1);
          return described ? { name, up: true, detail: described } : { name, up: true };
        } catch (error) {
          metrics.dependencyUp.set({ dependency: name }, 0);
          const detail = error instanceof Error ? error.message : String(error);
          log?.warn({ dependency: name, detail }, 'readiness check failed');
          return { name, up: false, detail };
        }
      }),
    );
}

export function sendJson(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Answers `/healthz`, `/readyz` and `/metrics`; returns false for any other path, so a server can
 * route the rest itself.
 */
export function opsRoutes({ metrics, readiness }: { metrics: Metrics; readiness: Readiness }) {
  return async (path: string, res: ServerResponse): Promise<boolean> => {
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return true;
    }
    if (path === '/readyz') {
      const checks = await readiness();
      const ready = checks.every((c) => c.up);
      sendJson(res, ready ? 200 : 503, {
        status: ready ? 'ready' : 'unavailable',
        // Anyone can reach /readyz: up or down only, never an error text or an address.
        dependencies: Object.fromEntries(checks.map((c) => [c.name, c.up ? 'up' : 'down'])),
      });
      return true;
    }
    if (path === '/metrics') {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(text);
      return true;
    }
    return false;
  };
}

export const requestPath = (req: IncomingMessage) => (req.url ?? '/').split('?')[0] ?? '/';

/** A server of its own for the ops routes (processes without an API port); 404 for anything else. */
export function createOpsServer(options: {
  metrics: Metrics;
  readiness: Readiness;
  port: number;
  host: string;
}): Component & { server: Server; port(): number } {
  const routes = opsRoutes(options);
  const server = createServer((req, res) => {
    routes(requestPath(req), res).then(
      (handled) => {
        if (!handled) sendJson(res, 404, { error: 'not found' });
      },
      () => {
        if (!res.headersSent) sendJson(res, 500, { error: 'ops endpoint failed' });
        else res.destroy();
      },
    );
  });
  return {
    name: 'ops-server',
    server,
    port: () => (server.address() as AddressInfo).port,
    start: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', (error: Error) =>
          reject(
            new Error(`cannot serve /metrics on port ${options.port} (set WORKER_METRICS_PORT): ${error.message}`),
          ),
        );
        server.listen(options.port, options.host, () => resolve());
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
