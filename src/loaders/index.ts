import DataLoader from 'dataloader';
import type { ItemFeatures } from '../features/item-features.js';
import {
  readUserFeaturesBatch,
  readUserLongHorizonBatch,
  readUserRealtimeBatch,
  type UserLongHorizon,
  type UserRealtime,
} from '../features/user-features.js';
import type { PipelineSource } from '../redis/client.js';
import type { RedisKeys } from '../core/keys.js';
import type { ItemCache, ItemRows } from '../features/item-features.js';

/**
 * DataLoaders for one request (or one subscription event): every feature read a request makes is
 * collected and sent as one batch, so Redis round trips do not grow with the number of users or
 * items asked for. Never shared between requests or users: what they load and cache is one
 * request's. `redis` may be the instance's SharedPipeline, which sends the user reads of the
 * requests in one turn of the event loop in one round trip (each request still gets only its own
 * replies).
 */
export function createLoaders({ redis, keys, items }: { redis: PipelineSource; keys: RedisKeys; items: ItemCache }) {
  // One clock per request, so every feature of a request is decayed to the same instant.
  const readAt = Date.now();
  return {
    readAt,
    /** A user's real-time features; one Redis round trip per batch, whatever its size. */
    userRealtime: new DataLoader<string, UserRealtime>((userIds) =>
      readUserRealtimeBatch(redis, keys, userIds, readAt),
    ),
    /**
     * Both of a user's feature sets, real-time and long-horizon, in one round trip per batch: what
     * ranking reads (the two loaders above would make it two).
     */
    user: new DataLoader<string, { realtime: UserRealtime; longHorizon: UserLongHorizon }>((userIds) =>
      readUserFeaturesBatch(redis, keys, userIds, readAt),
    ),
    /** A user's long-horizon preferences from the daily batch; one round trip per batch. */
    userLongHorizon: new DataLoader<string, UserLongHorizon>((userIds) =>
      readUserLongHorizonBatch(redis, keys, userIds),
    ),
    /** Item metadata and real-time stats (through the instance's short item cache); at most one round trip per batch. */
    item: new DataLoader<string, ItemFeatures>((itemIds) => items.read(itemIds), { maxBatchSize: 5000 }),
    /**
     * Many items at once, in input order, straight from the instance's item cache (which shares
     * reads in flight): for ranking's hundreds of candidates, without a DataLoader promise and
     * cache entry per id.
     */
    items: (itemIds: readonly string[]): Promise<ItemFeatures[]> => items.read(itemIds),
    /** `items`, with the rows ranking reads (see ItemCache.readRows). */
    itemRows: (itemIds: readonly string[]): Promise<ItemRows> => items.readRows(itemIds),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

/**
 * Loaders created on first use, from `source` (one instance's `Domain`). Held by a context that
 * lives long (a subscription's: every push is executed with it) and may never need any: it costs
 * one small object until then. Its getters are on the prototype, so the context keeps a plain data
 * property and its compact shape.
 */
export class LazyLoaders implements Loaders {
  #loaded: Loaders | undefined;
  constructor(private readonly source: { loaders(): Loaders }) {}
  #real(): Loaders {
    return (this.#loaded ??= this.source.loaders());
  }
  get readAt() {
    return this.#real().readAt;
  }
  get userRealtime() {
    return this.#real().userRealtime;
  }
  get userLongHorizon() {
    return this.#real().userLongHorizon;
  }
  get user() {
    return this.#real().user;
  }
  get item() {
    return this.#real().item;
  }
  get items() {
    return this.#real().items;
  }
  get itemRows() {
    return this.#real().itemRows;
  }
}
