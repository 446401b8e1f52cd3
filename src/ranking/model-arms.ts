/**
 * The models an instance serves, one ModelHolder per experiment arm, kept in step with the model
 * registry. A registry change (pub/sub notice, a periodic check as a safety net, or a Redis
 * reconnect) makes the instance load the new versions in the background, run the same checks as
 * `publish`, and only when every arm's model passed, swap them all in one synchronous step: a
 * request sees either the old experiment or the new one, never half of each. A model that fails
 * is refused and logged, and the previous models keep serving.
 */
import type { RedisClient } from '../redis/client.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import {
  createModelRegistry,
  DEFAULT_ARM,
  DEFAULT_EXPERIMENT_ID,
  RegistryError,
  validateModel,
  type ModelRegistry,
  type RegistryNotice,
} from '../model/registry.js';
import type { FeedRefreshCause } from '../core/feed-refresh.js';
import type { RedisKeys } from '../core/keys.js';
import { ModelMismatchError, type RankingModel } from '../model/session.js';
import { assignArm } from './assignment.js';
import { createModelHolder, type ModelHolder } from './model-holder.js';

/** What scores one user's request: the model of the arm the user is assigned to. */
export interface ServedModel {
  experimentId: string;
  arm: string;
  model: RankingModel;
}

/** The ranker's view: one read per request, so a swap never splits a request between models. */
export interface ModelChooser {
  forUser(userId: string): ServedModel;
}

export interface ServingArm {
  name: string;
  share: number;
  version: string;
  kind: string;
}

