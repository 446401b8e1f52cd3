/**
 * What a simulated user does with a list they are shown. The model is the position-based click
 * model used in the learning-to-rank literature: a position is examined with a probability that
 * falls with its rank, and an examined item is clicked with a probability that depends only on the
 * user and the item (latent category affinity × item quality). Because click probability does not
 * depend on position, sorting by it maximises expected clicks: that is the oracle.
 */
import type { Action } from '../../src/core/events.js';
import { createRng } from '../../src/core/random.js';
import { CLICK_SCALE, DISLIKE_BELOW, preferencesAt, type SimItem, type SimUser, type World } from './world.js';

/** How steeply attention falls with rank: position k (0-based) is examined w.p. (1 + k)^-η. */
export const EXAMINATION_DECAY = 0.8;
/** Clicking an item again is much less likely than the first time. */
const REPEAT_CLICK_FACTOR = 0.15;
/** Among examined items of a disliked category, the share the user hides rather than skips. */
const HIDE_SHARE = 0.3;

/** A user's latent state: what the oracle knows and the ranker has to infer. */
export interface UserState {
  readonly world: World;
  readonly user: SimUser;
  /** The current session (-1 before the first); drift restarts with each session. */
  session: number;
  /** Steps taken in the current session. */
  step: number;
  /** Current latent preferences (the user's at rest, plus this session's drift). */
  preferences: Float64Array;
  /** Items the user hid: never clicked again. */
  hidden: Set<string>;
  /** Items the user already opened. */
  consumed: Set<string>;
}

export function createUserState(world: World, userId: string): UserState {
  const user = world.userById.get(userId);
  if (!user) throw new RangeError(`unknown simulated user ${userId}`);
  return {
    world,
    user,
    session: -1,
    step: 0,
    preferences: preferencesAt(world, user, -1, 0),
    hidden: new Set(),
    consumed: new Set(),
  };
}

/** Starts the user's next session: drift starts over from their resting preferences. */
export function startSession(state: UserState): void {
  state.session++;
  state.step = 0;
  state.preferences = preferencesAt(state.world, state.user, state.session, 0);
}

/** Every user's state in one world; rankers that may see latent state (the oracle) read it here. */
export interface Population {
  readonly world: World;
  state(userId: string): UserState;
}

export function createPopulation(world: World): Population {
  const states = new Map<string, UserState>();
  return {
    world,
    state(userId) {
      let state = states.get(userId);
      if (!state) {
        state = createUserState(world, userId);
        states.set(userId, state);
      }
      return state;
    },
  };
}

/** Probability that position `position` (0-based) of a list is looked at. */
export const examination = (position: number): number => Math.pow(1 + position, -EXAMINATION_DECAY);

/** Probability that the user clicks `item` once they look at it, given their current state. */
export function clickProbability(state: UserState, item: SimItem): number {
  if (state.hidden.has(item.id)) return 0;
  const p = CLICK_SCALE * (state.preferences[item.categoryIndex] ?? 0) * item.quality;
  return state.consumed.has(item.id) ? p * REPEAT_CLICK_FACTOR : p;
}

const probabilityOf = (state: UserState, itemId: string): number => {
  const item = state.world.itemById.get(itemId);
  return item ? clickProbability(state, item) : 0;
};

/** Expected clicks on `list`: Σ examination(k) × click probability(k). */
export function expectedClicks(state: UserState, list: readonly string[]): number {
  let clicks = 0;
  list.forEach((id, k) => (clicks += examination(k) * probabilityOf(state, id)));
  return clicks;
}

/** Expected examinations of a list of `length` items. */
export function expectedExaminations(length: number): number {
  let n = 0;
  for (let k = 0; k < length; k++) n += examination(k);
  return n;
}

/**
 * Exact click-through rate of `list` for the user as they are now: expected clicks per examined
 * item. It is what sampled CTR converges to, without the sampling noise, so rankers can be
 * compared on few users.
 */
export function expectedClickRate(state: UserState, list: readonly string[]): number {
  return list.length === 0 ? 0 : expectedClicks(state, list) / expectedExaminations(list.length);
}

/** The best possible list for the user right now: items by true click probability. */
export function oracleRanking(state: UserState, first: number): string[] {
  const { items } = state.world;
  const scored = items.map((item, i) => ({ i, p: clickProbability(state, item) }));
  scored.sort((a, b) => b.p - a.p || a.i - b.i);
  return scored.slice(0, first).map(({ i }) => items[i]?.id ?? '');
}

/** One thing the user did, in the order they did it. */
export interface Interaction {
  userId: string;
  itemId: string;
  action: Action;
  /** Where the item was in the list shown. */
  position: number;
}

export interface StepOutcome {
  userId: string;
  session: number;
  step: number;
  shown: string[];
  /** Positions the user looked at. */
  examined: number;
  clicks: number;
  events: Interaction[];
}

/**
 * Samples the user's reaction to `shown` and advances their state by one step (drift, hidden and
 * opened items). Per examined item: opened (VIEW, CLICK, maybe LIKE / COMMENT / SHARE), looked at
 * without opening (VIEW), scrolled past (SKIP, likelier the less they care for the category), or
 * "not interested" (HIDE, for categories they dislike). Ids the world does not know are passed
 * over. The coin flips come from a stream of
 * (seed, user, session, step): the same list at the same point gives the same behaviour.
 */
export function sampleBehaviour(state: UserState, shown: readonly string[]): StepOutcome {
  const { world, user } = state;
  const rng = createRng(world.seed, 'behaviour', user.id, state.session, state.step);
  const top = Math.max(...state.preferences);
  const events: Interaction[] = [];
  let examined = 0;
  let clicks = 0;
  const emit = (itemId: string, action: Action, position: number) =>
    events.push({ userId: user.id, itemId, action, position });

  shown.forEach((itemId, position) => {
    const item = world.itemById.get(itemId);
    if (!item || !rng.bernoulli(examination(position))) return;
    examined++;
    const affinity = state.preferences[item.categoryIndex] ?? 0;
    const relative = top > 0 ? affinity / top : 0;
    if (rng.bernoulli(clickProbability(state, item))) {
      clicks++;
      emit(itemId, 'VIEW', position);
      emit(itemId, 'CLICK', position);
      if (rng.bernoulli(0.6 * relative * Math.sqrt(item.quality))) emit(itemId, 'LIKE', position);
      if (rng.bernoulli(0.15 * relative * item.quality)) emit(itemId, 'COMMENT', position);
      if (rng.bernoulli(0.1 * relative * item.quality)) emit(itemId, 'SHARE', position);
      state.consumed.add(itemId);
    } else if (affinity < DISLIKE_BELOW && !state.hidden.has(itemId) && rng.bernoulli(HIDE_SHARE)) {
      emit(itemId, 'HIDE', position);
      state.hidden.add(itemId);
    } else if (rng.bernoulli(1 - relative)) {
      emit(itemId, 'SKIP', position);
    } else {
      emit(itemId, 'VIEW', position);
    }
  });

  const outcome: StepOutcome = {
    userId: user.id,
    session: state.session,
    step: state.step,
    shown: [...shown],
    examined,
    clicks,
    events,
  };
  state.step++;
  state.preferences = preferencesAt(world, user, state.session, state.step);
  return outcome;
}
