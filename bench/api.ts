/**
 * What the scenarios set up through the service's public API: a catalogue and recorded behaviour,
 * with the Kafka position of every accepted event so a scenario can wait until the stream applied
 * exactly what it sent.
 */
import { DEFAULT_CATEGORIES } from '../tools/sim/world.js';
import {
  RecordInteractionsDocument,
  UpsertItemsDocument,
  type ApiClient,
  type InteractionAction,
  type InteractionInput,
  type ItemInput,
} from '../src/client/index.js';
import { localApiClient, MAX_BATCH } from '../tools/sim/driver.js';
import { createRng } from '../src/core/random.js';
import { redisKeys } from '../src/core/keys.js';
import { createLogger } from '../src/logger.js';
import { connectRedis, execPipeline, pipelineOf } from '../src/redis/client.js';
import type { Position } from './stream-progress.js';
import { waitFor } from '../src/runtime/wait.js';
import type { BenchContext, ServiceUnderTest } from './types.js';

export { localApiClient, MAX_BATCH, type ApiClient, type InteractionInput };

/** Records one batch (≤ MAX_BATCH); every entry must be accepted. */
export async function recordBatch(client: ApiClient, inputs: InteractionInput[]): Promise<Position[]> {
  const data = await client.request(RecordInteractionsDocument, { inputs });
  return data.recordInteractions.results.map((r, i) => {
    if (!r.recorded) throw new Error(`entry ${i} rejected: ${r.error?.code} ${r.error?.message}`);
    return { partition: r.recorded.partition, offset: Number(r.recorded.offset) };
  });
}

/** Records any number of events in batches, `concurrency` requests at a time. */
export async function recordAll(client: ApiClient, inputs: InteractionInput[], concurrency = 4): Promise<number> {
  let next = 0;
  const lane = async () => {
    while (next < inputs.length) {
      const batch = inputs.slice(next, (next += MAX_BATCH));
      await recordBatch(client, batch);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return inputs.length;
}

export interface CatalogueItem {
  id: string;
  category: string;
  tags: string[];
  createdAt: string;
}

/**
 * A synthetic catalogue over the simulator's categories, published 1 h to 7 days ago (a few in the
 * last half hour, so fresh-item recall has something to find).
 */
export function benchCatalogue(size: number, idPrefix = 'bi'): CatalogueItem[] {
  const rng = createRng('bench-catalogue', size);
  const now = Date.now();
  return Array.from({ length: size }, (_, i) => {
    const category = DEFAULT_CATEGORIES[i % DEFAULT_CATEGORIES.length] ?? 'news';
    const ageMs = rng.bernoulli(0.05) ? rng.uniform(0, 1800e3) : rng.uniform(3600e3, 7 * 86_400e3);
    return {
      id: `${idPrefix}${i}`,
      category,
      tags: [`${category}-t${i % 7}`],
      createdAt: new Date(now - Math.round(ageMs)).toISOString(),
    };
  });
}

/** Publishes items and waits until the stream wrote every one's metadata to Redis. */
export async function publishCatalogue(
  ctx: Pick<BenchContext, 'redisUrl'>,
  service: Pick<ServiceUnderTest, 'url' | 'prefix'>,
  items: readonly ItemInput[],
): Promise<void> {
  const client = localApiClient(service.url);
  for (let i = 0; i < items.length; i += MAX_BATCH)
    await client.request(UpsertItemsDocument, { inputs: items.slice(i, i + MAX_BATCH) });
  const redis = await connectRedis(ctx.redisUrl, createLogger('silent'), 'bench-catalogue');
  const keys = redisKeys(service.prefix);
  try {
    await waitFor(
      'catalogue in Redis',
      async () => {
        const p = pipelineOf(redis);
        for (const item of items) p.exists(keys.item(item.id));
        const found = (await execPipeline(p)).filter((n) => n === 1).length;
        if (found < items.length) throw new Error(`${found}/${items.length} items`);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  } finally {
    redis.disconnect();
  }
}

const published = new Map<string, Promise<CatalogueItem[]>>();

/** The bench catalogue (5,000 items), published once per service instance. */
export function ensureCatalogue(ctx: BenchContext, service: ServiceUnderTest): Promise<CatalogueItem[]> {
  let done = published.get(service.prefix);
  if (!done) {
    const items = benchCatalogue(5000);
    done = publishCatalogue(ctx, service, items).then(() => items);
    published.set(service.prefix, done);
  }
  return done;
}

const ACTIONS: readonly InteractionAction[] = ['VIEW', 'CLICK', 'LIKE', 'SKIP', 'COMMENT', 'SHARE', 'HIDE'];
const ACTION_SHARES = [0.45, 0.25, 0.1, 0.1, 0.03, 0.03, 0.04];

/**
 * Plausible users over a catalogue: each has three favourite categories that get four events in
 * five (the rest go anywhere), with a realistic mix of actions, negatives included. With `spanMs`,
 * a user's event times are spread in order over the last `spanMs`, as an active user's would be
 * (so several window buckets exist); otherwise the API stamps them.
 */
export function behaviourOf(items: readonly CatalogueItem[]) {
  const byCategory = new Map<string, CatalogueItem[]>();
  for (const item of items) {
    const list = byCategory.get(item.category) ?? [];
    if (list.length === 0) byCategory.set(item.category, list);
    list.push(item);
  }
  const categories = [...byCategory.values()];
  return (userId: string, count: number, spanMs = 0): InteractionInput[] => {
    const rng = createRng('bench-behaviour', userId);
    const favourites = rng.sample(categories, 3);
    const now = Date.now();
    return Array.from({ length: count }, (_, j) => {
      const pool = rng.bernoulli(0.8) ? rng.pick(favourites) : items;
      const event: InteractionInput = {
        userId,
        itemId: rng.pick(pool).id,
        action: ACTIONS[rng.categorical(ACTION_SHARES)] ?? 'VIEW',
      };
      if (spanMs > 0) event.occurredAt = new Date(now - spanMs + Math.round((j * spanMs) / count)).toISOString();
      return event;
    });
  };
}
