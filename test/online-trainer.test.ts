import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RANKING_FEATURES } from '../src/features/ranking-features.js';
import { createLogger } from '../src/logger.js';
import { auc } from '../src/model/evaluate.js';
import { buildModel } from '../src/model/graphs.js';
import { createOnlineTrainer } from '../src/model/online-trainer.js';
import { createModelRegistry, type ModelRegistry } from '../src/model/registry.js';
import { loadRankingModel } from '../src/model/session.js';
import { randomSource } from '../src/core/random.js';
import { connectRedis, type RedisClient } from '../src/redis/client.js';
import { redisKeys, type RedisKeys } from '../src/core/keys.js';
import { encodeEvent, type BehaviorEvent, type ImpressionEvent } from '../src/core/events.js';
import { createKafka, type Kafka } from '../src/streams/kafka.js';
import { topicNames, topicSpecs, type Topics } from '../src/core/topics.js';
import { testConfig } from './helpers.js';

const F = RANKING_FEATURES.length;
/** Raw feature ranges differ by orders of magnitude, as the real ones do: standardisation matters. */
const SCALE = [1, 1, 5, 5, 20, 20, 1, 50, 100, 1, 1, 5, 1, 10, 30];
type Regime = Record<number, number>;
/** Before the shift users click on columns 1 and 9 and avoid 3; after it, they turn to 14 and away from 1 and 9. */
const BEFORE: Regime = { 1: 4, 9: 3, 3: -2 };
const AFTER: Regime = { 1: -4, 9: -3, 14: 4 };
const BIAS = -1.5;
const LABEL_WINDOW_MS = 10 * 60_000;
const HOUR = 3_600_000;

const logit = (regime: Regime, u: number[]) =>
  Object.entries(regime).reduce((z, [c, w]) => z + w * ((u[Number(c)] ?? 0) - 0.5), BIAS);

/** Synthetic traffic: served feeds with feature rows, and the clicks the regime's users made. */
function traffic(seed: number, regime: Regime, feeds: number, from: number, to: number) {
  const rng = randomSource(seed);
  const impressions: ImpressionEvent[] = [];
  const clicks: BehaviorEvent[] = [];
  for (let f = 0; f < feeds; f++) {
    const servedAt = Math.round(from + ((to - from) * f) / feeds);
    const userId = `u${Math.floor(rng() * 300)}`;
    const items = Array.from({ length: 10 }, (_, k) => {
      const u = Array.from({ length: F }, () => rng());
      const itemId = `s${seed}-${f}-${k}`;
      if (rng() < 1 / (1 + Math.exp(-logit(regime, u)))) {
        const at = servedAt + 1000 + Math.floor(rng() * 60_000);
        clicks.push({ v: 1, eventId: randomUUID(), userId, itemId, action: 'CLICK', occurredAt: at, receivedAt: at });
      }
      return {
        itemId,
        rank: k + 1,
        score: 0,
        modelScore: 0,
        exploration: false,
        features: u.map((v, c) => v * (SCALE[c] ?? 1)),
      };
    });
    impressions.push({
      v: 1,
      impressionId: randomUUID(),
      userId,
      servedAt,
      modelVersion: 'stale-1',
      featureNames: [...RANKING_FEATURES],
      items,
    });
  }
  return { impressions, clicks };
}

/** Fresh labelled rows of a regime, in raw feature units, for judging models after the fact. */
function judgement(seed: number, regime: Regime, rows: number) {
  const rng = randomSource(seed);
  const matrix = new Float32Array(rows * F);
  const labels = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    const u = Array.from({ length: F }, () => rng());
    u.forEach((v, c) => (matrix[r * F + c] = v * (SCALE[c] ?? 1)));
    labels[r] = rng() < 1 / (1 + Math.exp(-logit(regime, u))) ? 1 : 0;
  }
  return { matrix, labels, rows };
}

/** The model that knows the pre-shift users exactly: right yesterday, wrong today. */
function staleModel(): Uint8Array {
  const weights = new Float32Array(F);
  let bias = BIAS;
  for (const [c, w] of Object.entries(BEFORE)) {
    weights[Number(c)] = w / (SCALE[Number(c)] ?? 1);
    bias -= w * 0.5;
  }
  return buildModel(
    { kind: 'lr', weights, bias, mean: new Float32Array(F), std: new Float32Array(F).fill(1) },
    { featureNames: [...RANKING_FEATURES], version: 'stale-1', kind: 'lr', trainedAt: new Date().toISOString() },
  );
}

