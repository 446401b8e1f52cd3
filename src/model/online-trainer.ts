/**
 * Online training: the ranking model keeps learning from today's traffic in short rounds, and a
 * new version reaches users only when it beats the one serving on the most recent traffic.
 *
 * A round reads the impressions logged since the last round (from offsets kept in Redis) whose
 * label window has passed, joins them with the behaviour that followed, and:
 *   1. holds out the latest examples (by serving time): the traffic the next model will face;
 *   2. updates a copy of the learning state (FTRL-Proximal logistic regression) on the rest;
 *   3. scores the held-out examples with that candidate and with the arm's active model;
 *   4. publishes and activates the candidate only if it is no worse on both AUC and log-loss and
 *      better on at least one (a broken update, e.g. NaN weights or a learning rate that wrecks
 *      calibration, is never published; a model the registry refuses is not either);
 *   5. goes on learning from the held-out examples and saves weights, accumulators and offsets
 *      in one Redis write, so a restarted trainer continues where it stopped.
 */
import type { RedisClient } from '../redis/client.js';
import { RANKING_FEATURES } from '../features/ranking-features.js';
import type { Logger } from '../logger.js';
import type { Component } from '../runtime/runner.js';
import type { RedisKeys } from '../core/keys.js';
import { decodeBehavior, decodeImpression, decodeOrSkip, DecodeError } from '../core/events.js';
import type { Kafka } from '../streams/kafka.js';
import { replayRange, replayTopic } from '../streams/replay.js';
import type { Topics } from '../core/topics.js';
import { evaluate, type Evaluation } from './evaluate.js';
import {
  cloneFtrlState,
  createFtrlState,
  DEFAULT_FTRL,
  ftrlParams,
  ftrlUpdate,
  type FtrlSettings,
  type FtrlState,
} from './ftrl.js';
import { buildModel } from './graphs.js';
import { predict, type LogisticRegressionParams, type Standardisation } from './params.js';
import { RegistryError, type ModelRegistry } from './registry.js';
import { loadRankingModel, ModelMismatchError } from './session.js';
import { joinImpressions, type Example, type ImpressionRecord, type InteractionRecord } from './training.js';
import { computeStandardisation } from './train.js';

export interface OnlineTrainerOptions {
  kafka: Kafka;
  topics: Topics;
  redis: RedisClient;
  keys: RedisKeys;
  registry: ModelRegistry;
  log: Logger;
  /** Names the learning state in Redis; trainers with different names learn separately. */
  name: string;
  /** The experiment arm whose active model a candidate must beat, and which it replaces. */
  arm: string;
  /** Column order of the models it builds (the feature definitions unless told otherwise). */
  featureNames?: readonly string[];
  /** An impression is labelled by the engagement that followed within this window. */
  labelWindowMs?: number;
  /** Extra wait after the window, for behaviour still on its way through Kafka. */
  settleMs?: number;
  /** How far back the very first round reads. */
  lookbackMs?: number;
  ftrl?: Partial<FtrlSettings>;
  heldOutFraction?: number;
  /** Fewer held-out examples than this give no verdict: nothing is published. */
  minHeldOut?: number;
  /** A round with fewer joined examples waits for more traffic (nothing is consumed). */
  minRoundExamples?: number;
  /** Published versions are `<prefix>-r<round>-<time>`. */
  versionPrefix?: string;
}

export interface RoundReport {
  round: number;
  impressions: number;
  examples: number;
  trainExamples: number;
  heldOutExamples: number;
  candidate: Evaluation | null;
  active: { version: string; evaluation: Evaluation } | null;
  /** The version published and activated, or null. */
  published: string | null;
  reason: string;
  durationMs: number;
}

/** What is kept in Redis between rounds (and restarts). */
interface StoredState {
  v: 1;
  round: number;
  featureNames: string[];
  mean: number[] | null;
  std: number[] | null;
  z: number[];
  n: number[];
  /** Impressions partition → next offset to read. */
  offsets: Record<string, string>;
  examplesSeen: number;
  lastPublished: string | null;
  updatedAt: number;
}

export interface PublishRules {
  minHeldOut: number;
}

/**
 * The publish rule, on one held-out set: finite weights, enough examples of both classes, and no
 * worse than the active model on AUC and log-loss, better on at least one. Without an active
 * model (a new arm) the first three suffice.
 */
