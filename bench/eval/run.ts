/**
 * `npm run eval [-- --data DIR] [-- --service-only | --baselines-only] [-- --env K=V,K=V]`: how good
 * the feeds are on real people's behaviour. Loads a public interaction log (EVAL_DATA or --data;
 * README "Evaluation" says where to get one), holds out each user's last 20 % of ratings, and
 * scores, on the same split and in the same run:
 *   - baselines fitted offline on the training part: popularity, co-visitation, item-kNN, EASE;
 *   - the service in its default configuration, on a fresh local Kafka + Redis (or KAFKA_BROKERS /
 *     REDIS_URL), fed the training part only through its GraphQL API and asked for one feed per user.
 * Prints a table; writes bench/results/eval-<dataset>-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLocalStack } from '../../src/stack/local-stack.js';
import { projectRoot } from '../../src/stack/paths.js';
import { publishCatalogue } from '../api.js';
import { spawnServer } from '../service.js';
import { watchStream } from '../stream-progress.js';
import { median } from '../types.js';
import { covisitation, ease, itemKnn, popularity, type Recommender } from './baselines.js';
import { loadDataset } from './dataset.js';
import { evaluate, type Metrics } from './metrics.js';
import { askFeeds, catalogueInputs, createApiClient, recordInOrder, replayEvents, timeMap } from './replay.js';
import { splitByUser } from './split.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    'service-only': { type: 'boolean', default: false },
    'baselines-only': { type: 'boolean', default: false },
    /** Extra service settings, e.g. `--env FEED_MAX_PER_CATEGORY=20` (a knob's effect). */
    env: { type: 'string', default: '' },
    /** Evaluate only this many users (every user's behaviour is still replayed). */
    users: { type: 'string' },
  },
});
const dataDir = path.resolve(values.data ?? process.env.EVAL_DATA ?? path.join(projectRoot, '.data', 'ml-100k'));
const SPLIT = { holdout: 0.2, positiveThreshold: 4, minRatings: 5 } as const;
const K = 20;

const say = (text: string) => process.stderr.write(`${text}\n`);
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

interface Result extends Metrics {
  name: string;
  failedUsers: number;
  fitMs: number;
  p50Ms: number;
  p99Ms: number;
  notes?: Record<string, unknown>;
}

const dataset = loadDataset(dataDir);
const split = splitByUser(dataset.ratings, SPLIT);
let users = [...split.test.keys()].sort();
if (values.users) users = users.slice(0, Number(values.users));
const test = new Map(users.map((u) => [u, split.test.get(u) ?? new Set<string>()]));
const catalogueSize = dataset.items.size;
say(
  `${dataset.name}: ${dataset.ratings.length} ratings, ${new Set(dataset.ratings.map((r) => r.userId)).size} users, ` +
    `${catalogueSize} items; ${split.train.length} train ratings; ${users.length} users with held-out positives`,
);

const results: Result[] = [];

function runBaseline(name: string, fit: () => Recommender) {
  const started = performance.now();
  const recommend = fit();
  const fitMs = performance.now() - started;
  const lists = new Map<string, string[]>();
  const latencies: number[] = [];
  for (const u of users) {
    const t = performance.now();
    lists.set(u, recommend(u, K));
    latencies.push(performance.now() - t);
  }
  results.push({
    name,
    ...evaluate(lists, test, catalogueSize),
    failedUsers: 0,
    fitMs,
    p50Ms: median(latencies),
    p99Ms: percentile(latencies, 99),
  });
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
  const prefix = `eval-${Date.now()}`;
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
    const client = createApiClient(server.url);
    const started = performance.now();
    const firstLog = split.train[0]?.at ?? 0;
    const lastLog = split.train.at(-1)?.at ?? 0;
    // The whole log within the last six days (the API accepts event times up to seven days old).
    const map = timeMap(firstLog, lastLog, Date.now() - 60_000, 6 * 24 * 3600_000);
    const firstRated = new Map<string, number>();
    for (const r of split.train) if (!firstRated.has(r.itemId)) firstRated.set(r.itemId, r.at);
    const catalogue = catalogueInputs(dataset.items.values(), map, firstLog);
    say(`service: publishing ${catalogue.length} items`);
    await publishCatalogue({ redisUrl }, { url: server.url, prefix }, catalogue);
    const events = replayEvents(split.train, SPLIT.positiveThreshold, map);
    say(`service: replaying ${events.length} events (log time compressed ${map.compression.toFixed(1)}×)`);
    let lastSay = 0;
    const sent = await recordInOrder(client, events, (n) => {
      if (performance.now() - lastSay > 5000) {
        lastSay = performance.now();
        say(`  ${n}/${events.length} events`);
      }
    });
    const drainMs = await progress.drain(300_000);
    const replayMs = performance.now() - started;
    say(`service: replayed in ${Math.round(replayMs / 1000)} s (stream caught up ${Math.round(drainMs)} ms after)`);
    const served = await askFeeds(client, users, K);
    const failedUsers = Object.values(served.failed).reduce((s, n) => s + n, 0);
    results.push({
      name: 'service (GraphQL, default config)',
      ...evaluate(served.lists, test, catalogueSize),
      failedUsers,
      fitMs: replayMs,
      p50Ms: median(served.latenciesMs),
      p99Ms: percentile(served.latenciesMs, 99),
      notes: {
        eventsSent: sent.events,
        rejected: sent.rejected,
        rateLimitedRetries: sent.rateLimitedRetries,
        failed: served.failed,
        degradedFeeds: served.degraded,
        compression: map.compression,
        env: extraEnv,
      },
    });
  } finally {
    await progress.close();
    await server.stop();
    await stack.stop();
  }
}

if (!values['baselines-only']) await runService();

const fmt = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const lines = [
  `| ${dataset.name} (${users.length} users) | Recall@20 | NDCG@10 | HitRate@20 | coverage@20 | failed users | p50 ms | p99 ms |`,
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...results.map(
    (r) =>
      `| ${r.name} | ${fmt(r.recall20)} | ${fmt(r.ndcg10)} | ${fmt(r.hitRate20)} | ${fmt(r.coverage20)} | ${r.failedUsers} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} |`,
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
process.exit(0);
