/**
 * The stream step on one Redis and on a Redis Cluster of three masters (a replica each), side by
 * side in one run: the bench's mix (bench/stream-cost.ts) applied through the worker's applier,
 * without Kafka, by 1 and by 3 appliers in parallel (each a worker's share of the partitions, as
 * several worker processes would hold them). Reported: events/s, and on the cluster each master's
 * share of the Redis CPU, which shows whether the work is spread over the masters.
 *
 * `npx tsx bench/cluster-apply.ts [users] [eventsPerUser]`; the `stream` group of `npm run bench`
 * reports the same rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { redisKeys } from '../src/core/keys.js';
import { createLogger } from '../src/logger.js';
import { loadPatternRules } from '../src/patterns/rules.js';
import { connectRedis, execPipeline, pipelineOf, type RedisClient } from '../src/redis/client.js';
import { projectRoot } from '../src/stack/paths.js';
import { startLocalRedis } from '../src/stack/redis.js';
import { startLocalRedisCluster } from '../src/stack/redis-cluster.js';
import { createApplier } from '../src/streams/apply.js';
import { benchCatalogue } from './api.js';
import { redisCpuSeconds } from './observe.js';
import { applyMix, PARTITIONS, streamMix } from './stream-cost.js';

export interface ApplyRun {
  topology: 'one Redis' | 'Redis Cluster (3 masters)';
  appliers: number;
  events: number;
  eventsPerSec: number;
  /** Per master, its share of the Redis CPU the run used (one entry on one Redis). */
  cpuShares: number[];
}

async function cpuMicros(url: string) {
  const probe = new Redis(url);
  try {
    return (await redisCpuSeconds(probe)) * 1e6;
  } finally {
    probe.disconnect();
  }
}

async function run(
  redis: RedisClient,
  masters: string[],
  topology: ApplyRun['topology'],
  appliers: number,
  options: { users: number; eventsPerUser: number },
): Promise<ApplyRun> {
  const keys = redisKeys(`apply${appliers}`);
  const items = benchCatalogue(2000);
  const meta = pipelineOf(redis);
  for (const item of items) meta.hset(keys.item(item.id), { category: item.category, tags: item.tags.join(',') });
  await execPipeline(meta);
  const patterns = loadPatternRules(path.join(projectRoot, 'patterns.json'));
  const { all, byPartition } = streamMix(items, options);
  // Each applier holds every `appliers`-th partition, as a consumer group spreads them.
  const shares = Array.from({ length: appliers }, (_, a) =>
    Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) => p % appliers === a),
  );
  const runners = await Promise.all(
    shares.map(async () => {
      const applier = createApplier({
        redis,
        keys,
        epochKey: keys.streamEpoch('apply'),
        allowedLatenessMs: 120_000,
        patterns,
      });
      await applier.adoptEpoch();
      return applier;
    }),
  );
  const cpuBefore = await Promise.all(masters.map(cpuMicros));
  const started = performance.now();
  await Promise.all(
    runners.map((applier, a) => applyMix(applier, byPartition, keys.streamOffsets('apply', 'behavior'), shares[a])),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = await Promise.all(masters.map(cpuMicros));
  const used = cpuAfter.map((c, i) => c - cpuBefore[i]!);
  const total = used.reduce((a, b) => a + b, 0);
  return {
    topology,
    appliers,
    events: all.length,
    eventsPerSec: all.length / seconds,
    cpuShares: used.map((u) => (total > 0 ? u / total : 0)),
  };
}

export async function measureClusterApply(options: { users: number; eventsPerUser: number }): Promise<ApplyRun[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'feedrec-cluster-apply-'));
  const log = createLogger('silent');
  const single = await startLocalRedis({ dir: path.join(dir, 'single'), persistence: false });
  const cluster = await startLocalRedisCluster({ dir: path.join(dir, 'cluster'), persistence: false });
  const one = await connectRedis(single.url, log, 'bench-single');
  const many = await connectRedis(`redis-cluster://${cluster.seeds}`, log, 'bench-cluster');
  try {
    const masters = (await cluster.masters()).map((node) => node.url);
    const runs: ApplyRun[] = [];
    for (const appliers of [1, 3]) {
      runs.push(await run(one, [single.url], 'one Redis', appliers, options));
      runs.push(await run(many, masters, 'Redis Cluster (3 masters)', appliers, options));
    }
    return runs;
  } finally {
    one.disconnect();
    many.disconnect();
    await cluster.stop();
    await single.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const users = Number(process.argv[2] ?? 1000);
  const eventsPerUser = Number(process.argv[3] ?? 20);
  for (const r of await measureClusterApply({ users, eventsPerUser }))
    process.stdout.write(
      `${r.topology.padEnd(26)} ${r.appliers} applier(s): ${Math.round(r.eventsPerSec)} events/s over ${r.events} events; ` +
        `Redis CPU per master ${r.cpuShares.map((s) => `${Math.round(100 * s)} %`).join(' / ')}\n`,
    );
}
