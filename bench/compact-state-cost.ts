/**
 * What the users' side of the stream step would cost Redis if the worker worked out each user's
 * state and Redis only held it, beside what it costs now, in one run. The bench's mix
 * (bench/stream-cost.ts: the same users, events and per-partition batches) goes out twice, each on
 * a Redis of its own:
 *
 * - **now**: the worker's applier, as `bench/stream-cost.ts` runs it; the figure is its users'
 *   steps (user and pattern scripts), the item window left out;
 * - **compact state**: per batch, one read of each of its users' state (`HMGET` of a version and a
 *   string of `stateBytes`), then, 8 users to a script call as the applier groups them, the epoch
 *   fence and a compare-and-set of each user's new state (`bench/lua/compact-state-cas.lua`).
 *
 * The compact state is a stand-in: no such encoding exists yet, and the worker's own work (decoding
 * the state, applying the events, encoding it again) is not measured, only what Redis does. Its
 * default size, 2,500 bytes, is what the design's 3 KB per active user leaves once Redis' own
 * overhead for the key is paid. Reported: Redis CPU per event for both, and the bytes one user's
 * compact state takes (MEMORY USAGE).
 *
 * `npx tsx bench/compact-state-cost.ts [users] [eventsPerUser] [batch] [stateBytes]`
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { execPipeline } from '../src/redis/client.js';
import { startLocalRedis } from '../src/stack/redis.js';
import { USERS_PER_CALL } from '../src/streams/apply.js';
import { benchCatalogue } from './api.js';
import { redisCpuSeconds } from './observe.js';
import { BATCH, measureStreamCost, streamMix } from './stream-cost.js';

const CAS = readFileSync(new URL('lua/compact-state-cas.lua', import.meta.url), 'utf8');

export async function measureCompactState(options: {
  users: number;
  eventsPerUser: number;
  batch?: number;
  stateBytes?: number;
}) {
  const batch = options.batch ?? BATCH;
  const stateBytes = options.stateBytes ?? 2500;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'feedrec-compact-state-'));
  const server = await startLocalRedis({ dir, persistence: false });
  const redis = new Redis(server.url);
  try {
    const { all, byPartition } = streamMix(benchCatalogue(2000), options);
    const epochKey = 'cs:stream:epoch';
    const key = (userId: string) => `cs:{u:${userId}}:s`;
    await redis.set(epochKey, 'e1');
    const sha = String(await redis.script('LOAD', CAS));
    const state = Buffer.alloc(stateBytes, 'x');
    const before = (await redisCpuSeconds(redis)) * 1e6;
    for (let start = 0; ; start += batch) {
      let any = false;
      for (const events of byPartition) {
        const slice = events.slice(start, start + batch);
        if (!slice.length) continue;
        any = true;
        const users = [...new Set(slice.map((e) => e.event.userId))];
        const read = redis.pipeline();
        for (const u of users) read.hmget(key(u), 'v', 'b');
        const versions = (await execPipeline(read)).map((r) => (r as (string | null)[])[0] ?? '');
        const write = redis.pipeline();
        for (let i = 0; i < users.length; i += USERS_PER_CALL) {
          const group = users.slice(i, i + USERS_PER_CALL);
          const argv = group.flatMap((u, j) => {
            const v = versions[i + j]!;
            return [v, String(Number(v || 0) + 1), state];
          });
          write.evalsha(sha, 1 + group.length, epochKey, ...group.map(key), 'e1', ...argv);
        }
        for (const reply of await execPipeline(write))
          if (!(reply as number[]).every((r) => r === 1)) throw new Error('a write lost its race');
      }
      if (!any) break;
    }
    const micros = (await redisCpuSeconds(redis)) * 1e6 - before;
    const bytesPerUser = Number(await redis.call('MEMORY', 'USAGE', key(all[0]!.userId), 'SAMPLES', '0'));
    return { events: all.length, redisMicrosPerEvent: micros / all.length, bytesPerUser, stateBytes };
  } finally {
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [users = 1000, eventsPerUser = 50, batch = 50, stateBytes = 2500] = process.argv.slice(2).map(Number);
  const now = await measureStreamCost({ users, eventsPerUser, batch });
  const compact = await measureCompactState({ users, eventsPerUser, batch, stateBytes });
  process.stdout.write(
    `${JSON.stringify(
      {
        batch,
        now: { usersStepsMicrosPerEvent: now.redisMicrosPerEventByStep.users, bytesPerUser: now.bytesPerUser },
        compact,
        ratio: now.redisMicrosPerEventByStep.users / compact.redisMicrosPerEvent,
      },
      null,
      2,
    )}\n`,
  );
}
