import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createKafka } from '../streams/kafka.js';
import { waitFor } from '../runtime/wait.js';
import { freePort, spawnManaged, type ManagedProcess } from './processes.js';
import { projectRoot } from './paths.js';

const exec = promisify(execFile);

const pomPath = path.join(projectRoot, 'stack', 'kafka', 'pom.xml');

/** The Kafka version pinned in the checked-in Maven manifest. */
export function kafkaVersion(): string {
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(pomPath, 'utf8'));
  if (!match?.[1]) throw new Error(`no <kafka.version> in ${pomPath}`);
  return match[1];
}

/**
 * Resolves the broker's jars from Maven Central through the checked-in pom (Maven caches them in
 * ~/.m2) and copies them into `.cache/kafka-<version>/libs`. Runs once per version; the copy is
 * made in a scratch directory and renamed, so concurrent first runs never see half a classpath.
 */
export async function ensureKafkaJars(log: (msg: string) => void = () => {}): Promise<string> {
  const version = kafkaVersion();
  const libs = path.join(projectRoot, '.cache', `kafka-${version}`, 'libs');
  if (existsSync(path.join(libs, `kafka_2.13-${version}.jar`))) return libs;
  log(`resolving Apache Kafka ${version} jars with Maven (first run only)`);
  const scratch = `${libs}.tmp-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(path.dirname(libs), { recursive: true });
  try {
    await exec(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        pomPath,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${scratch}`,
        '-DincludeScope=runtime',
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`Maven could not resolve Kafka ${version}: ${e.stderr || e.stdout || e.message}`, { cause: error });
  }
  if (!existsSync(libs)) renameSync(scratch, libs);
  else rmSync(scratch, { recursive: true, force: true });
  return libs;
}

export interface LocalKafka {
  readonly brokers: string[];
  readonly port: number;
  readonly controllerPort: number;
  readonly dir: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/** One KRaft node's place in its cluster: its id, its ports and every controller voter. */
interface NodeSpec {
  nodeId: number;
  port: number;
  controllerPort: number;
  /** `id@host:port` of every voter, comma-separated. */
  voters: string;
  /** How many brokers the cluster has: internal topics get that many replicas, up to 3. */
  brokers: number;
}

function serverProperties(dir: string, node: NodeSpec): string {
  const replicas = Math.min(3, node.brokers);
  // One broker: every internal topic must accept one replica, or consumer groups never find their
  // coordinator and transactions never start. Three: acks=all means two copies at least.
  const minIsr = replicas >= 3 ? 2 : 1;
  return [
    'process.roles=broker,controller',
    `node.id=${node.nodeId}`,
    `controller.quorum.voters=${node.voters}`,
    `listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${path.join(dir, 'data')}`,
    'num.partitions=6',
    `offsets.topic.replication.factor=${replicas}`,
    'offsets.topic.num.partitions=6',
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minIsr}`,
    'transaction.state.log.num.partitions=3',
    `min.insync.replicas=${minIsr}`,
    `default.replication.factor=${replicas}`,
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    'log.retention.hours=168',
    'num.network.threads=2',
    'num.io.threads=4',
    // A replica that stops fetching leaves the in-sync set quickly, so a dead broker does not hold
    // acks=all produce requests for long.
    'replica.lag.time.max.ms=5000',
    '',
  ].join('\n');
}

const log4j = (dir: string) =>
  [
    'log4j.rootLogger=WARN, file',
    'log4j.appender.file=org.apache.log4j.FileAppender',
    `log4j.appender.file.File=${path.join(dir, 'kafka.log')}`,
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.kafka.server.KafkaRaftServer=INFO',
    '',
  ].join('\n');

/** Formats (once) and starts one KRaft node in `dir`; resolves when its process is running. */
async function launchNode(
  libs: string,
  dir: string,
  node: NodeSpec,
  clusterId: string,
  heapMb: number,
): Promise<ManagedProcess> {
  mkdirSync(dir, { recursive: true });
  const propsFile = path.join(dir, 'server.properties');
  const log4jFile = path.join(dir, 'log4j.properties');
  writeFileSync(propsFile, serverProperties(dir, node));
  writeFileSync(log4jFile, log4j(dir));
  const jvm = [`-Dlog4j.configuration=file:${log4jFile}`, '-Djava.awt.headless=true', '-cp', `${libs}/*`];
  if (!existsSync(path.join(dir, 'data', 'meta.properties'))) {
    await exec('java', [
      '-Xmx256m',
      ...jvm,
      'kafka.tools.StorageTool',
      'format',
      `--cluster-id=${clusterId}`,
      '-c',
      propsFile,
    ]);
  }
  const out = openSync(path.join(dir, 'stdout.log'), 'a');
  return spawnManaged(
    'java',
    [
      `-Xms${Math.min(256, heapMb)}m`,
      `-Xmx${heapMb}m`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      ...jvm,
      'kafka.Kafka',
      propsFile,
    ],
    { cwd: dir, logFile: out },
  );
}

/**
 * Resolves once kafkajs can create a topic with a replica on every broker and every partition has
 * a leader; rejects early when a node's process exits.
 */
async function waitReady(brokers: string[], exited: () => string | undefined, timeoutMs: number) {
  const kafka = createKafka({ brokers, clientId: 'local-stack-probe', retries: 0, connectionTimeoutMs: 1000 });
  await waitFor(
    `Kafka on ${brokers.join(',')}`,
    async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.createTopics({
          topics: [{ topic: '__stack_ready', numPartitions: brokers.length, replicationFactor: brokers.length }],
          waitForLeaders: true,
        });
        const meta = await admin.fetchTopicMetadata({ topics: ['__stack_ready'] });
        const partitions = meta.topics[0]?.partitions ?? [];
        return partitions.length === brokers.length && partitions.every((p) => p.leader >= 1);
      } finally {
        await admin.disconnect().catch(() => {});
      }
    },
    { timeoutMs, intervalMs: 300, abortIf: exited },
  );
}

