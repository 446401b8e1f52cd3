/**
 * `npm run model:train-default`: trains the shipped ranking model (models/default.onnx) on the
 * simulator's traffic, the way a deployment trains on its own: a local Kafka + Redis and the API
 * serving the hand-set prior model; simulated users ask for feeds and act on them; every served
 * feed is logged as an impression with its feature rows; the impressions joined with the
 * behaviour that followed train the model. Seeded: the world and the users' choices repeat.
 *
 *   npm run model:train-default [-- --events 20000 --kind fm --seed 7 --out models/default.onnx]
 *
 * `--serve models/x.onnx` serves that model instead of the prior: a second round trains on the
 * traffic the first model shaped, and its `simulatedCtr` compares the two on the same users.
 *
 * `--replay DIR` then also replays a real interaction log (any format `npm run eval` reads; the
 * training part of its per-user split only, ids prefixed `ml.` to keep them apart from the
 * simulator's) through the same API, asking each user's feed every `--feed-every` of their
 * events: real people's next actions label what was served to them. The shipped model is trained
 * with `--replay .data/ml-latest-small` and evaluated with `npm run eval` on MovieLens 100K, a log
 * it never saw.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset, prefixIds } from '../bench/eval/dataset.js';
import { replayLog } from '../bench/eval/replay.js';
import { splitByUser } from '../bench/eval/split.js';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { RANKING_FEATURES } from '../src/features/ranking-features.js';
import { createLogger } from '../src/logger.js';
import { collectExamples } from '../src/model/log-training.js';
import { MODEL_KINDS, type ModelKind } from '../src/model/params.js';
import { priorModel } from '../src/model/prior.js';
import { trainFromExamples, writeModel } from '../src/model/training.js';
import { createPopulation } from './sim/behaviour.js';
import { drive } from './sim/driver.js';
import { graphqlRanker } from './sim/policies.js';
import { createWorld } from './sim/world.js';
import { createLocalStack } from '../src/stack/local-stack.js';
import { projectRoot } from '../src/stack/paths.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    kind: { type: 'string', default: 'fm' },
    seed: { type: 'string', default: '7' },
    version: { type: 'string', default: 'sim-real-1' },
    out: { type: 'string', default: path.join(projectRoot, 'models', 'default.onnx') },
    /** Serve this model instead of the prior while simulating (a second round of training). */
    serve: { type: 'string' },
    /** A real interaction log to replay after the simulation (see above). */
    replay: { type: 'string' },
    'feed-every': { type: 'string', default: '10' },
    'feed-first': { type: 'string', default: '100' },
    /** Also write the labelled examples (JSON lines) here, to study them. */
    'examples-out': { type: 'string' },
  },
});
const kind = values.kind as ModelKind;
if (!MODEL_KINDS.includes(kind)) throw new Error(`--kind must be one of ${MODEL_KINDS.join(', ')}`);
const log = createLogger('info', { component: 'train-default' });
const say = (msg: string, extra: Record<string, unknown> = {}) => log.info(extra, msg);

const stack = createLocalStack({ log: (m) => say(m) });
await stack.start();
let served = values.serve;
if (!served) {
  served = path.join(mkdtempSync(path.join(os.tmpdir(), 'feedrec-prior-')), 'prior.onnx');
  writeFileSync(served, priorModel());
}
const config = loadConfig({
  PORT: '0',
  LOG_LEVEL: 'warn',
  KAFKA_BROKERS: stack.kafka!.brokers.join(','),
  REDIS_URL: stack.redis!.url,
  AUTH_MODE: 'dev',
  MODEL_PATH: path.resolve(served),
  RATE_LIMIT_MUTATIONS_PER_SEC: '1000000',
  RATE_LIMIT_EVENTS_PER_SEC: '1000000',
  FEED_CACHE_TTL_MS: '0',
});
const app = createApp(config, { log: createLogger('warn') });
try {
  await app.start();
  const started = Date.now();
  const world = createWorld({ seed: Number(values.seed), users: 300, items: 1500 });
  const population = createPopulation(world);
  const lastItem = world.items.at(-1)!.id;
  const stats =
    Number(values.events) <= 0
      ? undefined
      : await drive({
          api: app.url,
          world,
          population,
          ranker: graphqlRanker(app.url),
          rate: 1500,
          maxEvents: Number(values.events),
          maxDurationMs: 240_000,
          afterPublish: async () => {
            // Categories are resolved when behaviour is applied: the catalogue must be in Redis first.
            while ((await app.services.redis.hget(app.services.keys.item(lastItem), 'category')) === null)
              await new Promise((r) => setTimeout(r, 100));
          },
          onProgress: (p) => say('simulating', { ...p }),
        });
  say('simulated traffic', { ...stats });
  let replayed: Awaited<ReturnType<typeof replayLog>> | undefined;
  if (values.replay) {
    const dataset = prefixIds(loadDataset(path.resolve(values.replay)), 'ml.');
    const split = splitByUser(dataset.ratings, { holdout: 0.2, positiveThreshold: 4, minRatings: 5 });
    replayed = await replayLog({
      url: app.url,
      redisUrl: stack.redis!.url,
      prefix: config.redis.keyPrefix,
      dataset,
      ratings: split.train,
      positiveThreshold: 4,
      feedEvery: Number(values['feed-every']),
      feedFirst: Number(values['feed-first']),
      say: (text) => say(`replay: ${text}`),
    });
    say('replayed a real log', { dataset: dataset.name, ...replayed });
  }
  // Impressions are logged after each feed is served; let the last sends settle.
  await new Promise((r) => setTimeout(r, 2000));
  const { examples, impressions } = await collectExamples({
    kafka: app.services.kafka,
    topics: app.services.topics,
    from: started,
    to: Date.now(),
    log,
  });
  if (values['examples-out'])
    writeFileSync(
      values['examples-out'],
      examples.map((e) => JSON.stringify({ ...e, features: Array.from(e.features) })).join('\n'),
    );
  const trained = trainFromExamples(examples, {
    featureNames: RANKING_FEATURES,
    kind,
    version: values.version,
    seed: Number(values.seed),
  });
  await writeModel(values.out, trained.bytes);
  process.stdout.write(
    `${JSON.stringify(
      {
        out: path.relative(process.cwd(), values.out),
        version: values.version,
        kind,
        events: stats?.eventsSent ?? 0,
        simulatedCtr: stats?.simulatedCtr,
        replayed,
        impressions,
        examples: examples.length,
        report: trained.report,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await app.stop();
  await stack.stop();
}
process.exit(0);