export function publishDecision(
  params: LogisticRegressionParams,
  candidate: Evaluation,
  active: Evaluation | null,
  rules: PublishRules,
): { publish: boolean; reason: string } {
  if (!Number.isFinite(params.bias) || !params.weights.every(Number.isFinite))
    return { publish: false, reason: 'the update produced non-finite weights' };
  if (candidate.examples < rules.minHeldOut)
    return { publish: false, reason: `only ${candidate.examples} held-out examples (at least ${rules.minHeldOut})` };
  if (!Number.isFinite(candidate.auc) || !Number.isFinite(candidate.logLoss))
    return { publish: false, reason: 'the held-out examples are all of one class: no verdict' };
  if (!active) return { publish: true, reason: 'no active model in the arm' };
  const fmt = (v: number) => v.toFixed(4);
  if (candidate.auc < active.auc)
    return { publish: false, reason: `AUC ${fmt(candidate.auc)} is below the active model's ${fmt(active.auc)}` };
  if (candidate.logLoss > active.logLoss)
    return {
      publish: false,
      reason: `log-loss ${fmt(candidate.logLoss)} is above the active model's ${fmt(active.logLoss)}`,
    };
  if (candidate.auc === active.auc && candidate.logLoss === active.logLoss)
    return { publish: false, reason: 'no better than the active model' };
  return {
    publish: true,
    reason: `AUC ${fmt(candidate.auc)} vs ${fmt(active.auc)}, log-loss ${fmt(candidate.logLoss)} vs ${fmt(active.logLoss)}`,
  };
}

/** The impression with its feature columns in `names` order, or null when a column is missing. */
function align(impression: ImpressionRecord, names: readonly string[]): ImpressionRecord | null {
  const from = impression.featureNames;
  if (from.length === names.length && from.every((n, i) => n === names[i])) return impression;
  const index = names.map((n) => from.indexOf(n));
  if (index.some((i) => i < 0)) return null;
  return {
    ...impression,
    featureNames: [...names],
    items: impression.items.map((item) => ({ ...item, features: index.map((i) => item.features[i] ?? 0) })),
  };
}

/** Examples as one row-major matrix, standardised or raw. */
function toMatrix(examples: readonly Example[], cols: number): { features: Float32Array; labels: Uint8Array } {
  const features = new Float32Array(examples.length * cols);
  const labels = new Uint8Array(examples.length);
  examples.forEach((e, r) => {
    features.set(e.features, r * cols);
    labels[r] = e.label;
  });
  return { features, labels };
}

/** Re-orders the columns of a row-major matrix from `from` order to `to` order (names). */
function reorder(matrix: Float32Array, rows: number, from: readonly string[], to: readonly string[]): Float32Array {
  if (from.length === to.length && from.every((n, i) => n === to[i])) return matrix;
  const index = to.map((n) => from.indexOf(n));
  const out = new Float32Array(rows * to.length);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < to.length; c++) out[r * to.length + c] = matrix[r * from.length + (index[c] ?? 0)] ?? 0;
  return out;
}