describe('online training', () => {
  const config = testConfig('online');
  const log = createLogger(config.logLevel);
  let kafka: Kafka;
  let topics: Topics;
  let redis: RedisClient;
  let keys: RedisKeys;
  let registry: ModelRegistry;
  const now = Date.now();

  async function produce(batch: { impressions: ImpressionEvent[]; clicks: BehaviorEvent[] }) {
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({
        topic: topics.impressions,
        messages: batch.impressions.map((i) => ({
          key: i.userId,
          value: encodeEvent(i),
          timestamp: String(i.servedAt),
        })),
      });
      await producer.send({
        topic: topics.behavior,
        messages: batch.clicks.map((c) => ({ key: c.userId, value: encodeEvent(c), timestamp: String(c.occurredAt) })),
      });
    } finally {
      await producer.disconnect();
    }
  }
  const trainer = (name: string, extra: Partial<Parameters<typeof createOnlineTrainer>[0]> = {}) =>
    createOnlineTrainer({
      kafka,
      topics,
      redis,
      keys,
      registry,
      log,
      name,
      arm: 'control',
      labelWindowMs: LABEL_WINDOW_MS,
      lookbackMs: 4 * HOUR,
      ...extra,
    });
  async function judge(version: string, data: ReturnType<typeof judgement>) {
    const model = await loadRankingModel((await registry.bytes(version))!, RANKING_FEATURES);
    try {
      return auc(await model.score(data.matrix, data.rows), data.labels);
    } finally {
      await model.release();
    }
  }

  beforeAll(async () => {
    kafka = createKafka({ brokers: config.kafka.brokers!, clientId: 'online-test' });
    topics = topicNames(config.kafka.topicPrefix);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: topicSpecs(topics, 3, 1), waitForLeaders: true });
    await admin.disconnect();
    redis = await connectRedis(config.redis.url!, log);
    keys = redisKeys(config.redis.keyPrefix);
    registry = createModelRegistry(redis, keys);
    await registry.publish(staleModel(), 'test');
    await registry.activate('stale-1', 'control');
  });
  afterAll(() => redis?.disconnect());

  it('publishes a model that beats the stale one on recent traffic after preferences shift', async () => {
    await produce(traffic(1, BEFORE, 400, now - 3 * HOUR, now - 2 * HOUR));
    const first = await trainer('main').runRound(now);
    // Before the shift the stale model is the truth itself: nothing to gain.
    expect(first.examples).toBe(4000);
    expect(first.published).toBeNull();

    await produce(traffic(2, AFTER, 500, now - 2 * HOUR, now - HOUR));
    const second = await trainer('main').runRound(now);
    process.stderr.write(
      `[online] round 1: candidate AUC ${first.candidate?.auc.toFixed(3)} vs stale ${first.active?.evaluation.auc.toFixed(3)} (not published); ` +
        `round 2: candidate AUC ${second.candidate?.auc.toFixed(3)} / log-loss ${second.candidate?.logLoss.toFixed(3)} vs stale ` +
        `${second.active?.evaluation.auc.toFixed(3)} / ${second.active?.evaluation.logLoss.toFixed(3)} → ${second.published}\n`,
    );
    expect(second.examples).toBe(5000);
    expect(second.active?.version).toBe('stale-1');
    expect(second.published).toMatch(/^online-main-r2-/);
    expect(second.candidate!.auc).toBeGreaterThan(second.active!.evaluation.auc);
    const experiment = await registry.experiment();
    expect(experiment?.arms.find((a) => a.name === 'control')?.version).toBe(second.published);
    expect((await registry.get(second.published!))?.metrics).toMatchObject({
      activeAuc: second.active!.evaluation.auc,
    });

    // Judged on new traffic neither model has seen.
    const today = judgement(99, AFTER, 4000);
    const online = await judge(second.published!, today);
    const stale = await judge('stale-1', today);
    process.stderr.write(
      `[online] on fresh post-shift traffic: online AUC ${online.toFixed(3)}, stale AUC ${stale.toFixed(3)}\n`,
    );
    expect(online).toBeGreaterThan(stale + 0.2);
  });

  it('continues from its saved state after a restart, without reading the same traffic twice', async () => {
    const before = await trainer('main').state();
    const again = await trainer('main').runRound(now);
    expect(again.reason).toBe('no new impressions whose label window has passed');
    expect(await trainer('main').state()).toEqual(before);
    expect(before?.round).toBe(2);
    expect(before?.examplesSeen).toBe(9000);
    expect(Object.keys(before?.offsets ?? {})).toHaveLength(3);

    // Traffic whose label window is still open waits for a later round.
    await produce(traffic(3, AFTER, 100, now - 60_000, now));
    const early = await trainer('main').runRound(now);
    expect(early.reason).toBe('no new impressions whose label window has passed');
    const later = await trainer('main').runRound(now + LABEL_WINDOW_MS + 10_000);
    expect(later.examples).toBe(1000);
  });

  it('does not publish an update that a learning rate wrecked', async () => {
    const active = (await registry.experiment())!.arms[0]!.version;
    const wrecked = await trainer('wrecked', { ftrl: { alpha: 1e4, l1: 0, l2: 0 } }).runRound(
      now + LABEL_WINDOW_MS + 10_000,
    );
    expect(wrecked.published).toBeNull();
    expect(wrecked.candidate!.logLoss).toBeGreaterThan(wrecked.active!.evaluation.logLoss);
    expect(wrecked.reason).toMatch(/log-loss|AUC/);
    expect((await registry.experiment())!.arms[0]!.version).toBe(active);
  });

  it('does not publish a model whose feature list differs from the definitions', async () => {
    const reversed = await trainer('reversed', {
      featureNames: [...RANKING_FEATURES].reverse(),
      arm: 'shadow',
    }).runRound(now + LABEL_WINDOW_MS + 10_000);
    expect(reversed.published).toBeNull();
    expect(reversed.reason).toContain('refused by the registry');
    expect(reversed.reason).toContain('same features in another order');
    expect((await registry.list()).map((m) => m.version).some((v) => v.startsWith('online-reversed'))).toBe(false);
  });
});
