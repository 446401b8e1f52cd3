/**
 * The Kubernetes example (deploy/kubernetes/) and the Dockerfile, checked against the code they
 * deploy: every variable they set is one the service reads, the API and the worker start with the
 * environment they are given (and the API refuses to without its secret), shutdown fits in the
 * grace period, probes hit the real ports and paths, and the data stores match what the service
 * is told about them.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../src/config.js';
import { topicNames } from '../../src/core/topics.js';
import { API_NODE_FLAGS } from '../../src/runtime/node-flags.js';
import { resolveAuth } from '../../src/runtime/startup.js';
import { projectRoot } from '../../src/stack/paths.js';

const dir = path.join(projectRoot, 'deploy', 'kubernetes');
const NAMESPACE = 'feedrec';
const TEST_SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
/** Read by Node itself, not by src/config.ts. */
const RUNTIME_VARIABLES = ['NODE_OPTIONS'];

interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  volumes?: { name: string; emptyDir?: object }[];
}
interface Workload {
  kind: 'Deployment' | 'StatefulSet' | 'Job';
  metadata: Metadata;
  spec: {
    replicas?: number;
    serviceName?: string;
    selector?: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}
interface ConfigMap {
  metadata: Metadata;
  data: Record<string, string>;
}
interface Service {
  metadata: Metadata;
  spec: {
    clusterIP?: string;
    selector: Record<string, string>;
    ports: { name?: string; port: number; targetPort?: string | number }[];
  };
}
interface Hpa {
  metadata: Metadata;
  spec: {
    scaleTargetRef: { kind: string; name: string };
    minReplicas: number;
    maxReplicas: number;
    metrics: { resource?: { name: string; target: { averageUtilization?: number } } }[];
  };
}
interface Pdb {
  metadata: Metadata;
  spec: { maxUnavailable?: string | number; selector: { matchLabels: Record<string, string> } };
}
interface KafkaResource {
  metadata: Metadata;
  spec: {
    kafka: {
      listeners: { name: string; port: number; tls: boolean }[];
      config: Record<string, string | number | boolean>;
    };
    entityOperator?: { topicOperator?: object };
  };
}
interface KafkaTopicResource {
  metadata: Metadata;
  spec: { topicName: string; partitions: number; replicas: number; config: Record<string, string | number> };
}
interface KafkaNodePool {
  metadata: Metadata;
  spec: { replicas: number; roles: string[] };
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  file: string;
}

const manifestFiles = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .sort();

const objects: K8sObject[] = manifestFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((doc) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return { ...(doc.toJS() as Omit<K8sObject, 'file'>), file };
  }),
);

function find<T>(kind: string, name: string): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as T;
}

const configMap = find<ConfigMap>('ConfigMap', 'feedrec-config');
const api = find<Workload>('Deployment', 'feedrec-api');
const worker = find<Workload>('Deployment', 'feedrec-worker');
const redis = find<Workload>('StatefulSet', 'redis');
const createJob = find<Workload>('Job', 'redis-cluster-create');
const firstContainer = (w: Workload): Container => {
  const container = w.spec.template.spec.containers[0];
  if (!container) throw new Error(`${w.metadata.name} has no container`);
  return container;
};
const apiContainer = firstContainer(api);
const workerContainer = firstContainer(worker);
const redisContainer = firstContainer(redis);
const createContainer = firstContainer(createJob);

/** What a container's process sees: envFrom ConfigMaps first, then its own `env`, which wins (as in Kubernetes). */
function environment(container: Container, secrets: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, find<ConfigMap>('ConfigMap', source.configMapRef.name).data);
  }
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    const secret = variable.valueFrom?.secretKeyRef;
    if (secret && secrets[`${secret.name}/${secret.key}`] !== undefined)
      env[variable.name] = secrets[`${secret.name}/${secret.key}`] ?? '';
  }
  return env;
}
const apiSecrets = { 'feedrec-auth/JWT_SECRET': TEST_SECRET };

/** Kubernetes memory quantities and Redis' maxmemory units, in bytes. */
function bytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(quantity.trim());
  if (!m) throw new Error(`not a memory quantity: ${quantity}`);
  const units: Record<string, number> = {
    '': 1,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    kb: 2 ** 10,
    mb: 2 ** 20,
    gb: 2 ** 30,
    k: 1e3,
    M: 1e6,
    G: 1e9,
  };
  const unit = units[m[2] ?? ''];
  if (unit === undefined) throw new Error(`unknown unit in ${quantity}`);
  return Number(m[1]) * unit;
}

