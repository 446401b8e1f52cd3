import type { Authenticate, Viewer } from './auth/viewer.js';
import type { Experiments } from './experiments/view.js';
import type { Ingest } from './ingest/interactions.js';
import type { LiveHub } from './live/hub.js';
import type { Loaders } from './loaders/index.js';
import type { Logger } from './logger.js';
import type { Feeds } from './ranking/feeds.js';
import type { TrendingCache } from './ranking/recall.js';
import type { Readiness } from './runtime/ops-server.js';

/**
 * What resolvers may use: narrow interfaces over the instance's services, built once per instance.
 * Resolvers validate and translate; the behaviour lives behind these.
 */
export interface Domain {
  limits: { maxFirst: number; maxCandidates: number };
  authenticate: Authenticate;
  ingest: Pick<Ingest, 'recordInteractions' | 'updateProfile' | 'upsertItems'>;
  feeds: Feeds;
  trending: Pick<TrendingCache, 'get'>;
  live: Pick<LiveHub, 'openFeed' | 'openTrending'>;
  experiments: Experiments;
  readiness: Readiness;
  /**
   * The instance's logger. A subscription's context switches to it once its first result is
   * computed (`releaseFirstResult`): a child logger per request id, kept for as long as the
   * subscription lasts, cost about 300 bytes per idle subscription, and nothing logs through it
   * after that first result.
   */
  log: Logger;
  /** A fresh set of DataLoaders (one per request or subscription event, never shared). */
  loaders(): Loaders;
}

/** Built per request (and per subscription event): never shared between requests or users. */
export interface GraphQLContext {
  requestId: string;
  log: Logger;
  domain: Domain;
  viewer: Viewer;
  loaders: Loaders;
}
