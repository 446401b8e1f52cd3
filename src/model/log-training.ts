/**
 * Training from the service's own logs: the impressions topic (every served feed, with the
 * feature rows the model saw) joined with the behaviour that followed. Point-in-time correct by
 * construction: nothing is recomputed offline that could drift from serving.
 */
import { RANKING_FEATURES } from '../features/ranking-features.js';
import type { Logger } from '../logger.js';
import { decodeBehavior, decodeImpression, decodeOrSkip, DecodeError } from '../core/events.js';
import type { Kafka } from '../streams/kafka.js';
import { replayTopic } from '../streams/replay.js';
import type { Topics } from '../core/topics.js';
import type { ModelKind } from './params.js';
import {
  joinImpressions,
  type Example,
  trainFromExamples,
  type ImpressionRecord,
  type InteractionRecord,
  type TrainedModel,
} from './training.js';

export const DEFAULT_LABEL_WINDOW_MS = 10 * 60_000;

export interface LogTrainingOptions {
  kafka: Kafka;
  topics: Topics;
  /** Impressions served in [from, to) are used. */
  from: number;
  to: number;
  kind: ModelKind;
  version: string;
  labelWindowMs?: number;
  seed?: number;
  log: Logger;
}

/** The impressions served in [from, to) joined with the behaviour that followed: labelled rows. */
export async function collectExamples(
  options: Omit<LogTrainingOptions, 'kind' | 'version' | 'seed'>,
): Promise<{ examples: Example[]; impressions: number }> {
  const labelWindowMs = options.labelWindowMs ?? DEFAULT_LABEL_WINDOW_MS;
  const impressions: ImpressionRecord[] = [];
  await replayTopic(options.kafka, options.topics.impressions, options.from, (value) => {
    const impression = decodeOrSkip(decodeImpression, value);
    if (impression && impression.servedAt >= options.from && impression.servedAt < options.to)
      impressions.push(impression);
  });
  const interactions: InteractionRecord[] = [];
  await replayTopic(options.kafka, options.topics.behavior, options.from, (value) => {
    try {
      const e = decodeBehavior(value);
      if (e.receivedAt <= options.to + labelWindowMs) interactions.push(e);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
    }
  });
  const examples = joinImpressions(impressions, interactions, { labelWindowMs, featureNames: RANKING_FEATURES });
  options.log.info(
    { impressions: impressions.length, interactions: interactions.length, examples: examples.length },
    'joined impressions with the behaviour that followed',
  );
  return { examples, impressions: impressions.length };
}

export async function trainFromLog(
  options: LogTrainingOptions,
): Promise<TrainedModel & { impressions: number; examples: number }> {
  const { examples, impressions } = await collectExamples(options);
  const trained = trainFromExamples(examples, {
    featureNames: RANKING_FEATURES,
    kind: options.kind,
    version: options.version,
    seed: options.seed,
  });
  return { ...trained, impressions, examples: examples.length };
}
