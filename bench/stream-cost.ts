/**
 * What the stream step costs Redis, without Kafka: the bench's behaviour mix (users with three
 * favourite categories, the shipped action shares, events spread over ten minutes) applied through
 * the worker's own applier, with the shipped pattern rules, in per-partition batches as the worker
 * receives them, on a Redis of its own. Reported: commands Redis executed per event (INFO
 * commandstats, commands inside scripts included), script calls and round trips per event, Redis CPU
 * per event (INFO cpu), and bytes per active user in the user's own keys (MEMORY USAGE),
 * split by kind of key. Events carry eventIds made as the API makes them for a client that sends
 * none (`generateEventId`), so the bytes per user are those of traffic through the API: the dedupe
 * set and the pattern buffer hold them.
 *
 * `npx tsx bench/stream-cost.ts [users] [eventsPerUser] [batch]` prints the figures; the stream
 * scenario reports them beside the apply rate, and the commands and CPU per event at a live rate's
 * batches and at a backlog's, since both depend on the batch size far more than on anything else.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { redisKeys } from '../src/core/keys.js';
import { generateEventId, type BehaviorEvent } from '../src/core/events.js';
import { loadPatternRules } from '../src/patterns/rules.js';
import { startLocalRedis } from '../src/stack/redis.js';
import { projectRoot } from '../src/stack/paths.js';
import { createApplier, type Applier } from '../src/streams/apply.js';
import { createItemWindow } from '../src/streams/item-window.js';
import type { PositionedEvent } from '../src/streams/plan.js';
import { behaviourOf, benchCatalogue, type CatalogueItem } from './api.js';
import { redisCpuSeconds } from './observe.js';

export interface StreamCost {
  events: number;
  users: number;
  /** Commands Redis executed per event, inside scripts included. */
  commandsPerEvent: number;
  /** Events per applied item window (the worker's policy, on this run's speed). */
  eventsPerWindow: number;
  /** Script calls (EVALSHA/EVAL) per event. */
  scriptCallsPerEvent: number;
  /** Pipelines and single commands the applier sent, per event. */
  roundTripsPerEvent: number;
  /** Redis CPU per event (its used_cpu_user + used_cpu_sys over the run), µs. */
  redisMicrosPerEvent: number;
  /**
   * The same split by step: the users' side (each batch's user and pattern steps) and the item
   * window's (items, co-visitation, trending, progress), each read around its own calls.
   */
  redisMicrosPerEventByStep: { users: number; items: number };
  /**
   * Of Redis' time in commands, what the scripts spent beyond the commands they ran (the Lua
   * interpreter: arguments, strings, tables), µs per event (see `commandStats`).
   */
  interpreterMicrosPerEvent: number;
  /** Bytes in the user's own keys, per user, and the split by kind of key. */
  bytesPerUser: number;
  keysPerUser: number;
  byKind: [kind: string, bytesPerUser: number][];
  /** Bytes and keys per item the run touched, in the item's own keys (stats, co-visitation; the catalogue entry left out). */
  bytesPerItem: number;
  keysPerItem: number;
  /** Commands per event by name, most first (the catalogue writes before the run included). */
  perCommand: [command: string, perEvent: number][];
  /** Per kind of key, how many keys use each Redis encoding (listpack is the compact one). */
  encodings: Record<string, Record<string, number>>;
}

export const PARTITIONS = 6;
/**
 * Events per partition in one applied batch, by default. The worker's batches are what a fetch
 * returns: a few dozen per partition at a live rate, up to STREAM_BATCH_BYTES (about 1,800 records)
 * per partition while it catches up a backlog; `batch` sets another size.
 */
export const BATCH = 500;

/**
 * Commands Redis executed (INFO commandstats, inner script commands included), script calls, and
 * the time Redis spent in scripts beyond the commands they ran: a script's `usec` counts everything
 * it did, and its commands are counted again under their own names, so the difference is the Lua
 * interpreter's share (the few commands sent outside scripts, a catalogue read or a progress
 * write, are subtracted as if run inside: it errs low by their little time).
 */
async function commandStats(redis: Redis) {
  const text = await redis.info('commandstats');
  let calls = 0;
  let scripts = 0;
  let scriptMicros = 0;
  let commandMicros = 0;
  for (const line of text.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (!m) continue;
    const [, name, c, usec] = m;
    if (name === 'info' || name === 'memory' || name === 'scan' || name === 'config' || name === 'script') continue;
    calls += Number(c);
    if (name === 'evalsha' || name === 'eval') {
      scripts += Number(c);
      scriptMicros += Number(usec);
    } else commandMicros += Number(usec);
  }
  return { calls, scripts, interpreterMicros: scriptMicros - commandMicros };
}