/**
 * Starts a single-node Apache Kafka broker in KRaft mode on free ports, in `dir`, and resolves
 * once kafkajs can create a topic and read its metadata through it.
 */
export async function startLocalKafka(options: {
  dir: string;
  /** Fixed ports, e.g. to restart a broker where its clients expect it. */
  port?: number;
  controllerPort?: number;
  heapMb?: number;
  log?: (msg: string) => void;
  readyTimeoutMs?: number;
}): Promise<LocalKafka> {
  const libs = await ensureKafkaJars(options.log);
  const dir = options.dir;
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  const node = { nodeId: 1, port, controllerPort, voters: `1@127.0.0.1:${controllerPort}`, brokers: 1 };
  const proc = await launchNode(libs, dir, node, randomBytes(16).toString('base64url'), options.heapMb ?? 1024);
  const brokers = [`127.0.0.1:${port}`];
  let exitCode: number | null | undefined;
  void proc.exited.then((code) => (exitCode = code ?? -1));
  try {
    await waitReady(
      brokers,
      () =>
        exitCode === undefined ? undefined : `the broker exited (code ${exitCode}); see ${path.join(dir, 'kafka.log')}`,
      options.readyTimeoutMs ?? 90_000,
    );
  } catch (error) {
    await proc.stop(2000);
    throw error;
  }
  return {
    brokers,
    port,
    controllerPort,
    dir,
    process: proc,
    stop: () => proc.stop(20_000),
  };
}

/** One broker of a local Kafka cluster, which a failover test can kill and start again. */
export interface LocalKafkaNode {
  readonly nodeId: number;
  readonly broker: string;
  readonly process: ManagedProcess;
  /** Starts the node again on its ports and data (after a kill). */
  restart(): Promise<void>;
}

export interface LocalKafkaCluster {
  readonly brokers: string[];
  readonly nodes: LocalKafkaNode[];
  readonly dir: string;
  stop(): Promise<void>;
}

/**
 * Starts `count` (default 3) Apache Kafka nodes in KRaft mode, each broker and controller, on free
 * ports under `dir`: internal topics and new topics get three replicas (min.insync.replicas=2), so
 * acks=all means two copies and the cluster survives the loss of any one node.
 */
export async function startLocalKafkaCluster(options: {
  dir: string;
  count?: number;
  heapMb?: number;
  log?: (msg: string) => void;
  readyTimeoutMs?: number;
}): Promise<LocalKafkaCluster> {
  const libs = await ensureKafkaJars(options.log);
  const count = options.count ?? 3;
  const ports = await Promise.all(Array.from({ length: 2 * count }, () => freePort()));
  const specs: NodeSpec[] = Array.from({ length: count }, (_, i) => ({
    nodeId: i + 1,
    port: ports[2 * i]!,
    controllerPort: ports[2 * i + 1]!,
    voters: '',
    brokers: count,
  }));
  const voters = specs.map((n) => `${n.nodeId}@127.0.0.1:${n.controllerPort}`).join(',');
  for (const spec of specs) spec.voters = voters;
  const clusterId = randomBytes(16).toString('base64url');
  const heap = options.heapMb ?? 512;
  const procs: ManagedProcess[] = [];
  const dirOf = (spec: NodeSpec) => path.join(options.dir, `node-${spec.nodeId}`);
  const exits: (string | undefined)[] = [];
  const watch = (i: number, proc: ManagedProcess) => {
    exits[i] = undefined;
    void proc.exited.then((code) => {
      if (procs[i] === proc)
        exits[i] = `broker ${i + 1} exited (code ${code ?? -1}); see ${dirOf(specs[i]!)}/kafka.log`;
    });
  };
  const stop = async () => {
    await Promise.allSettled(procs.map((p) => p.stop(20_000)));
  };
  try {
    for (const [i, spec] of specs.entries()) {
      procs[i] = await launchNode(libs, dirOf(spec), spec, clusterId, heap);
      watch(i, procs[i]);
    }
    const brokers = specs.map((n) => `127.0.0.1:${n.port}`);
    await waitReady(brokers, () => exits.find(Boolean), options.readyTimeoutMs ?? 120_000);
    return {
      brokers,
      dir: options.dir,
      nodes: specs.map((spec, i) => ({
        nodeId: spec.nodeId,
        broker: brokers[i]!,
        get process() {
          return procs[i]!;
        },
        async restart() {
          await procs[i]!.stop(20_000);
          procs[i] = await launchNode(libs, dirOf(spec), spec, clusterId, heap);
          watch(i, procs[i]);
        },
      })),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
