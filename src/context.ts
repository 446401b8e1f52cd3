import type { Viewer } from './auth/viewer.js';
import type { Loaders } from './loaders/index.js';
import type { Logger } from './logger.js';
import type { Services } from './services.js';

/** Built per request (and per subscription event): never shared between requests or users. */
export interface GraphQLContext {
  requestId: string;
  log: Logger;
  services: Services;
  viewer: Viewer;
  loaders: Loaders;
}