/** Commands per event by name (top ones first), from INFO commandstats on this Redis of its own. */
async function commandBreakdown(redis: Redis, events: number): Promise<[command: string, perEvent: number][]> {
  const text = await redis.info('commandstats');
  const out: [string, number][] = [];
  for (const line of text.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m && !['info', 'memory', 'scan', 'config', 'script', 'object', 'ping'].includes(m[1] ?? ''))
      out.push([m[1] ?? '', Math.round((100 * Number(m[2])) / events) / 100]);
  }
  return out.sort((a, b) => b[1] - a[1]).filter(([, n]) => n >= 0.01);
}

/** Redis' own CPU time so far (user + system), in µs. */
async function cpuMicros(redis: Redis) {
  return (await redisCpuSeconds(redis)) * 1e6;
}

/**
 * The bench's mix: `users` users with three favourite categories and the shipped action shares,
 * `eventsPerUser` events each spread over ten minutes, interleaved in event-time order (as traffic
 * arrives) and split into PARTITIONS partitions by user, with server-made event ids.
 */
export function streamMix(items: CatalogueItem[], options: { users: number; eventsPerUser: number }) {
  const behaviour = behaviourOf(items);
  const all: BehaviorEvent[] = [];
  for (let u = 0; u < options.users; u++)
    for (const input of behaviour(`cu${u}`, options.eventsPerUser, 10 * 60_000)) {
      const at = Date.parse(input.occurredAt ?? new Date().toISOString());
      all.push({
        v: 1,
        eventId: generateEventId(),
        userId: input.userId ?? `cu${u}`,
        itemId: input.itemId,
        action: input.action,
        occurredAt: at,
        receivedAt: at,
      });
    }
  all.sort((a, b) => a.occurredAt - b.occurredAt);
  const byPartition = Array.from({ length: PARTITIONS }, () => [] as PositionedEvent[]);
  for (const event of all) {
    const p = Number(event.userId.slice(2)) % PARTITIONS;
    const list = byPartition[p]!;
    list.push({ event, offset: String(list.length) });
  }
  return { all, byPartition };
}

/**
 * Applies the mix in batches of `batch` per partition (BATCH unless given), as the worker receives
 * them: each batch's user side at once, the item side through an item window with the worker's
 * policy (see item-window.ts); `partitions` limits it to some partitions (one worker's share). Each
 * batch knows the progress recorded before it (what it may trim), as in the worker.
 */
export async function applyMix(
  applier: Applier,
  byPartition: PositionedEvent[][],
  offsets: string,
  partitions: readonly number[] = byPartition.map((_, p) => p),
  batch = BATCH,
  step: <T>(side: 'users' | 'items', run: () => Promise<T>) => Promise<T> = (_, run) => run(),
) {
  const settled = new Map<number, string>();
  const window = createItemWindow<number>();
  let windows = 0;
  const flush = async (force: boolean) => {
    if (!(force ? window.batches > 0 : window.due())) return;
    const done = await step('items', () =>
      window.flush((batches, last) => applier.itemStep(batches, { key: offsets, offsets: last })),
    );
    for (const e of done) settled.set(e.partition, e.lastOffset);
    windows++;
  };
  for (let start = 0; ; start += batch) {
    let any = false;
    for (const p of partitions) {
      const events = byPartition[p]!.slice(start, start + batch);
      if (!events.length) continue;
      any = true;
      const users = await step('users', () => applier.applyUserSide(events, p, settled.get(p)));
      window.add(p, users.contributions, events.at(-1)!.offset, events.length);
      await flush(false);
    }
    if (!any) break;
  }
  await flush(true);
  return { windows };
}

