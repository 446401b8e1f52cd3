/**
 * `npm run eval [-- --data DIR] [-- --service-only | --baselines-only] [-- --env K=V,K=V]`: how good
 * the feeds are on real people's behaviour. Loads a public interaction log (EVAL_DATA or --data;
 * docs/relevance.md says where to get one), holds out each user's last 20 % of ratings, and
 * scores, on the same split and in the same run:
 *   - baselines fitted offline on the training part: popularity, co-visitation, item-kNN, EASE;
 *   - the service in its default configuration, on a fresh local Kafka + Redis (or KAFKA_BROKERS /
 *     REDIS_URL), fed the training part only through its GraphQL API and asked for one feed per user.
 * Prints a table; writes bench/results/eval-<dataset>-<timestamp>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { METADATA_KEYS } from '../../src/model/metadata.js';
import { withMetadataEntry } from '../../src/model/onnx-format.js';
import { createLocalStack } from '../../src/stack/local-stack.js';
import { projectRoot } from '../../src/stack/paths.js';
import { spawnServer } from '../service.js';
import { watchStream } from '../stream-progress.js';
import { median, percentile } from '../types.js';
import { covisitation, ease, itemKnn, popularity, type Recommender } from './baselines.js';
import { loadDataset } from './dataset.js';
import { evaluate, type Metrics } from './metrics.js';
import { askFeeds, localApiClient, replayLog } from './replay.js';
import { splitByUser, withColdStartTwins } from './split.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    'service-only': { type: 'boolean', default: false },
    'baselines-only': { type: 'boolean', default: false },
    /** Extra service settings, e.g. `--env FEED_MAX_PER_CATEGORY=20` (a knob's effect). */
    env: { type: 'string', default: '' },
    /** Evaluate only this many users (every user's behaviour is still replayed). */
    users: { type: 'string' },
    /**
     * Skip the replay and ask the feeds of a replay already in KAFKA_BROKERS / REDIS_URL under this
     * prefix (printed by an earlier run), e.g. to compare models or knobs on the same state.
     */
    reuse: { type: 'string' },
    /**
     * Write this run's numbers (the service's and the baselines') into the served model file's
     * metadata, `evaluation` (e.g. `--annotate models/default.onnx` after retraining it).
     */
    annotate: { type: 'string' },
  },
});
const dataDir = path.resolve(values.data ?? process.env.EVAL_DATA ?? path.join(projectRoot, '.data', 'ml-100k'));
const SPLIT = { holdout: 0.2, positiveThreshold: 4, minRatings: 5 } as const;
const K = 20;
const WARM_UP_USERS = 50;

const say = (text: string) => process.stderr.write(`${text}\n`);

interface Result extends Metrics {
  name: string;
  failedUsers: number;
  fitMs: number;
  p50Ms: number;
  p99Ms: number;
  notes?: Record<string, unknown>;
}

const dataset = loadDataset(dataDir);
// Cold start: twins of 200 test users who have only their first two positives (see withColdStartTwins).
const { split, cold } = withColdStartTwins(splitByUser(dataset.ratings, SPLIT), 200, 2);
const coldSet = new Set(cold);
let users = [...split.test.keys()].filter((u) => !coldSet.has(u)).sort();
if (values.users) users = users.slice(0, Number(values.users));
const groups = [
  { suffix: '', users },
  { suffix: ' · cold start (2 events)', users: cold },
];
const testOf = (list: string[]) => new Map(list.map((u) => [u, split.test.get(u) ?? new Set<string>()]));
const catalogueSize = dataset.items.size;
say(
  `${dataset.name}: ${dataset.ratings.length} ratings, ${new Set(dataset.ratings.map((r) => r.userId)).size} users, ` +
    `${catalogueSize} items; ${split.train.length} train ratings; ${users.length} users with held-out positives, ` +
    `${cold.length} cold-start twins`,
);

const results: Result[] = [];

function runBaseline(name: string, fit: () => Recommender) {
  const started = performance.now();
  const recommend = fit();
  const fitMs = performance.now() - started;
  for (const group of groups) {
    const lists = new Map<string, string[]>();
    const latencies: number[] = [];
    for (const u of group.users) {
      const t = performance.now();
      lists.set(u, recommend(u, K));
      latencies.push(performance.now() - t);
    }
    results.push({
      name: name + group.suffix,
      ...evaluate(lists, testOf(group.users), catalogueSize),
      failedUsers: 0,
      fitMs,
      p50Ms: median(latencies),
      p99Ms: percentile(latencies, 99),
    });
  }
  say(`baseline ${name}: fitted in ${Math.round(fitMs)} ms`);
}

if (!values['service-only']) {
  runBaseline('popularity', () => popularity(split));
  runBaseline('co-visitation', () => covisitation(split));
  runBaseline('item-kNN', () => itemKnn(split));
  runBaseline('EASE', () => ease(split));
}

