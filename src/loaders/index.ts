import DataLoader from 'dataloader';
import { readUserWindowsBatch, type UserWindows } from '../features/user-features.js';
import type { Services } from '../services.js';

/**
 * DataLoaders for one request (or one subscription event): every feature read a request makes is
 * collected and sent as one batch, so Redis round trips do not grow with the number of users or
 * items asked for. Never shared between requests or users.
 */
export function createLoaders(services: Pick<Services, 'redis' | 'keys'>) {
  return {
    /** A user's real-time windows; two Redis round trips per batch, whatever its size. */
    userWindows: new DataLoader<string, UserWindows>((userIds) =>
      readUserWindowsBatch(services.redis, services.keys, userIds),
    ),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
