import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { waitFor } from '../runtime/wait.js';
import { freePort } from './processes.js';
import { startLocalRedis, type LocalRedis } from './redis.js';

const exec = promisify(execFile);

export interface LocalRedisCluster {
  /** Every node, masters first as `redis-cli --cluster create` paired them (node i + masters is i's replica). */
  readonly nodes: LocalRedis[];
  /** `host:port` of every node, comma-separated: what REDIS_CLUSTER_NODES takes. */
  readonly seeds: string;
  /** The node serving `slot` as master now (it changes after a failover). */
  masterOf(slot: number): Promise<LocalRedis>;
  /** The nodes that are masters now (nodes that are down are left out). */
  masters(): Promise<LocalRedis[]>;
  /** Resolves once every slot is served and every node that is up says the cluster is ok. */
  healthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Runs `ask` on a one-off connection to the node on `port`, which fails fast if the node is down. */
async function askNode<T>(port: number, ask: (node: Redis) => Promise<T>): Promise<T> {
  const probe = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return await ask(probe);
  } finally {
    probe.disconnect();
  }
}

async function clusterInfo(port: number): Promise<Record<string, string>> {
  const text = await askNode(port, (node) => node.call('CLUSTER', 'INFO') as Promise<string>);
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter(Boolean)
      .map((line) => line.split(':') as [string, string]),
  );
}

/**
 * A real Redis Cluster on loopback: `masters` masters with `replicasPerMaster` replicas each, every
 * node a `redis-server` with its own directory and append-only file, joined with
 * `redis-cli --cluster create`. Nodes time out after `nodeTimeoutMs` (a replica is promoted about
 * that long after its master dies): Redis' own default of 15 s unless set. Failover tests set a
 * short one to run in seconds; on a busy machine a short one also fails over healthy masters that
 * merely answered late (a bench on 2 shared cores saw CLUSTERDOWN and moved slots at 2 s).
 */
export async function startLocalRedisCluster(options: {
  dir: string;
  masters?: number;
  replicasPerMaster?: number;
  nodeTimeoutMs?: number;
  persistence?: boolean;
}): Promise<LocalRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const count = masters * (1 + replicas);
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const nodes: LocalRedis[] = [];
  const stopAll = async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
  };
  try {
    for (const [i, port] of ports.entries())
      nodes.push(
        await startLocalRedis({
          dir: path.join(options.dir, `node-${i + 1}`),
          port,
          persistence: options.persistence,
          cluster: { nodeTimeoutMs: options.nodeTimeoutMs ?? 15_000 },
        }),
      );
    await exec('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    const cluster = handle(nodes);
    await cluster.healthy(30_000);
    // Replicas are attached by gossip after the create: until every node sees the whole shape, one
    // asked early still lists a replica-to-be as a master (how many gossip rounds that takes grows
    // with the node timeout).
    await waitFor(
      'every Redis Cluster node to see its masters and replicas',
      async () => {
        const views = await Promise.all(
          nodes.map((n) => askNode(n.port, (probe) => probe.call('CLUSTER', 'NODES') as Promise<string>)),
        );
        return views.every((text) => {
          const flags = text
            .split('\n')
            .filter(Boolean)
            .map((line) => line.split(' ')[2] ?? '');
          const seen = (role: string) => flags.filter((f) => f.split(',').includes(role)).length;
          return seen('master') === masters && seen('slave') === masters * replicas;
        });
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    return cluster;
  } catch (error) {
    await stopAll();
    throw error;
  }

  function handle(all: LocalRedis[]): LocalRedisCluster {
    return {
      nodes: all,
      seeds: all.map((n) => `127.0.0.1:${n.port}`).join(','),
      async masterOf(slot: number) {
        for (const node of all) {
          const slots = await askNode(
            node.port,
            (probe) => probe.call('CLUSTER', 'SLOTS') as Promise<[number, number, [string, number]][]>,
          ).catch(() => undefined); // a node that is down: ask the next
          const range = slots?.find(([from, to]) => slot >= from && slot <= to);
          const master = all.find((n) => n.port === range?.[2]?.[1]);
          if (master) return master;
        }
        throw new Error(`no node serves slot ${slot}`);
      },
      async masters() {
        const roles = await Promise.all(
          all.map((node) =>
            askNode(node.port, (probe) => probe.call('ROLE') as Promise<[string]>).catch(() => undefined),
          ),
        );
        return all.filter((_, i) => roles[i]?.[0] === 'master');
      },
      async healthy(timeoutMs = 30_000) {
        await waitFor(
          'the Redis Cluster to be ok on every node',
          async () => {
            const infos = await Promise.all(
              all.map((n) => clusterInfo(n.port).catch((): Record<string, string> => ({}))),
            );
            // Nodes that are down (a failover test killed one) are left out; the rest must agree.
            const up = infos.filter((i) => i.cluster_state !== undefined);
            return up.length > 0 && up.every((i) => i.cluster_state === 'ok' && i.cluster_slots_assigned === '16384');
          },
          { timeoutMs, intervalMs: 200 },
        );
      },
      stop: stopAll,
    };
  }
}
