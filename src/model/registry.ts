/**
 * The model registry: versioned ranking models and the experiment that says which version each
 * arm serves, kept in Redis so that every API instance, the CLI and the online trainer see the
 * same thing. Model files are small (a few KB), so their bytes live under a key per version.
 *
 * A version is immutable: publishing the same version again with the same bytes is a no-op, with
 * other bytes it is refused. Nothing is stored before it passed the same checks an instance runs
 * before serving it (feature list, graph inputs, a finite score), so a model with the wrong
 * feature list never reaches the registry. Every change is announced on a pub/sub channel.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/client.js';
import { RANKING_FEATURES } from '../features/ranking-features.js';
import type { RedisKeys } from '../core/keys.js';
import { registerScripts, scripts } from '../redis/scripts.js';
import { ID_PATTERN } from '../core/events.js';
import type { ModelMetadata } from './metadata.js';
import { loadRankingModel, type RankingModel } from './session.js';

/** A published version as the registry describes it. */
export interface RegisteredModel extends ModelMetadata {
  /** Epoch ms. */
  publishedAt: number;
  sha256: string;
  sizeBytes: number;
  /** Where it came from (a file path, `online:<name>`, …), for people reading `list`. */
  source: string;
}

export interface ExperimentArm {
  name: string;
  /** Fraction of users, in (0, 1]; the arms of an experiment sum to 1. */
  share: number;
  version: string;
}

export interface Experiment {
  /** Part of every user's assignment hash: a new id reshuffles users, the same id keeps them. */
  id: string;
  /** Increases with every change; instances reload when it moves. */
  revision: number;
  arms: ExperimentArm[];
  /** Epoch ms. */
  updatedAt: number;
}

/** The experiment that serves one version to everyone. */
export const DEFAULT_EXPERIMENT_ID = 'default';
export const DEFAULT_ARM = 'control';

/** Refused by the registry for a reason other than the feature list (see ModelMismatchError for that). */
export class RegistryError extends Error {
  override name = 'RegistryError';
}

/** Another writer changed the experiment between our read and our write. */
export class ExperimentConflictError extends RegistryError {
  override name = 'ExperimentConflictError';
}

/** A `publish` message on the channel: what changed, so logs can say why an instance reloads. */
export interface RegistryNotice {
  change: 'published' | 'experiment';
  version?: string;
  revision?: number;
  at: number;
}

/**
 * The check every model passes before it is stored or served: the feature list and graph
 * (loadRankingModel, which throws ModelMismatchError), then one run on a row of zeros and one on
 * a row of ones that must give probabilities, so NaN or infinite weights are caught too. The
 * caller owns the returned session.
 */
export async function validateModel(
  bytes: Uint8Array,
  source: string,
  featureNames: readonly string[] = RANKING_FEATURES,
): Promise<RankingModel> {
  const model = await loadRankingModel(bytes, featureNames, { source });
  try {
    const f = featureNames.length;
    const probe = new Float32Array(2 * f);
    probe.fill(1, f);
    const scores = await model.score(probe, 2);
    if (!scores.every((s) => Number.isFinite(s) && s >= 0 && s <= 1))
      throw new RegistryError(
        `model ${model.version} (${source}) scores a probe row as ${Array.from(scores).join(', ')}: not a probability (NaN or infinite weights?)`,
      );
    return model;
  } catch (error) {
    await model.release();
    throw error;
  }
}

const isId = (v: string) => ID_PATTERN.test(v);

/** Throws RegistryError unless the arms are well-formed: unique names, shares summing to 1. */
export function checkArms(arms: readonly ExperimentArm[]): void {
  if (arms.length === 0) throw new RegistryError('an experiment needs at least one arm');
  const names = new Set<string>();
  let total = 0;
  for (const arm of arms) {
    if (!isId(arm.name)) throw new RegistryError(`arm name "${arm.name}" is not 1–128 of [A-Za-z0-9_.:-]`);
    if (names.has(arm.name)) throw new RegistryError(`arm "${arm.name}" appears twice`);
    names.add(arm.name);
    if (!(arm.share > 0 && arm.share <= 1)) throw new RegistryError(`arm "${arm.name}" has share ${arm.share}`);
    total += arm.share;
  }
  if (Math.abs(total - 1) > 1e-9) throw new RegistryError(`arm shares add up to ${total * 100} %, not 100 %`);
}

