import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from '../runtime/wait.js';
import { freePort, spawnManaged, type ManagedProcess } from './processes.js';

export interface LocalRedis {
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
  /** Starts the server again on the same port (after a stop or a kill), for failure tests. */
  restart(): Promise<void>;
}

/**
 * Starts the machine's `redis-server` on a free loopback port with its own data directory, and
 * resolves once it answers PING. It persists with an append-only file (fsync every second), so a
 * restart keeps the stream's state; `persistence: false` starts it without.
 */
export async function startLocalRedis(options: {
  dir: string;
  port?: number;
  persistence?: boolean;
  /** Start it as a Redis Cluster node (joined by the caller, see redis-cluster.ts). */
  cluster?: { nodeTimeoutMs: number };
}): Promise<LocalRedis> {
  const dir = options.dir;
  mkdirSync(dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const url = `redis://127.0.0.1:${port}`;
  let proc: ManagedProcess;

  const launch = async () => {
    const out = openSync(path.join(dir, 'redis.log'), 'a');
    proc = spawnManaged(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        options.persistence === false ? 'no' : 'yes',
        '--appendfsync',
        'everysec',
        '--daemonize',
        'no',
        ...(options.cluster
          ? [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              'nodes.conf',
              '--cluster-node-timeout',
              String(options.cluster.nodeTimeoutMs),
            ]
          : []),
      ],
      { cwd: dir, logFile: out },
    );
    let exited: number | null | undefined;
    void proc.exited.then((code) => (exited = code ?? -1));
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {}); // failures are reported by waitFor
    try {
      await waitFor(
        `Redis on ${url}`,
        async () => {
          if (probe.status !== 'ready') await probe.connect().catch(() => {});
          return (await probe.ping()) === 'PONG';
        },
        {
          timeoutMs: 10_000,
          intervalMs: 50,
          abortIf: () =>
            exited === undefined ? undefined : `redis-server exited (code ${exited}); see ${dir}/redis.log`,
        },
      );
    } finally {
      probe.disconnect();
    }
  };
  await launch();
  return {
    url,
    port,
    get process() {
      return proc;
    },
    stop: () => proc.stop(5000),
    restart: async () => {
      await proc.stop(5000);
      await launch();
    },
  };
}
