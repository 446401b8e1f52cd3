/**
 * A hand-set logistic regression over the ranking features: sensible signs and rough sizes, no
 * training. It serves the first traffic that models are trained on (`npm run
 * model:train-default`), and it is the shipped default while no model trained from logged
 * traffic beats it on both `npm run eval` and the simulator (`npm run model:prior` writes it).
 */
import { RANKING_FEATURES, type RankingFeature } from '../features/ranking-features.js';
import { buildModel } from './graphs.js';

const PRIOR: Record<RankingFeature, number> = {
  user_category_affinity: 0.3,
  user_category_affinity_share: 2,
  user_category_positive_5m: 0.4,
  user_category_negative_5m: -0.8,
  user_category_positive_1h: 0.15,
  user_category_negative_1h: -0.3,
  user_declared_interest: 0.8,
  user_activity_1h: 0,
  item_popularity: 0.3,
  item_engagement_rate: 3,
  user_item_expected_engagement: 4,
  item_negative_rate: -2,
  item_age_log_hours: -0.05,
  item_is_new: 0.2,
  item_neighbour_score: 2,
  item_engagement_log: 0.1,
  item_trending: 0.3,
  user_tag_category_match: 1,
};

/**
 * The prior as an ONNX file. `scale` multiplies every weight: -1 gives a model that ranks
 * everything backwards, a known-bad arm for testing experiments and promotion rules.
 */
export function priorModel(version = 'prior-0', scale = 1): Uint8Array {
  const n = RANKING_FEATURES.length;
  return buildModel(
    {
      kind: 'lr',
      weights: Float32Array.from(RANKING_FEATURES.map((f) => PRIOR[f] * scale)),
      bias: -2,
      mean: new Float32Array(n),
      std: new Float32Array(n).fill(1),
    },
    { featureNames: [...RANKING_FEATURES], version, kind: 'lr', trainedAt: new Date(0).toISOString() },
  );
}
