/**
 * Starting the service under test (and the reference server) as separate processes, so the load
 * generator in the bench process never shares an event loop with what it measures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../src/stack/paths.js';
import type { ServiceUnderTest } from './types.js';

export interface SpawnedServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Every server this process spawned and has not seen exit: killed if the bench itself is stopped. */
const spawned = new Set<ChildProcess>();

/** Kills every spawned server at once (the bench was interrupted: no time for a graceful stop). */
export function killSpawned(): void {
  for (const child of spawned) child.kill('SIGKILL');
}

/** Spawns `entry` under tsx and resolves once it printed its URL (as a `"url":"…"` JSON field on stdout). */
export async function spawnServer(entry: string, env: Record<string, string>): Promise<SpawnedServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], {
    env: { ...process.env, PORT: '0', AUTH_MODE: 'dev', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  spawned.add(child);
  child.once('exit', () => spawned.delete(child));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code}`)));
    // The service logs its URL at info in its ready line; keep reading stdout so it never blocks,
    // and pass on its warnings and errors (pino levels 40+), which explain a failed run; kafkajs'
    // start-up chatter and the expected dev-auth notice aside.
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /"url":"([^"]+)"/.exec(line);
      if (match?.[1]) resolve(match[1]);
      else if (/^\{"level":[4-6]\d/.test(line) && !/"component":"kafkajs"|"authMode":"dev"/.test(line))
        process.stderr.write(`[${entry}] ${line.slice(0, 2000)}\n`);
    });
  });
  let exited: Promise<unknown> | undefined;
  return {
    url,
    child,
    stop() {
      if (child.exitCode !== null) return Promise.resolve();
      exited ??= new Promise((r) => {
        child.once('exit', r);
        child.kill('SIGTERM');
      });
      return exited.then(() => undefined);
    },
  };
}

export interface ServiceSettings {
  brokers: string[];
  redisUrl: string;
  prefix: string;
  env?: Record<string, string>;
}

/**
 * The service with the bench's settings: its own topic and key prefix, rate limits out of the way,
 * the per-user feed cache off (every `recommendations` request is computed, never a cached
 * repeat), up to 1,000 supplied candidates, and no per-address socket limit (every simulated
 * client is on this machine).
 */
export async function startServiceUnderTest(settings: ServiceSettings): Promise<ServiceUnderTest> {
  const { prefix } = settings;
  // One consumer group per instance, for the feature worker and the experiment attribution: a
  // group shared by instances on different topics would hand each one partitions of the other's
  // topics, and every instance joining it would stop the others' consumers for a rebalance.
  const groupId = `${prefix}-features`;
  const server = await spawnServer('src/main.ts', {
    KAFKA_BROKERS: settings.brokers.join(','),
    REDIS_URL: settings.redisUrl,
    KAFKA_TOPIC_PREFIX: `${prefix}.`,
    REDIS_KEY_PREFIX: prefix,
    STREAM_GROUP_ID: groupId,
    EXPERIMENT_GROUP_ID: `${prefix}-experiments`,
    RATE_LIMIT_MUTATIONS_PER_SEC: '1000000',
    RATE_LIMIT_EVENTS_PER_SEC: '1000000',
    FEED_CACHE_TTL_MS: '0',
    MAX_CANDIDATES: '1000',
    // The live group's subscribers all connect from this machine, over up to 1,000 sockets.
    LIVE_MAX_SOCKETS_PER_IP: '1000000',
    // The ready line (with the URL) is logged at info; nothing else is logged per request.
    LOG_LEVEL: 'info',
    ...settings.env,
  });
  const pid = server.child.pid;
  if (pid === undefined) throw new Error('the service process has no pid');
  return { url: server.url, pid, prefix, groupId, stop: server.stop };
}