async function runService() {
  const stack = createLocalStack({ kafka: !process.env.KAFKA_BROKERS, redis: !process.env.REDIS_URL });
  await stack.start();
  const brokers = process.env.KAFKA_BROKERS?.split(',') ?? stack.kafka?.brokers ?? [];
  const redisUrl = process.env.REDIS_URL ?? stack.redis?.url ?? '';
  if (values.reuse && (!process.env.KAFKA_BROKERS || !process.env.REDIS_URL))
    throw new Error('--reuse needs KAFKA_BROKERS and REDIS_URL (e.g. from `npm run stack`)');
  const prefix = values.reuse ?? `eval-${Date.now()}`;
  const groupId = `${prefix}-features`;
  const extraEnv = Object.fromEntries(
    values.env
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=') as [string, string]),
  );
  // The default configuration: only where its data lives (a fresh topic and key prefix) is set.
  const server = await spawnServer('src/main.ts', {
    KAFKA_BROKERS: brokers.join(','),
    REDIS_URL: redisUrl,
    KAFKA_TOPIC_PREFIX: `${prefix}.`,
    REDIS_KEY_PREFIX: prefix,
    STREAM_GROUP_ID: groupId,
    EXPERIMENT_GROUP_ID: `${prefix}-experiments`,
    LOG_LEVEL: 'info',
    ...extraEnv,
  });
  const progress = watchStream({ redisUrl, brokers }, { prefix, groupId }, 20);
  try {
    const client = localApiClient(server.url);
    const sent = values.reuse
      ? { events: 0, rejected: {}, rateLimitedRetries: 0, compression: Number.NaN, durationMs: 0 }
      : await replayLog({
          url: server.url,
          redisUrl,
          prefix,
          dataset,
          ratings: split.train,
          positiveThreshold: SPLIT.positiveThreshold,
          say: (text) => say(`service: ${text}`),
        });
    const drainMs = await progress.drain(300_000);
    const replayMs = sent.durationMs + drainMs;
    say(
      `service (${prefix}): replayed in ${Math.round(replayMs / 1000)} s (stream caught up ${Math.round(drainMs)} ms after)`,
    );
    // Warm-up, untimed: the service's first requests compile code paths and fill its caches.
    // Then wait out the per-user feed cache, so that every timed feed is computed afresh.
    await askFeeds(client, users.slice(0, WARM_UP_USERS), K);
    await new Promise((r) => setTimeout(r, 2500));
    for (const group of groups) {
      const served = await askFeeds(client, group.users, K);
      results.push({
        name: `service (GraphQL, default config)${group.suffix}`,
        ...evaluate(served.lists, testOf(group.users), catalogueSize),
        failedUsers: Object.values(served.failed).reduce((s, n) => s + n, 0),
        fitMs: replayMs,
        p50Ms: median(served.latenciesMs),
        p99Ms: percentile(served.latenciesMs, 99),
        notes: {
          eventsSent: sent.events,
          rejected: sent.rejected,
          rateLimitedRetries: sent.rateLimitedRetries,
          failed: served.failed,
          degradedFeeds: served.degraded,
          computeP50Ms: median(served.computeMs),
          computeP99Ms: percentile(served.computeMs, 99),
          // Feed entries the user had already rated in the training part (recommended again).
          alreadySeen: [...served.lists].reduce(
            (n, [u, list]) => n + list.filter((i) => split.seen.get(u)?.has(i)).length,
            0,
          ),
          compression: sent.compression,
          env: extraEnv,
        },
      });
    }
  } finally {
    await progress.close();
    await server.stop();
    await stack.stop();
  }
}

if (!values['baselines-only']) await runService();

const fmt = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const lines = [
  `| ${dataset.name} | users | Recall@20 | NDCG@10 | HitRate@20 | coverage@20 | failed users | p50 ms | p99 ms |`,
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...results.map(
    (r) =>
      `| ${r.name} | ${r.users} | ${fmt(r.recall20)} | ${fmt(r.ndcg10)} | ${fmt(r.hitRate20)} | ${fmt(r.coverage20)} | ${r.failedUsers} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} |`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
const outDir = path.join(projectRoot, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const out = path.join(outDir, `eval-${dataset.name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  out,
  `${JSON.stringify({ dataset: dataset.name, dataDir, split: SPLIT, users: users.length, catalogueSize, results }, null, 2)}\n`,
);
say(`wrote ${path.relative(process.cwd(), out)}`);
if (values.annotate) {
  const file = path.resolve(values.annotate);
  const round = (x: number) => Math.round(x * 10_000) / 10_000;
  const evaluation = {
    dataset: dataset.name,
    at: new Date().toISOString(),
    split: SPLIT,
    results: results.map((r) => ({
      name: r.name,
      users: r.users,
      recall20: round(r.recall20),
      ndcg10: round(r.ndcg10),
      hitRate20: round(r.hitRate20),
      coverage20: round(r.coverage20),
      p99Ms: round(r.p99Ms),
    })),
  };
  writeFileSync(file, withMetadataEntry(readFileSync(file), METADATA_KEYS.evaluation, JSON.stringify(evaluation)));
  say(`annotated ${path.relative(process.cwd(), file)} with this evaluation`);
}
process.exit(0);
