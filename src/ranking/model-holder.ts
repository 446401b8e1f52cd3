/**
 * The model an instance serves with. Requests read `current()` once and keep that model for the
 * whole request, so a swap between requests never mixes two models in one feed.
 */
import type { RankingModel } from '../model/session.js';

export interface ModelHolder {
  current(): RankingModel;
  /** Serves `next` from the next request on; the previous model is released afterwards. */
  swap(next: RankingModel): Promise<void>;
}

export function createModelHolder(initial: RankingModel): ModelHolder {
  let model = initial;
  return {
    current: () => model,
    async swap(next) {
      const previous = model;
      model = next;
      // Requests already running hold `previous`; give them time to finish before releasing it.
      setTimeout(() => void previous.release().catch(() => {}), 30_000).unref();
    },
  };
}
