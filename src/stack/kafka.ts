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

function serverProperties(dir: string, port: number, controllerPort: number): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${path.join(dir, 'data')}`,
    'num.partitions=6',
    // A single broker: every internal topic must accept one replica, or consumer groups never
    // find their coordinator and transactions never start.
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=6',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=3',
    'min.insync.replicas=1',
    'default.replication.factor=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    'log.retention.hours=168',
    'num.network.threads=2',
    'num.io.threads=4',
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
  mkdirSync(dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  const propsFile = path.join(dir, 'server.properties');
  const log4jFile = path.join(dir, 'log4j.properties');
  writeFileSync(propsFile, serverProperties(dir, port, controllerPort));
  writeFileSync(log4jFile, log4j(dir));
  const classpath = `${libs}/*`;
  const jvm = [`-Dlog4j.configuration=file:${log4jFile}`, '-Djava.awt.headless=true', '-cp', classpath];

  const clusterId = randomBytes(16).toString('base64url');
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
  const heap = options.heapMb ?? 1024;
  const out = openSync(path.join(dir, 'stdout.log'), 'a');
  const proc = spawnManaged(
    'java',
    [
      `-Xms${Math.min(256, heap)}m`,
      `-Xmx${heap}m`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      ...jvm,
      'kafka.Kafka',
      propsFile,
    ],
    { cwd: dir, logFile: out },
  );
  const brokers = [`127.0.0.1:${port}`];
  let exitCode: number | null | undefined;
  void proc.exited.then((code) => (exitCode = code ?? -1));

  const kafka = createKafka({ brokers, clientId: 'local-stack-probe', retries: 0, connectionTimeoutMs: 1000 });
  try {
    await waitFor(
      `Kafka on 127.0.0.1:${port}`,
      async () => {
        const admin = kafka.admin();
        try {
          await admin.connect();
          await admin.createTopics({ topics: [{ topic: '__stack_ready', numPartitions: 1 }], waitForLeaders: true });
          const meta = await admin.fetchTopicMetadata({ topics: ['__stack_ready'] });
          return meta.topics[0]?.partitions[0]?.leader === 1;
        } finally {
          await admin.disconnect().catch(() => {});
        }
      },
      {
        timeoutMs: options.readyTimeoutMs ?? 90_000,
        intervalMs: 300,
        abortIf: () =>
          exitCode === undefined
            ? undefined
            : `the broker exited (code ${exitCode}); see ${path.join(dir, 'kafka.log')}`,
      },
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