export async function measureStreamCost(options: {
  users: number;
  eventsPerUser: number;
  /** Events per partition in one batch (default BATCH). */
  batch?: number;
}): Promise<StreamCost> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'feedrec-stream-cost-'));
  const server = await startLocalRedis({ dir, persistence: false });
  const redis = new Redis(server.url);
  let roundTrips = 0;
  try {
    const keys = redisKeys('cost');
    const items = benchCatalogue(2000);
    const meta = redis.pipeline();
    for (const item of items) meta.hset(keys.item(item.id), { category: item.category, tags: item.tags.join(',') });
    await meta.exec();
    const applier = createApplier({
      redis,
      keys,
      epochKey: keys.streamEpoch('cost'),
      allowedLatenessMs: 120_000,
      patterns: loadPatternRules(path.join(projectRoot, 'patterns.json')),
    });
    await applier.adoptEpoch();

    const { all, byPartition } = streamMix(items, options);

    const before = await commandStats(redis);
    const cpuBefore = await cpuMicros(redis);
    const counting = redis as Redis & { pipeline: Redis['pipeline'] };
    const pipeline = counting.pipeline.bind(counting);
    counting.pipeline = (...args: Parameters<Redis['pipeline']>) => {
      roundTrips++;
      return pipeline(...args);
    };
    const hset = counting.hset.bind(counting);
    counting.hset = ((...args: Parameters<Redis['hset']>) => {
      roundTrips++;
      return hset(...args);
    }) as Redis['hset'];
    // Redis runs one command at a time and the mix goes out one step after another, so the CPU
    // Redis used between a step's start and end is that step's (each INFO costs about 15 µs, a
    // hundredth of a per cent of the run).
    const bySide = { users: 0, items: 0 };
    const { windows } = await applyMix(
      applier,
      byPartition,
      keys.streamOffsets('cost', 'behavior'),
      byPartition.map((_, p) => p),
      options.batch,
      async (side, run) => {
        const start = await cpuMicros(redis);
        const result = await run();
        bySide[side] += (await cpuMicros(redis)) - start;
        return result;
      },
    );
    counting.pipeline = pipeline;
    counting.hset = hset;
    const after = await commandStats(redis);
    const cpuAfter = await cpuMicros(redis);
    const perCommand = await commandBreakdown(redis, all.length);

    // Sizes: every key under the users' hash tags.
    const sizes = new Map<string, number>();
    const encodings = new Map<string, Map<string, number>>();
    let bytes = 0;
    let keyCount = 0;
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', 'cost:{u:*', 'COUNT', 5000);
      cursor = next;
      const p = redis.pipeline();
      for (const key of found) {
        p.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
        p.call('OBJECT', 'ENCODING', key);
      }
      const replies = (await p.exec()) ?? [];
      found.forEach((key, i) => {
        const size = Number(replies[2 * i]?.[1] ?? 0);
        const kind = key.replace(/^.*\}:/, '').replace(/\d+/g, 'N');
        const encoding = String(replies[2 * i + 1]?.[1]);
        const counts = encodings.get(kind) ?? new Map<string, number>();
        encodings.set(kind, counts);
        counts.set(encoding, (counts.get(encoding) ?? 0) + 1);
        sizes.set(kind, (sizes.get(kind) ?? 0) + size);
        bytes += size;
        keyCount++;
      });
    } while (cursor !== '0');

    // Item side: every key under the items' hash tags but the catalogue entries written above.
    let itemBytes = 0;
    let itemKeys = 0;
    const touched = new Set<string>();
    cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', 'cost:{i:*', 'COUNT', 5000);
      cursor = next;
      const own = found.filter((key) => !key.endsWith(':meta'));
      const p = redis.pipeline();
      for (const key of own) p.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
      const replies = (await p.exec()) ?? [];
      own.forEach((key, i) => {
        itemBytes += Number(replies[i]?.[1] ?? 0);
        itemKeys++;
        touched.add(key.replace(/\}.*$/, ''));
      });
    } while (cursor !== '0');

    const events = all.length;
    return {
      events,
      users: options.users,
      commandsPerEvent: (after.calls - before.calls) / events,
      eventsPerWindow: events / Math.max(1, windows),
      scriptCallsPerEvent: (after.scripts - before.scripts) / events,
      roundTripsPerEvent: roundTrips / events,
      redisMicrosPerEvent: (cpuAfter - cpuBefore) / events,
      redisMicrosPerEventByStep: { users: bySide.users / events, items: bySide.items / events },
      interpreterMicrosPerEvent: (after.interpreterMicros - before.interpreterMicros) / events,
      bytesPerUser: bytes / options.users,
      keysPerUser: keyCount / options.users,
      bytesPerItem: touched.size ? itemBytes / touched.size : 0,
      keysPerItem: touched.size ? itemKeys / touched.size : 0,
      byKind: [...sizes]
        .sort((a, b) => b[1] - a[1])
        .map(([kind, b]): [string, number] => [kind, Math.round(b / options.users)]),
      perCommand,
      encodings: Object.fromEntries([...encodings].map(([kind, counts]) => [kind, Object.fromEntries(counts)])),
    };
  } finally {
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const users = Number(process.argv[2] ?? 1000);
  const eventsPerUser = Number(process.argv[3] ?? 50);
  const batch = Number(process.argv[4] ?? BATCH);
  const cost = await measureStreamCost({ users, eventsPerUser, batch });
  process.stdout.write(`${JSON.stringify(cost, null, 2)}\n`);
}
