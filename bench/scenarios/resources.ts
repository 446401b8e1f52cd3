/**
 * Memory: the API process after the load of the scenarios before it, and Redis per active user.
 * For Redis, a fresh instance on its own prefix records N users' behaviour (50 events each,
 * spread over ten minutes, across categories) through the API; then every key under those users'
 * hash tags is sized with MEMORY USAGE, and Redis' used_memory growth is divided by N (that one
 * also counts what the users added to item keys: stats, co-visitation, trending).
 */
import { Redis } from 'ioredis';
import { behaviourOf, localApiClient, ensureCatalogue, recordAll } from '../api.js';
import { memoryOf } from '../observe.js';
import { workerPlacement } from '../service.js';
import { watchStream } from '../stream-progress.js';
import type { Row, Scenario } from '../types.js';

const EVENTS_PER_USER = 50;
const SPAN_MS = 10 * 60_000;
/** Metarank's published figure: about 0.8 GiB of Redis per million users. */
const METARANK_BYTES_PER_USER = (0.8 * 2 ** 30) / 1e6;

const usedMemory = async (redis: Redis) => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);

/** Every key under the hash tags of users whose ids start with `userPrefix`, grouped by user. */
async function userKeys(redis: Redis, keyPrefix: string, userPrefix: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const tag = new RegExp(`^${keyPrefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\{u:([^}]+)\\}:`);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}:{u:${userPrefix}*`, 'COUNT', 2000);
    cursor = next;
    for (const key of keys) {
      const user = tag.exec(key)?.[1];
      if (!user) continue;
      const list = out.get(user) ?? [];
      if (list.length === 0) out.set(user, list);
      list.push(key);
    }
  } while (cursor !== '0');
  return out;
}

/** Total MEMORY USAGE of `keys`, and its split by kind of key (the part after the hash tag, numbers elided). */
async function sizeOf(redis: Redis, keys: string[]): Promise<{ total: number; byKind: Map<string, number> }> {
  let total = 0;
  const byKind = new Map<string, number>();
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    const p = redis.pipeline();
    for (const key of chunk) p.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    ((await p.exec()) ?? []).forEach(([error, bytes], k) => {
      if (error) return;
      const kind = (chunk[k] ?? '').replace(/^.*\}:/, '').replace(/\d+/g, 'N');
      total += Number(bytes ?? 0);
      byKind.set(kind, (byKind.get(kind) ?? 0) + Number(bytes ?? 0));
    });
  }
  return { total, byKind };
}

export const resourcesScenarios: Scenario[] = [
  {
    group: 'resources',
    name: 'resources',
    async run(ctx) {
      const main = memoryOf(ctx.service.pid);
      const users = ctx.quick ? 1000 : 5000;
      const service = await ctx.startService('memory');
      const redis = new Redis(ctx.redisUrl);
      const progress = watchStream(ctx, service);
      try {
        const items = await ensureCatalogue(ctx, service);
        await progress.drain();
        const before = await usedMemory(redis);
        const behaviour = behaviourOf(items);
        const inputs = Array.from({ length: users }, (_, u) => behaviour(`mu${u}`, EVENTS_PER_USER, SPAN_MS)).flat();
        await recordAll(localApiClient(service.url), inputs);
        await progress.drain();
        const after = await usedMemory(redis);
        const byUser = await userKeys(redis, service.prefix, 'mu');
        const keys = [...byUser.values()].flat();
        const { total: bytes, byKind } = await sizeOf(redis, keys);
        const largest = [...byKind]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([kind, b]) => `${kind} ${Math.round((100 * b) / bytes)}%`)
          .join(', ');
        const instance = memoryOf(service.pid);
        const reference = { name: 'Metarank, published: ≈ 0.8 GiB per million users', value: METARANK_BYTES_PER_USER };
        const rows: Row[] = [
          {
            scenario: 'resources',
            metric: `Redis per active user, the user's own keys (MEMORY USAGE over ${byUser.size} users, ${(keys.length / byUser.size).toFixed(1)} keys each; ${EVENTS_PER_USER} events each; largest: ${largest})`,
            value: bytes / byUser.size,
            unit: 'bytes',
            reference,
          },
          {
            scenario: 'resources',
            metric: `Redis per active user, used_memory growth / ${users.toLocaleString('en-US')} users (includes item-side keys)`,
            value: (after - before) / users,
            unit: 'bytes',
            reference,
          },
          {
            scenario: 'resources',
            metric: `API process RSS after the scenarios before this one (stream worker ${workerPlacement() === 'process' ? 'in its own process, not counted' : 'in-process'})`,
            value: main.rss / 2 ** 20,
            unit: 'MiB',
          },
          { scenario: 'resources', metric: 'API process peak RSS (VmHWM)', value: main.peak / 2 ** 20, unit: 'MiB' },
          {
            scenario: 'resources',
            metric: `API process RSS after recording ${users.toLocaleString('en-US')} users' behaviour (fresh instance)`,
            value: instance.rss / 2 ** 20,
            unit: 'MiB',
          },
        ];
        return rows;
      } finally {
        await progress.close();
        redis.disconnect();
        await service.stop();
      }
    },
  },
];