export function createOnlineTrainer(options: OnlineTrainerOptions) {
  const { kafka, topics, redis, keys, registry, log } = options;
  const featureNames = [...(options.featureNames ?? RANKING_FEATURES)];
  const cols = featureNames.length;
  const settings: FtrlSettings = { ...DEFAULT_FTRL, ...options.ftrl };
  if (!(settings.alpha > 0 && settings.beta >= 0 && settings.l1 >= 0 && settings.l2 >= 0))
    throw new RangeError(`FTRL settings must be non-negative with alpha > 0: ${JSON.stringify(settings)}`);
  const labelWindowMs = options.labelWindowMs ?? 10 * 60_000;
  const settleMs = options.settleMs ?? 5000;
  const lookbackMs = options.lookbackMs ?? 60 * 60_000;
  const heldOutFraction = options.heldOutFraction ?? 0.2;
  const minHeldOut = options.minHeldOut ?? 200;
  const minRoundExamples = options.minRoundExamples ?? 500;
  const versionPrefix = options.versionPrefix ?? `online-${options.name}`;
  const stateKey = keys.onlineTrainerState(options.name);

  async function load(): Promise<StoredState> {
    const text = await redis.get(stateKey);
    if (!text) {
      const fresh = createFtrlState(cols);
      return {
        v: 1,
        round: 0,
        featureNames,
        mean: null,
        std: null,
        z: Array.from(fresh.z),
        n: Array.from(fresh.n),
        offsets: {},
        examplesSeen: 0,
        lastPublished: null,
        updatedAt: 0,
      };
    }
    const stored = JSON.parse(text) as StoredState;
    if (stored.featureNames.join() !== featureNames.join())
      throw new RangeError(
        `the learning state "${options.name}" was built on other features (${stored.featureNames.join(', ')}); use another --name`,
      );
    return stored;
  }

  /** The active model's scores for the held-out rows, in its own column order. */
  async function scoreActive(matrix: Float32Array, labels: Uint8Array, rows: number) {
    const experiment = await registry.experiment();
    const version = experiment?.arms.find((a) => a.name === options.arm)?.version;
    if (!version) return null;
    const bytes = await registry.bytes(version);
    if (!bytes) return null;
    const model = await loadRankingModel(bytes, RANKING_FEATURES, { source: `registry ${version}` });
    try {
      const scores = await model.score(reorder(matrix, rows, featureNames, model.featureNames), rows);
      return { version, evaluation: evaluate(scores, labels) };
    } finally {
      await model.release();
    }
  }

  /** Publishes and activates; the registry's refusal (e.g. a wrong feature list) is a verdict, not a crash. */
  async function publish(params: LogisticRegressionParams, round: number, report: Omit<RoundReport, 'durationMs'>) {
    const version = `${versionPrefix}-r${round}-${Date.now().toString(36)}`;
    const finite = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : null);
    const bytes = buildModel(params, {
      featureNames,
      version,
      kind: 'lr',
      trainedAt: new Date().toISOString(),
      metrics: {
        auc: finite(report.candidate?.auc),
        logLoss: finite(report.candidate?.logLoss),
        examples: report.heldOutExamples,
        trainExamples: report.trainExamples,
        activeAuc: finite(report.active?.evaluation.auc),
        activeLogLoss: finite(report.active?.evaluation.logLoss),
      },
    });
    try {
      await registry.publish(bytes, `online:${options.name}`);
      const experiment = await registry.experiment();
      if (experiment?.arms.some((a) => a.name === options.arm)) await registry.activate(version, options.arm);
      else log.warn({ arm: options.arm, modelVersion: version }, 'published, but the experiment has no such arm');
      return { version, reason: null };
    } catch (error) {
      if (!(error instanceof ModelMismatchError || error instanceof RegistryError)) throw error;
      return { version: null, reason: `refused by the registry: ${error.message}` };
    }
  }

  /** One round at time `now`; see the module comment for the steps. */
  async function runRound(now = Date.now()): Promise<RoundReport> {
    const started = performance.now();
    const state = await load();
    const round = state.round + 1;
    const mature = now - labelWindowMs - settleMs;

    const impressions: ImpressionRecord[] = [];
    const waitingFrom = new Map<number, string>();
    const range = await replayRange(
      kafka,
      topics.impressions,
      { since: now - lookbackMs, offsets: new Map(Object.entries(state.offsets).map(([p, o]) => [Number(p), o])) },
      (value, partition, offset) => {
        if (waitingFrom.has(partition)) return;
        const impression = decodeOrSkip(decodeImpression, value);
        if (!impression) return;
        // Its label is not final yet: this partition resumes here next round.
        if (impression.servedAt >= mature) return void waitingFrom.set(partition, offset);
        const aligned = align(impression, featureNames);
        if (aligned) impressions.push(aligned);
      },
    );

    const empty = (reason: string): RoundReport => ({
      round: state.round,
      impressions: impressions.length,
      examples: 0,
      trainExamples: 0,
      heldOutExamples: 0,
      candidate: null,
      active: null,
      published: null,
      reason,
      durationMs: performance.now() - started,
    });
    if (impressions.length === 0) return empty('no new impressions whose label window has passed');

    let firstServed = Infinity;
    let lastServed = -Infinity;
    for (const i of impressions) {
      firstServed = Math.min(firstServed, i.servedAt);
      lastServed = Math.max(lastServed, i.servedAt);
    }
    const interactions: InteractionRecord[] = [];
    await replayTopic(kafka, topics.behavior, firstServed - 60_000, (value) => {
      try {
        const e = decodeBehavior(value);
        if (e.receivedAt <= lastServed + labelWindowMs) interactions.push(e);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
      }
    });
    const examples = joinImpressions(impressions, interactions, { labelWindowMs, featureNames });
    if (examples.length < minRoundExamples)
      return empty(`${examples.length} examples so far; waiting for ${minRoundExamples}`);

    // Oldest first: the held-out part is the most recent traffic.
    examples.sort((a, b) => a.at - b.at);
    const heldOutCount = Math.min(
      Math.floor(examples.length / 2),
      Math.max(minHeldOut, Math.round(examples.length * heldOutFraction)),
    );
    const train = examples.slice(0, examples.length - heldOutCount);
    const heldOut = examples.slice(examples.length - heldOutCount);

    let standardisation: Standardisation;
    if (state.mean && state.std)
      standardisation = { mean: Float32Array.from(state.mean), std: Float32Array.from(state.std) };
    else {
      const trainMatrix = toMatrix(train, cols);
      standardisation = computeStandardisation({ ...trainMatrix, rows: train.length, cols });
    }
    const x = new Float64Array(cols);
    const scratch = new Float64Array(cols + 1);
    const learn = (ftrl: FtrlState, rows: readonly Example[]) => {
      for (const e of rows) {
        for (let c = 0; c < cols; c++)
          x[c] = ((e.features[c] ?? 0) - (standardisation.mean[c] ?? 0)) / (standardisation.std[c] ?? 1);
        ftrlUpdate(ftrl, settings, x, e.label, scratch);
      }
    };
    const candidateState = cloneFtrlState({ z: Float64Array.from(state.z), n: Float64Array.from(state.n) });
    learn(candidateState, train);
    const params = ftrlParams(candidateState, settings, standardisation);

    const held = toMatrix(heldOut, cols);
    const candidate = evaluate(predict(params, held.features, heldOut.length), held.labels);
    const active = await scoreActive(held.features, held.labels, heldOut.length);
    const decision = publishDecision(params, candidate, active?.evaluation ?? null, { minHeldOut });
    const partial = {
      round,
      impressions: impressions.length,
      examples: examples.length,
      trainExamples: train.length,
      heldOutExamples: heldOut.length,
      candidate,
      active,
      published: null as string | null,
      reason: decision.reason,
    };
    if (decision.publish) {
      const result = await publish(params, round, partial);
      partial.published = result.version;
      if (result.reason) partial.reason = result.reason;
    }

    // Learning goes on with the held-out examples too, unless the update broke the weights.
    const finite = Number.isFinite(params.bias) && params.weights.every(Number.isFinite);
    if (finite) learn(candidateState, heldOut);
    const offsets: Record<string, string> = {};
    for (const [partition, end] of range.ends) offsets[partition] = waitingFrom.get(partition) ?? end;
    const next: StoredState = {
      ...state,
      round,
      mean: Array.from(standardisation.mean),
      std: Array.from(standardisation.std),
      z: finite ? Array.from(candidateState.z) : state.z,
      n: finite ? Array.from(candidateState.n) : state.n,
      offsets,
      examplesSeen: state.examplesSeen + (finite ? examples.length : 0),
      lastPublished: partial.published ?? state.lastPublished,
      updatedAt: now,
    };
    await redis.set(stateKey, JSON.stringify(next));
    const report: RoundReport = { ...partial, durationMs: performance.now() - started };
    log.info(
      {
        trainer: options.name,
        arm: options.arm,
        round,
        impressions: report.impressions,
        examples: report.examples,
        candidateAuc: candidate.auc,
        candidateLogLoss: candidate.logLoss,
        activeVersion: active?.version ?? null,
        activeAuc: active?.evaluation.auc ?? null,
        activeLogLoss: active?.evaluation.logLoss ?? null,
        modelVersion: report.published,
        durationMs: Math.round(report.durationMs),
      },
      report.published ? `published ${report.published}: ${report.reason}` : `not published: ${report.reason}`,
    );
    return report;
  }

  return {
    runRound,
    /** The saved learning state (for tests and `--status`). */
    state: async () => {
      const text = await redis.get(stateKey);
      return text ? (JSON.parse(text) as StoredState) : null;
    },
  };
}

export type OnlineTrainer = ReturnType<typeof createOnlineTrainer>;

/**
 * The trainer as a long-running component: one round right away, then one per interval. Stop
 * waits for the round in progress (its learning state is saved in Redis as it goes).
 */
export function trainEvery(trainer: Pick<OnlineTrainer, 'runRound'>, intervalMs: number, log: Logger): Component {
  let stopped = false;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  return {
    name: 'online-trainer',
    async start() {
      loop = (async () => {
        while (!stopped) {
          try {
            await trainer.runRound();
          } catch (error) {
            log.error({ err: error }, 'an online training round failed; trying again next interval');
          }
          if (stopped) break;
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, intervalMs).unref();
          });
        }
      })();
    },
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