/** The value after a `--flag` in an argument list. */
function flag(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

function portNumber(container: Container, port: string | number | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

function preStopSeconds(container: Container): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const command = preStop?.exec?.command ?? [];
  return command[0] === 'sleep' ? Number(command[1]) : 0;
}

const dockerfile = readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8');
/** Instructions with their continuation lines joined and comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

describe('the Kubernetes example', () => {
  it('kustomization.yaml lists every manifest, and every file it lists exists', () => {
    const kustomization = parseAllDocuments(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'))[0]?.toJS() as {
      namespace: string;
      resources: string[];
      images: { name: string }[];
    };
    expect([...kustomization.resources].sort()).toEqual(manifestFiles);
    expect(kustomization.namespace).toBe(NAMESPACE);
    // The image it renames is the one the API and the worker run.
    expect(kustomization.images.map((i) => i.name)).toContain(apiContainer.image);
    expect(workerContainer.image).toBe(apiContainer.image);
  });

  it('puts every object in the feedrec namespace, even when a file is applied on its own', () => {
    expect(find<K8sObject>('Namespace', NAMESPACE).kind).toBe('Namespace');
    const stray = objects.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== NAMESPACE);
    expect(stray.map((o) => `${o.file}: ${o.kind} ${o.metadata.name}`)).toEqual([]);
  });

  it('sets only variables the service reads (ConfigMap, API, worker, Dockerfile)', () => {
    const known = new Set([...CONFIG_VARIABLES, ...RUNTIME_VARIABLES]);
    const dockerEnv = instructions
      .filter((l) => /^ENV\s/i.test(l))
      .flatMap((l) => [...l.slice(4).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1] ?? ''));
    expect(dockerEnv).toEqual(expect.arrayContaining(['HOST', 'LOCAL_STACK']));
    const names = [
      ...Object.keys(configMap.data),
      ...(apiContainer.env ?? []).map((e) => e.name),
      ...(workerContainer.env ?? []).map((e) => e.name),
      ...dockerEnv,
    ];
    expect(names.filter((n) => !known.has(n))).toEqual([]);
  });

  it("the API's environment starts the API: a Redis Cluster, the Kafka bootstrap, JWT, no workers inside", () => {
    const env = environment(apiContainer, apiSecrets);
    const config = loadConfig(env);
    const seeds = configMap.data.REDIS_CLUSTER_NODES?.split(',') ?? [];
    expect(config.redis.url).toBe(`redis-cluster://${seeds.join(',')}`);
    expect(config.redis.waitReplicas).toBe(1);
    expect(config.kafka.brokers).toEqual([configMap.data.KAFKA_BROKERS]);
    expect(config.kafka.partitions).toBe(Number(configMap.data.KAFKA_TOPIC_PARTITIONS));
    expect(config.kafka.replicationFactor).toBe(3);
    expect(config.auth.mode).toBe('jwt');
    expect(config.auth.jwtSecret).toBe(TEST_SECRET);
    expect(resolveAuth(config)).toEqual({ mode: 'jwt' });
    expect(config.stream.workerEnabled).toBe(false);
    expect(config.experiments.workerEnabled).toBe(false);
    expect(config.localStack.mode).toBe('off');
    expect(config.host).toBe('0.0.0.0');
    expect(config.port).toBe(4000);
    // It runs the image's command, which is the API.
    expect(apiContainer.command).toBeUndefined();
    const cmd = instructions.find((l) => l.startsWith('CMD'));
    expect(cmd).toMatch(/"src\/main\.ts"\]$/);
  });

  it('the API runs with its Node flags wherever it is started: the image, npm start, the bench', () => {
    const cmd = JSON.parse(instructions.find((l) => l.startsWith('CMD'))!.slice(3)) as string[];
    const start = (
      JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts.start!.split(' ');
    const bench = readFileSync(path.join(projectRoot, 'bench', 'service.ts'), 'utf8');
    expect(API_NODE_FLAGS.length).toBeGreaterThan(0);
    for (const flag of API_NODE_FLAGS) {
      expect(cmd.slice(0, cmd.indexOf('src/main.ts'))).toContain(flag);
      expect(start.slice(0, start.indexOf('src/main.ts'))).toContain(flag);
    }
    expect(bench).toMatch(/\.\.\.\(settings\.nodeArgs \?\? API_NODE_FLAGS\)/);
    // Flags Node knows (and accepts in NODE_OPTIONS too).
    for (const flag of API_NODE_FLAGS) expect(process.allowedNodeEnvironmentFlags.has(flag.split('=')[0]!)).toBe(true);
  });

  it('the API refuses to start without its secret: authentication is never off by accident', () => {
    const secretRef = apiContainer.env?.find((e) => e.name === 'JWT_SECRET')?.valueFrom?.secretKeyRef;
    expect(secretRef).toMatchObject({ name: 'feedrec-auth', key: 'JWT_SECRET' });
    expect(secretRef?.optional).not.toBe(true);
    expect(() => loadConfig(environment(apiContainer))).toThrow(ConfigError);
    expect(() => loadConfig(environment(apiContainer))).toThrow(/AUTH_MODE: jwt needs JWT_SECRET/);
    // An empty or short value from the Secret stops it too.
    expect(() => loadConfig(environment(apiContainer, { 'feedrec-auth/JWT_SECRET': '' }))).toThrow(ConfigError);
    expect(() => loadConfig(environment(apiContainer, { 'feedrec-auth/JWT_SECRET': 'short' }))).toThrow(
      /at least 32 characters/,
    );
  });

  it("the worker's environment starts the worker, without the secret, on the API's topics, keys and groups", () => {
    expect(workerContainer.command?.slice(-1)).toEqual(['src/worker.ts']);
    expect(JSON.stringify(workerContainer)).not.toContain('feedrec-auth');
    const config = loadConfig(environment(workerContainer));
    // src/worker.ts stops without these.
    expect(config.kafka.brokers).toBeDefined();
    expect(config.redis.url).toMatch(/^redis-cluster:\/\//);
    expect(config.stream.metricsPort).toBe(9464);
    expect(config.host).toBe('0.0.0.0');
    const apiConfig = loadConfig(environment(apiContainer, apiSecrets));
    for (const pick of [
      (c: typeof config) => c.kafka.topicPrefix,
      (c: typeof config) => c.redis.keyPrefix,
      (c: typeof config) => c.redis.url,
      (c: typeof config) => c.stream.groupId,
      (c: typeof config) => c.experiments.groupId,
      (c: typeof config) => c.kafka.partitions,
    ])
      expect(pick(config)).toEqual(pick(apiConfig));
  });

  it('runs at most as many workers as the behaviour topic has partitions, and no CPU autoscaler on them', () => {
    const partitions = Number(configMap.data.KAFKA_TOPIC_PARTITIONS);
    expect(worker.spec.replicas).toBeGreaterThan(0);
    expect(worker.spec.replicas).toBeLessThanOrEqual(partitions);
    const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler') as unknown as Hpa[];
    expect(hpas.map((h) => h.spec.scaleTargetRef.name)).toEqual(['feedrec-api']);
  });

  it.each([
    ['API', api],
    ['worker', worker],
  ])('gives the %s time to shut down gracefully: grace period > preStop + SHUTDOWN_TIMEOUT_MS', (_name, w) => {
    const container = firstContainer(w);
    const config = loadConfig(environment(container, apiSecrets));
    const grace = w.spec.template.spec.terminationGracePeriodSeconds ?? 30;
    expect(grace * 1000).toBeGreaterThan(preStopSeconds(container) * 1000 + config.shutdownTimeoutMs);
  });

  it('drains the API from its endpoints before SIGTERM', () => {
    expect(preStopSeconds(apiContainer)).toBeGreaterThanOrEqual(5);
  });

  it('probes /healthz and /readyz where each process serves them', () => {
    const apiPort = loadConfig(environment(apiContainer, apiSecrets)).port;
    const workerPort = loadConfig(environment(workerContainer)).stream.metricsPort;
    for (const [container, port] of [
      [apiContainer, apiPort],
      [workerContainer, workerPort],
    ] as const) {
      expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
      for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe])
        if (probe) expect(portNumber(container, probe.httpGet?.port)).toBe(port);
    }
  });

  it('routes the Service to the API port and the HPA, PDBs to the right pods', () => {
    const service = find<Service>('Service', 'feedrec-api');
    expect(service.spec.selector).toEqual(api.spec.selector?.matchLabels);
    expect(api.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports).toHaveLength(1);
    expect(service.spec.ports[0]?.port).toBe(80);
    expect(portNumber(apiContainer, service.spec.ports[0]?.targetPort)).toBe(4000);

    const hpa = find<Hpa>('HorizontalPodAutoscaler', 'feedrec-api');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'feedrec-api' });
    expect(hpa.spec.minReplicas).toBe(api.spec.replicas);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    expect(hpa.spec.metrics[0]?.resource).toMatchObject({ name: 'cpu', target: { averageUtilization: 60 } });

    for (const w of [api, worker, redis]) {
      const pdb = find<Pdb>('PodDisruptionBudget', w.metadata.name);
      expect(pdb.spec.selector.matchLabels).toEqual(w.spec.selector?.matchLabels);
    }
  });

  it('runs the service as non-root, with a writable /tmp wherever the root filesystem is read-only', () => {
    expect(instructions.find((l) => /^USER\s/.test(l))).toMatch(/^USER\s+(node|[1-9]\d*)$/);
    for (const w of [api, worker]) {
      const pod = w.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      for (const container of pod.containers) {
        expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
        if (!container.securityContext?.readOnlyRootFilesystem) continue;
        // tsx writes its compile cache to the temp directory and fails to start without one.
        const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
        expect(tmp, `${w.metadata.name} mounts /tmp`).toBeDefined();
        expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
      }
    }
  });

  it("keeps each Node heap below its container's memory limit", () => {
    for (const container of [apiContainer, workerContainer]) {
      const options = container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
      const heapMb = Number(/--max-old-space-size=(\d+)/.exec(options)?.[1]);
      expect(heapMb).toBeGreaterThan(0);
      expect(heapMb * 2 ** 20).toBeLessThan(bytes(container.resources?.limits?.memory ?? '0'));
    }
  });

  it('builds a Redis Cluster of masters with one replica each, and the create Job names every pod', () => {
    const replicas = redis.spec.replicas ?? 0;
    expect(replicas).toBeGreaterThan(0);
    expect(replicas % 2).toBe(0);
    const service = find<Service>('Service', redis.spec.serviceName ?? '');
    expect(service.spec.clusterIP).toBe('None');
    const domain = `${service.metadata.name}.${NAMESPACE}.svc.cluster.local`;
    const pods = Array.from({ length: replicas }, (_, i) => `${redis.metadata.name}-${i}.${domain}:6379`);
    expect([...(createContainer.args ?? [])].sort()).toEqual([...pods].sort());
    expect(createContainer.command?.join(' ')).toMatch(/--cluster create .*--cluster-replicas 1 --cluster-yes/);

    const args = redisContainer.args ?? [];
    expect(flag(args, '--cluster-enabled')).toBe('yes');
    expect(flag(args, '--appendonly')).toBe('yes');
    expect(flag(args, '--appendfsync')).toBe('everysec');
    expect(flag(args, '--cluster-node-timeout')).toBe('5000');
    expect(flag(args, '--cluster-preferred-endpoint-type')).toBe('hostname');
    expect(flag(args, '--cluster-announce-hostname')).toBe(`$(POD_NAME).${domain}`);
    expect(redisContainer.env?.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe(
      'metadata.name',
    );
    // Evicting keys would drop offset guards and windows without anyone noticing.
    expect(flag(args, '--maxmemory-policy')).toBe('noeviction');
    const maxmemory = bytes(flag(args, '--maxmemory') ?? '0');
    expect(maxmemory).toBeGreaterThan(0);
    expect(maxmemory).toBeLessThan(bytes(redisContainer.resources?.limits?.memory ?? '0'));

    // The service's seed nodes are pods of this StatefulSet.
    for (const seed of configMap.data.REDIS_CLUSTER_NODES?.split(',') ?? []) expect(pods).toContain(seed);
    // A replica must be there to confirm the stream's writes (REDIS_WAIT_REPLICAS).
    expect(Number(configMap.data.REDIS_WAIT_REPLICAS)).toBeLessThanOrEqual(1);
  });

  it('points the service at the Strimzi Kafka, which has the replicas and partitions it is told about', () => {
    const kafka = find<KafkaResource>('Kafka', 'feedrec');
    const listener = kafka.spec.kafka.listeners.find((l) => !l.tls);
    expect(configMap.data.KAFKA_BROKERS).toBe(
      `${kafka.metadata.name}-kafka-bootstrap.${NAMESPACE}.svc.cluster.local:${listener?.port}`,
    );
    const pools = objects.filter((o) => o.kind === 'KafkaNodePool') as unknown as KafkaNodePool[];
    for (const pool of pools) expect(pool.metadata.labels?.['strimzi.io/cluster']).toBe(kafka.metadata.name);
    const brokers = pools.filter((p) => p.spec.roles.includes('broker')).reduce((n, p) => n + p.spec.replicas, 0);
    const controllers = pools
      .filter((p) => p.spec.roles.includes('controller'))
      .reduce((n, p) => n + p.spec.replicas, 0);
    expect(controllers % 2).toBe(1);
    const replication = Number(configMap.data.KAFKA_REPLICATION_FACTOR);
    const config = kafka.spec.kafka.config;
    expect(brokers).toBeGreaterThanOrEqual(replication);
    expect(Number(config['min.insync.replicas'])).toBe(replication - 1);
    expect(config['auto.create.topics.enable']).toBe(false);
    expect(Number(config['num.partitions'])).toBe(Number(configMap.data.KAFKA_TOPIC_PARTITIONS));
  });

  it('makes the impressions topic the service writes, with the partitions and replicas it is told about and a short retention', () => {
    const topic = find<KafkaTopicResource>('KafkaTopic', 'impressions');
    expect(topic.metadata.labels?.['strimzi.io/cluster']).toBe('feedrec');
    expect(topic.spec.topicName).toBe(topicNames(configMap.data.KAFKA_TOPIC_PREFIX ?? '').impressions);
    expect(topic.spec.partitions).toBe(Number(configMap.data.KAFKA_TOPIC_PARTITIONS));
    expect(topic.spec.replicas).toBe(Number(configMap.data.KAFKA_REPLICATION_FACTOR));
    const retentionMs = Number(topic.spec.config['retention.ms']);
    // Longer than attribution's window, shorter than the 30 days the service would create it with.
    expect(retentionMs).toBeGreaterThan(30 * 60_000);
    expect(retentionMs).toBeLessThan(30 * 86_400_000);
    expect(find<KafkaResource>('Kafka', 'feedrec').spec.entityOperator?.topicOperator).toBeDefined();
  });

  it('points every capacity-model number at docs/capacity.md', () => {
    for (const file of ['config.yaml', 'api.yaml', 'worker.yaml', 'redis.yaml', 'kafka.yaml'])
      expect(readFileSync(path.join(dir, file), 'utf8'), file).toContain('docs/capacity.md');
  });
});

describe('the Dockerfile', () => {
  it('builds on Node 20 and installs onnxruntime-node without its CUDA download', () => {
    expect(instructions[0]).toBe('FROM node:20-bookworm-slim');
    expect(instructions.find((l) => /npm ci/.test(l))).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
  });

  it('copies every file the processes read at run time', () => {
    const copied = instructions
      .filter((l) => l.startsWith('COPY '))
      .flatMap((l) => l.slice(5).trim().split(/\s+/).slice(0, -1));
    const config = loadConfig(environment(apiContainer, apiSecrets));
    const needed = ['package.json', 'package-lock.json', 'tsconfig.json', 'src', config.ranking.modelPath];
    if (config.patterns.file) needed.push(path.relative(projectRoot, config.patterns.file));
    for (const file of needed) {
      expect(existsSync(path.join(projectRoot, file)), `${file} exists`).toBe(true);
      expect(
        copied.some((c) => file === c || file.startsWith(`${c}/`)),
        `${file} is copied`,
      ).toBe(true);
    }
  });

  it('leaves local data, caches, results and node_modules out of the build context', () => {
    const ignored = readFileSync(path.join(projectRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.git', '.data', '.cache', 'bench/results']));
  });
});