function parseExperiment(text: string | null): Experiment | null {
  if (!text) return null;
  const value = JSON.parse(text) as Experiment;
  return { id: value.id, revision: value.revision, arms: value.arms, updatedAt: value.updatedAt };
}

export function createModelRegistry(
  redis: RedisClient,
  keys: RedisKeys,
  options: { featureNames?: readonly string[] } = {},
) {
  const featureNames = options.featureNames ?? RANKING_FEATURES;
  registerScripts(redis);
  const channel = keys.modelsChangedChannel();

  async function get(version: string): Promise<RegisteredModel | null> {
    const text = await redis.hget(keys.modelMeta(), version);
    return text ? (JSON.parse(text) as RegisteredModel) : null;
  }

  async function experiment(): Promise<Experiment | null> {
    return parseExperiment(await redis.get(keys.modelExperiment()));
  }

  /** Writes `next` if the stored revision is still `expected`; RegistryError when someone else changed it. */
  async function writeExperiment(id: string, arms: ExperimentArm[], expected: number): Promise<Experiment> {
    checkArms(arms);
    if (!isId(id)) throw new RegistryError(`experiment id "${id}" is not 1–128 of [A-Za-z0-9_.:-]`);
    const missing: string[] = [];
    for (const arm of arms) if (!(await get(arm.version))) missing.push(arm.version);
    if (missing.length)
      throw new RegistryError(`not in the registry: ${[...new Set(missing)].join(', ')} (publish first)`);
    const next: Experiment = { id, revision: expected + 1, arms, updatedAt: Date.now() };
    const notice: RegistryNotice = { change: 'experiment', revision: next.revision, at: next.updatedAt };
    // Compare-and-set on the revision, so two operators (or the CLI and the online trainer)
    // changing the experiment at once cannot lose one change silently.
    const result = await scripts.setExperiment.run(
      redis,
      { experiment: keys.modelExperiment(), history: keys.modelHistory() },
      { expectedRevision: expected, experimentJson: JSON.stringify(next), channel, noticeJson: JSON.stringify(notice) },
    );
    if (!result.written)
      throw new ExperimentConflictError(
        `the experiment changed meanwhile (revision ${result.revision}, expected ${expected})`,
      );
    return next;
  }

  /** Read, change and write the experiment, retrying when another writer got there first. */
  async function updateExperiment(change: (current: Experiment | null) => { id: string; arms: ExperimentArm[] }) {
    for (let attempt = 0; ; attempt++) {
      const current = await experiment();
      const { id, arms } = change(current);
      try {
        return await writeExperiment(id, arms, current?.revision ?? 0);
      } catch (error) {
        if (attempt >= 3 || !(error instanceof ExperimentConflictError)) throw error;
      }
    }
  }

  /**
   * Validates and stores a model file. `created: false` when the version was already there
   * with the same bytes; a RegistryError when it was there with other bytes; the loader's
   * ModelMismatchError when its features do not match the definitions.
   */
  async function publish(bytes: Uint8Array, source: string): Promise<{ model: RegisteredModel; created: boolean }> {
    const checked = await validateModel(bytes, source, featureNames);
    await checked.release();
    const { metadata } = checked;
    if (!isId(metadata.version))
      throw new RegistryError(`model version "${metadata.version}" is not 1–128 of [A-Za-z0-9_.:-]`);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const model: RegisteredModel = {
      ...metadata,
      publishedAt: Date.now(),
      sha256,
      sizeBytes: bytes.length,
      source,
    };
    // Versions never change once published: an existing one comes back with its stored metadata.
    const { created, existing } = await scripts.modelPublish.run(
      redis,
      { bytes: keys.modelBytes(metadata.version), meta: keys.modelMeta(), versions: keys.modelVersions() },
      {
        version: metadata.version,
        bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        metadataJson: JSON.stringify(model),
        publishedAt: model.publishedAt,
        sha256,
      },
    );
    if (!created) {
      const stored = existing ? (JSON.parse(existing) as RegisteredModel) : null;
      if (stored?.sha256 !== sha256)
        throw new RegistryError(
          `version ${metadata.version} is already published with other bytes; versions never change, publish under a new version`,
        );
      return { model: stored, created: false };
    }
    const notice: RegistryNotice = { change: 'published', version: metadata.version, at: model.publishedAt };
    await redis.publish(channel, JSON.stringify(notice));
    return { model, created: true };
  }

  return {
    featureNames,
    channel,
    publish,
    get,

    /** Every published version, oldest first. */
    async list(): Promise<RegisteredModel[]> {
      const versions = await redis.zrange(keys.modelVersions(), 0, -1);
      if (versions.length === 0) return [];
      const texts = await redis.hmget(keys.modelMeta(), ...versions);
      return texts.flatMap((t) => (t ? [JSON.parse(t) as RegisteredModel] : []));
    },

    /** The stored ONNX bytes of a version, or null. */
    bytes: (version: string): Promise<Buffer | null> => redis.getBuffer(keys.modelBytes(version)),

    experiment,

    /** The latest experiment changes, newest first. */
    async history(limit = 20): Promise<Experiment[]> {
      const texts = await redis.lrange(keys.modelHistory(), 0, limit - 1);
      return texts.flatMap((t) => parseExperiment(t) ?? []);
    },

    /** Replaces the experiment (a new id reshuffles users between arms). */
    setExperiment: (id: string, arms: ExperimentArm[]) => updateExperiment(() => ({ id, arms })),

    /**
     * Serves `version` in `arm` of the running experiment (users keep their arms). Without an
     * experiment, starts the default one: `control` at 100 %. Without `arm`: `control`, or the
     * only arm when there is one (after a promotion).
     */
    activate: (version: string, arm?: string) =>
      updateExperiment((current) => {
        if (!current) return { id: DEFAULT_EXPERIMENT_ID, arms: [{ name: arm ?? DEFAULT_ARM, share: 1, version }] };
        const names = current.arms.map((a) => a.name);
        const target = arm ?? (names.includes(DEFAULT_ARM) ? DEFAULT_ARM : names.length === 1 ? names[0] : undefined);
        if (target === undefined || !names.includes(target))
          throw new RegistryError(
            `experiment ${current.id} has no arm "${target ?? DEFAULT_ARM}" (arms: ${names.join(', ')}); name one with --arm`,
          );
        return { id: current.id, arms: current.arms.map((a) => (a.name === target ? { ...a, version } : a)) };
      }),

    /** The winner takes everyone: `arm` keeps its name and version at 100 %, the other arms end. */
    promote: (arm: string) =>
      updateExperiment((current) => {
        const winner = current?.arms.find((a) => a.name === arm);
        if (!current || !winner)
          throw new RegistryError(
            `no arm "${arm}" to promote (${current ? `arms: ${current.arms.map((a) => a.name).join(', ')}` : 'no experiment'})`,
          );
        return { id: current.id, arms: [{ ...winner, share: 1 }] };
      }),

    /**
     * Start-up with an empty registry: publishes the instance's own model file and serves it to
     * everyone, unless an experiment appeared meanwhile (another instance won the race).
     */
    async bootstrap(bytes: Uint8Array, source: string): Promise<Experiment | null> {
      const current = await experiment();
      if (current) return current;
      const { model } = await publish(bytes, source);
      try {
        return await writeExperiment(
          DEFAULT_EXPERIMENT_ID,
          [{ name: DEFAULT_ARM, share: 1, version: model.version }],
          0,
        );
      } catch (error) {
        if (error instanceof ExperimentConflictError) return experiment();
        throw error;
      }
    },
  };
}

export type ModelRegistry = ReturnType<typeof createModelRegistry>;