export interface ModelArms extends ModelChooser {
  /** The experiment as this instance serves it right now. */
  serving(): { experimentId: string; revision: number; arms: ServingArm[] };
  /** Loads what the registry says now (coalesced with a reload already running). */
  refresh(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ModelArmsOptions {
  keys: RedisKeys;
  /** Column order the models must have (the feature definitions unless told otherwise). */
  featureNames?: readonly string[];
  /** Loads the model file the instance starts with (at start): served until the registry names others. */
  initial: () => Promise<{ model: RankingModel; bytes: Uint8Array; source: string }>;
  /**
   * Opens a Redis connection of its own, named for the logs. Two are used, one for registry reads
   * and one in subscriber mode, so reloads never queue behind (or in front of) requests' reads.
   * Both are closed on stop.
   */
  connect: (name: string) => Promise<RedisClient>;
  log: Logger;
  metrics?: Metrics;
  /** Safety net for a missed notice (pub/sub is at most once); 0 turns it off. */
  refreshIntervalMs: number;
  /**
   * Called after every swap once started (not for the load during `start`), e.g. to drop feeds
   * cached with the old models and re-rank live feeds. The cause is `model` (detail: the versions
   * now served) when an arm serves another version, else `experiment` (detail: its id and revision,
   * e.g. shares or arms changed, or a promotion).
   */
  onSwap?: (cause: FeedRefreshCause) => void;
}

interface ArmState {
  name: string;
  share: number;
  holder: ModelHolder;
}

interface State {
  id: string;
  /** 0: the start-up file, not (yet) a registry experiment. */
  revision: number;
  arms: ArmState[];
}

/** Previous models stay alive this long for requests that started before the swap. */
const RETIRE_AFTER_MS = 30_000;

/** What a swap changed, as live subscribers are told: another version in some arm, or only the experiment. */
function swapCause(
  next: { id: string; revision: number },
  arms: ArmState[],
  versionChanged: boolean,
): FeedRefreshCause {
  if (!versionChanged) return { trigger: 'experiment', detail: `experiment ${next.id} revision ${next.revision}` };
  const versions = arms.map((a) => ({ arm: a.name, version: a.holder.current().version }));
  return {
    trigger: 'model',
    detail: versions.length === 1 ? versions[0]!.version : versions.map((v) => `${v.arm} ${v.version}`).join(', '),
  };
}

export function createModelArms(options: ModelArmsOptions): ModelArms {
  const { log, metrics } = options;
  let registry: ModelRegistry | undefined;
  let commands: RedisClient | undefined;
  /** No arms until start() has loaded the initial model. */
  let state: State = { id: DEFAULT_EXPERIMENT_ID, revision: 0, arms: [] };
  /** The last experiment refused, so a bad revision is reported once, not at every check. */
  let refused: { id: string; revision: number } | undefined;
  let subscriber: RedisClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  /** False until start() has loaded what the registry serves: that first load is no swap to announce. */
  let started = false;

  function report() {
    if (!metrics) return;
    metrics.modelInfo.reset();
    for (const arm of state.arms) {
      const model = arm.holder.current();
      metrics.modelInfo.set({ arm: arm.name, version: model.version, kind: model.kind }, 1);
    }
  }

  async function reload(): Promise<void> {
    const current = registry;
    if (!current) return;
    const next = await current.experiment();
    if (!next || (next.id === state.id && next.revision === state.revision)) return;
    if (refused && refused.id === next.id && refused.revision === next.revision) return;
    const loaded = new Map<string, RankingModel>();
    try {
      for (const arm of next.arms) {
        const serving = state.arms.find((a) => a.name === arm.name)?.holder.current();
        if (serving?.version === arm.version) continue;
        const bytes = await current.bytes(arm.version);
        if (!bytes) throw new RegistryError(`version ${arm.version} has no bytes in the registry`);
        loaded.set(arm.name, await validateModel(bytes, `registry ${arm.version}`, current.featureNames));
      }
    } catch (error) {
      await Promise.all([...loaded.values()].map((m) => m.release().catch(() => {})));
      const outcome = error instanceof ModelMismatchError || error instanceof RegistryError ? 'refused' : 'failed';
      metrics?.modelReloads.inc({ outcome });
      if (outcome === 'refused') refused = { id: next.id, revision: next.revision };
      log.error(
        { err: error, experiment: next.id, revision: next.revision, arms: next.arms },
        'refused the registry experiment; the previous models keep serving',
      );
      return;
    }

    // One synchronous step from here: no request can observe a mix of old and new arms.
    const arms = next.arms.map((arm): ArmState => {
      const previous = state.arms.find((a) => a.name === arm.name);
      const model = loaded.get(arm.name);
      if (previous) {
        if (model) void previous.holder.swap(model);
        return { name: arm.name, share: arm.share, holder: previous.holder };
      }
      if (!model) throw new Error(`arm ${arm.name} has no model`); // unreachable: a new arm was loaded above
      return { name: arm.name, share: arm.share, holder: createModelHolder(model) };
    });
    for (const old of state.arms) {
      if (arms.some((a) => a.name === old.name)) continue;
      const model = old.holder.current();
      setTimeout(() => void model.release().catch(() => {}), RETIRE_AFTER_MS).unref();
    }
    const before = state;
    state = { id: next.id, revision: next.revision, arms };
    refused = undefined;
    metrics?.modelReloads.inc({ outcome: 'swapped' });
    report();
    if (started) options.onSwap?.(swapCause(next, arms, loaded.size > 0));
    log.info(
      {
        experiment: next.id,
        revision: next.revision,
        previousRevision: before.revision,
        arms: arms.map((a) => ({ arm: a.name, share: a.share, modelVersion: a.holder.current().version })),
      },
      'now serving the registry experiment',
    );
  }

  function refresh(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await reload();
        } catch (error) {
          metrics?.modelReloads.inc({ outcome: 'failed' });
          log.warn({ err: error }, 'reading the model registry failed; the current models keep serving');
        }
      } while (again && !stopped);
      running = undefined;
    })();
    return running;
  }

  return {
    forUser(userId) {
      const { id, arms } = state;
      if (arms.length === 0) throw new Error('no model is loaded yet: start the model arms first');
      const arm = assignArm(arms, id, userId);
      return { experimentId: id, arm: arm.name, model: arm.holder.current() };
    },
    serving() {
      return {
        experimentId: state.id,
        revision: state.revision,
        arms: state.arms.map((a) => {
          const model = a.holder.current();
          return { name: a.name, share: a.share, version: model.version, kind: model.kind };
        }),
      };
    },
    refresh,
    async start() {
      const initial = await options.initial();
      state = { ...state, arms: [{ name: DEFAULT_ARM, share: 1, holder: createModelHolder(initial.model) }] };
      report();
      commands = await options.connect('models');
      registry = createModelRegistry(commands, options.keys, { featureNames: options.featureNames });
      try {
        await registry.bootstrap(initial.bytes, initial.source);
      } catch (error) {
        // E.g. the file's version is in the registry with other bytes: serve the registry's choice.
        if (!(error instanceof RegistryError)) throw error;
        log.warn({ err: error }, 'the model file was not published to the registry');
      }
      await refresh();
      started = true;
      subscriber = await options.connect('models-pubsub');
      subscriber.on('message', (_channel: string, message: string) => {
        let notice: Partial<RegistryNotice> = {};
        try {
          notice = JSON.parse(message) as RegistryNotice;
        } catch {
          // Any message on the channel means "look again"; its body is only for the log.
        }
        log.debug({ notice }, 'model registry changed');
        void refresh();
      });
      // A notice sent while the connection was down is lost: look again after every reconnect.
      subscriber.on('ready', () => void refresh());
      await subscriber.subscribe(registry.channel);
      if (options.refreshIntervalMs > 0) timer = setInterval(() => void refresh(), options.refreshIntervalMs).unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
      subscriber?.disconnect();
      commands?.disconnect();
    },
  };
}
