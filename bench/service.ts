/**
 * Starting the service under test (and the reference server) as separate processes, so the load
 * generator in the bench process never shares an event loop with what it measures.
 */
import { createLocalStack } from '../src/stack/local-stack.js';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { API_NODE_FLAGS } from '../src/runtime/node-flags.js';
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

/**
 * A local Kafka and Redis for a bench tool (or the ones KAFKA_BROKERS / REDIS_URL name), stopped
 * with every spawned process when the tool is interrupted (Ctrl-C, a kill).
 */
export async function benchStack() {
  const stack = createLocalStack({ kafka: !process.env.KAFKA_BROKERS, redis: !process.env.REDIS_URL });
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      killSpawned();
      void stack.stop().finally(() => process.exit(130));
    });
  await stack.start();
  const brokers = process.env.KAFKA_BROKERS?.split(',') ?? stack.kafka?.brokers ?? [];
  const redisUrl = process.env.REDIS_URL ?? stack.redis?.url ?? '';
  return { stack, brokers, redisUrl };
}

/** How a spawned process says it is ready: a line from which its URL can be read. */
export type ReadyLine = (line: string) => string | undefined;

/** The service's and the reference server's ready line: a `"url":"…"` JSON field on stdout. */
const urlField: ReadyLine = (line) => /"url":"([^"]+)"/.exec(line)?.[1];

/** Spawns `entry` under tsx (after `nodeArgs`) and resolves once `ready` read a URL from a line of its stdout. */
export async function spawnServer(
  entry: string,
  env: Record<string, string>,
  {
    ready = urlField,
    nodeArgs = [],
    root = projectRoot,
  }: { ready?: ReadyLine; nodeArgs?: readonly string[]; root?: string } = {},
): Promise<SpawnedServer> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(root, entry)], {
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
      const found = ready(line);
      if (found) resolve(found);
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

/**
 * Where the service under test runs its stream worker and experiment attribution: `process` (the
 * default, as production runs them) is the API with WORKER_ENABLED=false and
 * EXPERIMENT_WORKER_ENABLED=false beside an `npm run worker` process on the same prefix and
 * consumer groups; `in-process` is the API's own default, everything in one process.
 */
export type WorkerPlacement = 'process' | 'in-process';

/** BENCH_WORKER=in-process runs every instance with its worker inside the API process. */
export function workerPlacement(): WorkerPlacement {
  const value = process.env.BENCH_WORKER ?? 'process';
  if (value !== 'process' && value !== 'in-process')
    throw new Error(`BENCH_WORKER must be "process" or "in-process", not "${value}"`);
  return value;
}

export interface ServiceSettings {
  brokers: string[];
  redisUrl: string;
  prefix: string;
  env?: Record<string, string>;
  /** `none`: the API alone (WORKER_ENABLED=false), beside another instance's worker on the same prefix. */
  worker?: WorkerPlacement | 'none';
  /** The checkout to run the processes from (another build, for an A/B); this one by default. */
  root?: string;
  /** Node flags for the API process instead of API_NODE_FLAGS (BENCH_SERVICE_NODE_ARGS still follow them). */
  nodeArgs?: readonly string[];
}

/** The worker's ready line names the port of its /metrics. */
export const workerReady: ReadyLine = (line) => {
  const port = /"metricsPort":(\d+)/.exec(line)?.[1];
  return port ? `http://127.0.0.1:${port}/metrics` : undefined;
};

/**
 * The service with the bench's settings: its own topic and key prefix, rate limits out of the way,
 * the per-user feed cache off (every `recommendations` request is computed, never a cached
 * repeat), up to 1,000 supplied candidates, and no per-address socket limit (every simulated
 * client is on this machine). Its stream worker and attribution run in a process of their own
 * unless `worker` says `in-process`. BENCH_SERVICE_NODE_ARGS (e.g. `--cpu-prof
 * --cpu-prof-dir=/tmp/prof`) is passed to node for the API process only.
 */
export async function startServiceUnderTest(settings: ServiceSettings): Promise<ServiceUnderTest> {
  const { prefix } = settings;
  const placement = settings.worker ?? workerPlacement();
  // One consumer group per instance, for the feature worker and the experiment attribution: a
  // group shared by instances on different topics would hand each one partitions of the other's
  // topics, and every instance joining it would stop the others' consumers for a rebalance.
  const groupId = `${prefix}-features`;
  const shared = {
    KAFKA_BROKERS: settings.brokers.join(','),
    REDIS_URL: settings.redisUrl,
    KAFKA_TOPIC_PREFIX: `${prefix}.`,
    REDIS_KEY_PREFIX: prefix,
    STREAM_GROUP_ID: groupId,
    EXPERIMENT_GROUP_ID: `${prefix}-experiments`,
    // The ready line (with the URL) is logged at info; nothing else is logged per request.
    LOG_LEVEL: 'info',
  };
  // NODE_OPTIONS in `env` (e.g. the live group's inspector port) is for the API process only: the
  // worker would otherwise take the port, and readings meant for the API would be the worker's.
  const workerEnv = Object.fromEntries(Object.entries(settings.env ?? {}).filter(([name]) => name !== 'NODE_OPTIONS'));
  // The worker first: it creates the topics and joins its groups (reading from the beginning, so
  // nothing the API accepts meanwhile is missed either way).
  const worker =
    placement === 'process'
      ? await spawnServer(
          'src/worker.ts',
          { ...shared, WORKER_METRICS_PORT: '0', ...workerEnv },
          { ready: workerReady, root: settings.root },
        )
      : undefined;
  let server: SpawnedServer;
  try {
    server = await spawnServer(
      'src/main.ts',
      {
        ...shared,
        ...(placement !== 'in-process' ? { WORKER_ENABLED: 'false', EXPERIMENT_WORKER_ENABLED: 'false' } : {}),
        RATE_LIMIT_MUTATIONS_PER_SEC: '1000000',
        RATE_LIMIT_EVENTS_PER_SEC: '1000000',
        FEED_CACHE_TTL_MS: '0',
        MAX_CANDIDATES: '1000',
        // The live group's subscribers all connect from this machine, over up to 1,000 sockets.
        LIVE_MAX_SOCKETS_PER_IP: '1000000',
        ...settings.env,
      },
      // The flags production starts the API with, then any the bench was given.
      {
        nodeArgs: [
          ...(settings.nodeArgs ?? API_NODE_FLAGS),
          ...(process.env.BENCH_SERVICE_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        ],
        root: settings.root,
      },
    );
  } catch (error) {
    await worker?.stop();
    throw error;
  }
  const pid = server.child.pid;
  if (pid === undefined) throw new Error('the service process has no pid');
  const metricsUrl = new URL('/metrics', server.url).href;
  return {
    url: server.url,
    pid,
    prefix,
    groupId,
    worker: placement,
    workerPid: worker?.child.pid,
    streamMetricsUrl: worker?.url ?? metricsUrl,
    async stop() {
      await server.stop();
      await worker?.stop();
    },
  };
}
