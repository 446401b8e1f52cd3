/**
 * The live feed's fan-out point on one API instance.
 *
 * ONE Redis connection per instance listens to the stream worker's "user changed" channel (every
 * instance gets every notice; Redis pub/sub is the fan-out across instances). For each notice the
 * hub first drops the users' cached feeds, then looks the users up in an in-memory map
 * userId → local subscribers: users nobody watches here cost one map lookup. A watched user is
 * re-ranked at most once per `pushIntervalMs` (the first change promptly, later ones in the window
 * merged into one re-rank at its end), ONE ranking at the largest `first` among their subscribers
 * however many sockets and page sizes they have open, sliced for each subscriber; a subscriber
 * gets the new feed only if its ordered top N changed, and only a feed actually handed to a
 * subscriber is logged as an impression.
 *
 * Every push says what caused it (`trigger`, `triggerDetail`): the subscription itself, the user's
 * behaviour, a tag their behaviour set or withdrew (pushed even when the items stayed the same:
 * the tag shows in the feed's reasons, and a client must learn about it), or a change that
 * concerns every user: a model or experiment swap, or a batch (`refreshAll`). Those re-rank every
 * watched user of the instance, spread at `refreshPerSec` users per second so that a swap with
 * 10,000 subscribers is not 10,000 rankings in the same second.
 *
 * Trending subscriptions (anonymous screens) share one check per scope per `trendingIntervalMs`.
 * Anonymous subscriptions have a budget of their own inside the instance's, so that they can never
 * take the room signed-in users need, and the number of distinct scopes (categories are client
 * input) is capped. Nothing here knows GraphQL: the resolvers turn these streams into subscription
 * fields.
 */
import { decodeFeedRefresh, type FeedRefreshCause, type RefreshTrigger } from '../core/feed-refresh.js';
import { decodeUserChanged, type UserChangedNotice } from '../core/user-changed.js';
import { AppError } from '../core/errors.js';
import type { ImpressionEvent } from '../core/events.js';
import type { ItemFeatures } from '../features/item-features.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Feed, RankedFeed } from '../ranking/ranker.js';
import { idDiff, LatestValueStream, sameIds, type LatestValueSpec } from './latest-value-stream.js';

/** Why a feed was pushed (the GraphQL enum `FeedTrigger`). */
export type FeedTrigger = 'subscribed' | 'behaviour' | 'tag' | RefreshTrigger;

/** What a feed subscriber receives. */
export interface FeedUpdate {
  feed: Feed;
  entered: string[];
  left: string[];
  trigger: FeedTrigger;
  /** For people: the tags set or withdrawn, the model version, the experiment revision, the batch run. */
  triggerDetail: string | null;
}

export interface TrendingEntry {
  item: ItemFeatures;
  score: number;
}

/** What a trending subscriber receives. */
export interface TrendingUpdate {
  items: TrendingEntry[];
  entered: string[];
  left: string[];
}

/**
 * Who opens a trending subscription: a screen with no token (the anonymous budget), a user (their
 * per-user cap, shared with their feeds) or a service (`userId` absent).
 */
export type TrendingAudience = { anonymous: true } | { anonymous: false; userId?: string };

/** What the hub needs of its Redis connection: SUBSCRIBE and its messages, then a disconnect. */
export interface ChannelSubscriber {
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  off(event: 'message', listener: (channel: string, message: string) => void): unknown;
  subscribe(channel: string): Promise<unknown>;
  disconnect(): void;
}

/** Cancels a timer started by a `HubClock`. */
export type CancelTimer = () => void;

/** Time as the hub sees it: the real clock in production, a hand-driven one in unit tests. */
export interface HubClock {
  now(): number;
  /** Runs `fn` once, `ms` from now. */
  after(ms: number, fn: () => void): CancelTimer;
  /** Runs `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): CancelTimer;
}

export const systemClock: HubClock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  },
};

export interface LiveHubOptions {
  /** A connection used for SUBSCRIBE only; the hub owns it from now on and closes it in stop(). */
  subscriber: ChannelSubscriber;
  /** The stream worker's "user changed" channel. */
  channel: string;
  /** The "every feed may have changed" channel (the daily batch's notice, src/core/feed-refresh.ts). */
  refreshChannel: string;
  log: Logger;
  metrics: Metrics;
  pushIntervalMs: number;
  trendingIntervalMs: number;
  /** How many watched users a `refreshAll` pass hands to a re-rank per second, at most. */
  refreshPerSec: number;
  /** Live subscriptions of every kind this instance accepts. */
  maxSubscriptions: number;
  /** Of those, the most anonymous ones (below `maxSubscriptions`, so signed-in users keep room). */
  maxAnonymousSubscriptions: number;
  /** Distinct trending scopes (categories) checked at once. */
  maxTrendingScopes: number;
  /**
   * Subscriptions for one user on this instance, over any number of sockets or SSE streams: their
   * feed (whoever opened it) and the trending lists they opened with their own token.
   */
  maxSubscriptionsPerUser: number;
  /** Called with every user a notice names, before anything is re-ranked (drops cached feeds). */
  onUsersChanged(userIds: readonly string[]): void;
  /**
   * A fresh ranking for one user, with its own loaders, whose impression is NOT logged yet; rejects
   * when features cannot be read.
   */
  rankFeed(userId: string, first: number): Promise<RankedFeed>;
  /** Logs that the first `count` items of a re-ranked feed were handed to a subscriber. */
  logImpression(impression: ImpressionEvent, count: number): void;
  /** The trending list of one scope (null: all items), with item features. */
  readTrending(category: string | null, first: number): Promise<TrendingEntry[]>;
  /** Defaults to the real clock. */
  clock?: HubClock;
}

/** A feed subscription just opened: give it the current feed, then iterate `updates`. */
export interface FeedSubscription {
  updates: AsyncIterableIterator<FeedUpdate>;
  /** The feed at subscription time; ignored when a re-rank already produced a newer one. */
  initial(feed: Feed): void;
}

export interface TrendingSubscription {
  updates: AsyncIterableIterator<TrendingUpdate>;
  initial(items: TrendingEntry[]): void;
}

/**
 * Why a re-rank runs. Causes merged into one re-rank keep the most specific: a tag (with every tag
 * named) over behaviour, behaviour over a refresh-all cause, and the latest of two refresh causes.
 */
type Cause =
  | { trigger: 'subscribed' }
  | { trigger: 'behaviour' }
  /** Tag → true when set, false when withdrawn. */
  | { trigger: 'tag'; tags: ReadonlyMap<string, boolean> }
  | { trigger: RefreshTrigger; detail: string | null };

const SUBSCRIBED: Cause = { trigger: 'subscribed' };
const BEHAVIOUR: Cause = { trigger: 'behaviour' };

const specificity = (c: Cause) => (c.trigger === 'tag' ? 3 : c.trigger === 'behaviour' ? 2 : 1);

/** One cause for two merged into one re-rank (or one undelivered push); `newer` happened later. */
function mergeCause(older: Cause | null, newer: Cause | null): Cause | null {
  if (!older || !newer) return newer ?? older;
  if (older.trigger === 'tag' && newer.trigger === 'tag')
    return { trigger: 'tag', tags: new Map([...older.tags, ...newer.tags]) };
  return specificity(newer) >= specificity(older) ? newer : older;
}

function causeDetail(cause: Cause): string | null {
  if (cause.trigger === 'tag')
    return [...cause.tags].map(([tag, set]) => `${tag} ${set ? 'set' : 'withdrawn'}`).join(', ');
  return 'detail' in cause ? cause.detail : null;
}

/**
 * The cause of one user's entry in a user-changed notice: `+tag` / `-tag`, comma-separated, make it
 * a tag cause; nothing readable there, plain behaviour.
 */
function noticeCause(tags: string | null | undefined): Cause {
  const parsed = new Map<string, boolean>();
  for (const token of tags?.split(',') ?? []) {
    const t = token.trim();
    const name = t.slice(1).trim();
    if ((t.startsWith('+') || t.startsWith('-')) && name) parsed.set(name, t.startsWith('+'));
  }
  return parsed.size > 0 ? { trigger: 'tag', tags: parsed } : BEHAVIOUR;
}

/** How often a refresh-all pass hands out its next users (its rate is averaged over these ticks). */
export const REFRESH_TICK_MS = 100;

interface FeedValue {
  feed: Feed;
  ids: string[];
  cause: Cause;
  /** When the earliest change this value reflects was accepted (null for the subscription snapshot). */
  since: number | null;
  /** The re-rank's impression, logged for the slice delivered (null: the snapshot, logged when served). */
  impression: ImpressionEvent | null;
}

interface TrendingValue {
  items: TrendingEntry[];
  ids: string[];
}

/** What a feed subscriber keeps of the last feed it was handed: its ids, to tell what changed. */
interface DeliveredFeed {
  ids: readonly string[];
}

/**
 * One feed subscriber: the stream and whose it is. Its behaviour lives in one spec shared by every
 * feed subscriber of the hub, so an idle subscriber costs this object and the ids it last showed.
 */
class FeedStream extends LatestValueStream<FeedValue, FeedUpdate, DeliveredFeed> {
  constructor(
    spec: LatestValueSpec<FeedValue, FeedUpdate, DeliveredFeed>,
    readonly userId: string,
    readonly entry: UserEntry,
    /** How many items this subscriber shows. */
    readonly first: number,
  ) {
    super(spec);
  }
}

type TrendingStream = LatestValueStream<TrendingValue, TrendingUpdate>;

interface UserEntry {
  /**
   * The user's local subscribers. A list, not a Map: nearly every user has one or two (a Map's
   * smallest table costs about 250 bytes per watched user), and never more than their socket and
   * subscription limits allow.
   */
  subscribers: FeedStream[];
  /** A change arrived that no re-rank has picked up yet. */
  dirty: boolean;
  since: number | null;
  /** What made it dirty (merged: see `mergeCause`). */
  cause: Cause | null;
  /** Cancels the pending re-rank at the end of the push window, if one is scheduled. */
  timer: CancelTimer | undefined;
  running: boolean;
  lastRankAt: number;
}

interface ScopeEntry {
  category: string | null;
  /** Each local subscriber with its `first` and whether it is anonymous. */
  subscribers: Map<TrendingStream, { first: number; anonymous: boolean }>;
  /** Cancels the scope's periodic check. */
  timer: CancelTimer;
  running: boolean;
}

const feedIds = (feed: Feed) => feed.items.map((e) => e.item.itemId);
const sliceFeed = (feed: Feed, first: number): Feed =>
  feed.items.length <= first ? feed : { ...feed, items: feed.items.slice(0, first) };

export function createLiveHub(options: LiveHubOptions) {
  const { subscriber, log, metrics, clock = systemClock } = options;
  const users = new Map<string, UserEntry>();
  const scopes = new Map<string, ScopeEntry>();
  let subscriptions = 0;
  let anonymousSubscriptions = 0;
  /** Subscriptions counted against each user's cap. */
  const perUser = new Map<string, number>();
  let stopped = false;
  /**
   * The refresh-all pass: users still to re-rank, in pass order, each with the cause they will be
   * pushed with. Empty when no pass runs.
   */
  const pending = new Map<string, Cause>();
  /** Cancels the pass's ticker while one runs. */
  let ticker: CancelTimer | undefined;
  /** The pass's budget in user-milliseconds (1000 = one user), earned at `refreshPerSec`. */
  let credit = 0;
  let lastTick = 0;

  /** Refuses a subscription over a cap; counts nothing (the caller registers it right after). */
  function admit(anonymous: boolean, userId: string | undefined) {
    if (stopped) throw new AppError('UNAVAILABLE', 'this instance is shutting down; reconnect', { retryable: true });
    if (subscriptions >= options.maxSubscriptions) {
      metrics.liveRefused.inc({ limit: 'subscriptionsPerInstance' });
      throw new AppError(
        'LIMIT_EXCEEDED',
        `this instance holds its maximum of ${options.maxSubscriptions} live subscriptions; retry (another instance may have room)`,
        { limit: 'subscriptionsPerInstance', max: options.maxSubscriptions, retryable: true },
      );
    }
    if (anonymous && anonymousSubscriptions >= options.maxAnonymousSubscriptions) {
      metrics.liveRefused.inc({ limit: 'anonymousSubscriptions' });
      throw new AppError(
        'LIMIT_EXCEEDED',
        `this instance holds its maximum of ${options.maxAnonymousSubscriptions} anonymous live subscriptions; sign in, or retry (another instance may have room)`,
        { limit: 'anonymousSubscriptions', max: options.maxAnonymousSubscriptions, retryable: true },
      );
    }
    if (userId !== undefined && (perUser.get(userId) ?? 0) >= options.maxSubscriptionsPerUser) {
      metrics.liveRefused.inc({ limit: 'subscriptionsPerUser' });
      throw new AppError('LIMIT_EXCEEDED', `at most ${options.maxSubscriptionsPerUser} live subscriptions per user`, {
        limit: 'subscriptionsPerUser',
        max: options.maxSubscriptionsPerUser,
      });
    }
  }

  function countUser(userId: string | undefined, delta: 1 | -1) {
    if (userId === undefined) return;
    const next = (perUser.get(userId) ?? 0) + delta;
    if (next > 0) perUser.set(userId, next);
    else perUser.delete(userId);
  }

  /** The behaviour of every feed subscriber of this hub (one object, not one per subscriber). */
  const feedSpec: LatestValueSpec<FeedValue, FeedUpdate, DeliveredFeed> = {
    // A tag is pushed even with the same items: it shows in the reasons, the client must learn of it.
    same: (a, b) => b.cause.trigger !== 'tag' && sameIds(a.ids, b.ids),
    merge: (queued, next) =>
      queued.cause.trigger === 'subscribed'
        ? { ...next, cause: SUBSCRIBED, since: null }
        : {
            ...next,
            cause: mergeCause(queued.cause, next.cause) ?? next.cause,
            since: queued.since === null ? next.since : Math.min(queued.since, next.since ?? Infinity),
          },
    payload: (value, previous) => {
      if (value.since !== null) metrics.feedPushLatency.observe(Math.max(0, clock.now() - value.since));
      metrics.livePushes.inc({ kind: 'feed', trigger: value.cause.trigger });
      if (value.impression) options.logImpression(value.impression, value.feed.items.length);
      return {
        feed: value.feed,
        trigger: value.cause.trigger,
        triggerDetail: causeDetail(value.cause),
        ...idDiff(previous?.ids ?? [], value.ids),
      };
    },
    // Only the ids: the feed itself (items, features, reasons) is not held by an idle subscriber.
    remember: (value) => ({ ids: value.ids }),
    onEnd: (ended) => {
      const { userId, entry } = ended as FeedStream;
      const at = entry.subscribers.indexOf(ended as FeedStream);
      if (at >= 0) entry.subscribers.splice(at, 1);
      subscriptions--;
      countUser(userId, -1);
      metrics.liveSubscriptions.dec({ kind: 'feed' });
      if (entry.subscribers.length === 0 && users.get(userId) === entry) {
        entry.timer?.();
        users.delete(userId);
        leavePass(userId);
      }
    },
  };

  /** Registers a feed subscriber for `userId` (identity already checked by the caller). */
  function openFeed(userId: string, first: number): FeedSubscription {
    admit(false, userId);
    let entry = users.get(userId);
    if (!entry) {
      entry = {
        subscribers: [],
        dirty: false,
        since: null,
        cause: null,
        timer: undefined,
        running: false,
        lastRankAt: 0,
      };
      users.set(userId, entry);
    }
    const stream = new FeedStream(feedSpec, userId, entry, first);
    // A one-element literal keeps a one-slot backing store (push on an empty list reserves 17).
    if (entry.subscribers.length === 0) entry.subscribers = [stream];
    else entry.subscribers.push(stream);
    subscriptions++;
    countUser(userId, 1);
    metrics.liveSubscriptions.inc({ kind: 'feed' });
    return {
      updates: stream,
      initial: (feed) => {
        if (!stream.hasValue)
          stream.offer({ feed, ids: feedIds(feed), cause: SUBSCRIBED, since: null, impression: null });
      },
    };
  }

  function schedule(userId: string, entry: UserEntry) {
    if (entry.running || entry.timer || stopped) return;
    const wait = entry.lastRankAt + options.pushIntervalMs - clock.now();
    if (wait <= 0) {
      void rerank(userId, entry);
      return;
    }
    entry.timer = clock.after(wait, () => {
      entry.timer = undefined;
      void rerank(userId, entry);
    });
  }

  /**
   * ONE ranking at the largest `first` among the user's subscribers, sliced for each of them: a
   * user with pages of 1 to 50 items costs one ranking per change, not fifty.
   */
  async function rerank(userId: string, entry: UserEntry) {
    if (!entry.dirty || stopped || users.get(userId) !== entry) return;
    entry.dirty = false;
    const since = entry.since;
    entry.since = null;
    const cause = entry.cause ?? BEHAVIOUR;
    entry.cause = null;
    // Ranked from now on, with whatever model and features are current: a refresh pass still
    // waiting for this user has nothing left to do for them.
    leavePass(userId);
    entry.running = true;
    entry.lastRankAt = clock.now();
    try {
      const first = entry.subscribers.reduce((most, s) => Math.max(most, s.first), 0);
      const { feed, impression } = await options.rankFeed(userId, first);
      metrics.liveReranks.inc({ outcome: 'ok' });
      // One value per page size, shared by every subscriber of the user with that `first`.
      const values = new Map<number, FeedValue>();
      for (const stream of entry.subscribers) {
        const f = stream.first;
        if (f > first) {
          // Subscribed with a larger page while this ranking ran: a slice would truncate its feed,
          // so it waits for the next re-rank, which the change it may have missed makes happen.
          entry.dirty = true;
          entry.since ??= since;
          entry.cause = mergeCause(cause, entry.cause);
          continue;
        }
        let value = values.get(f);
        if (!value) {
          const sliced = sliceFeed(feed, f);
          values.set(f, (value = { feed: sliced, ids: feedIds(sliced), cause, since, impression }));
        }
        stream.offer(value);
      }
    } catch (error) {
      metrics.liveReranks.inc({ outcome: 'failed' });
      log.warn({ err: error, userId }, 'a live re-rank failed; subscribers keep their feed until the next change');
    } finally {
      entry.running = false;
      if (entry.dirty && users.get(userId) === entry) schedule(userId, entry);
    }
  }

  /** Takes a user out of the refresh pass (re-ranked for another reason, or gone). */
  function leavePass(userId: string) {
    if (pending.delete(userId)) metrics.liveRefreshPending.set(pending.size);
  }

  function stopPass() {
    ticker?.();
    ticker = undefined;
    credit = 0;
  }

  /** One tick of the refresh pass: hands the users its budget allows to a re-rank, in pass order. */
  function refreshTick() {
    const now = clock.now();
    credit = Math.min(
      Math.max(1000, options.refreshPerSec * REFRESH_TICK_MS),
      credit + options.refreshPerSec * (now - lastTick),
    );
    lastTick = now;
    for (const [userId, cause] of pending) {
      if (credit < 1000) break;
      pending.delete(userId);
      const entry = users.get(userId);
      if (!entry) continue; // not reachable: a user leaving is taken out of the pass at once
      credit -= 1000;
      metrics.liveRefreshUsers.inc({ trigger: cause.trigger });
      entry.dirty = true;
      entry.cause = mergeCause(entry.cause, cause);
      schedule(userId, entry);
    }
    if (pending.size === 0) stopPass();
    metrics.liveRefreshPending.set(pending.size);
  }

  /**
   * Re-ranks every user with feed subscribers here, at most `refreshPerSec` per second, the first
   * ones one tick from now; each subscriber whose top N changed is pushed the feed with this cause.
   * A call while a pass runs merges into it: users still waiting keep their place and take this
   * cause, users already re-ranked (and new ones) are queued again at the end. Returns how many
   * users wait.
   */
  function refreshAll(cause: FeedRefreshCause): number {
    if (stopped) return 0;
    const queued: Cause = { trigger: cause.trigger, detail: cause.detail ?? null };
    for (const userId of users.keys()) pending.set(userId, queued);
    metrics.liveRefreshPending.set(pending.size);
    if (pending.size > 0 && !ticker) {
      credit = 0;
      lastTick = clock.now();
      ticker = clock.every(REFRESH_TICK_MS, refreshTick);
    }
    log.info(
      { trigger: cause.trigger, detail: cause.detail, users: pending.size, perSec: options.refreshPerSec },
      'refreshing every live feed',
    );
    return pending.size;
  }

  function onRefreshNotice(message: string) {
    let cause: FeedRefreshCause;
    try {
      const notice = decodeFeedRefresh(message);
      cause = { trigger: notice.trigger, detail: notice.detail };
    } catch (error) {
      metrics.liveRefreshNotices.inc({ outcome: 'malformed' });
      log.warn({ err: error, message: message.slice(0, 200) }, 'unreadable feed-refresh notice, ignored');
      return;
    }
    metrics.liveRefreshNotices.inc({ outcome: 'accepted' });
    refreshAll(cause);
  }

  function onMessage(channel: string, message: string) {
    if (channel === options.refreshChannel) return onRefreshNotice(message);
    if (channel !== options.channel) return;
    let notice: UserChangedNotice;
    try {
      notice = decodeUserChanged(message, clock.now());
    } catch (error) {
      log.warn({ err: error }, 'unreadable user-changed message');
      return;
    }
    options.onUsersChanged(notice.users);
    notice.users.forEach((userId, i) => {
      const entry = users.get(userId);
      if (!entry) return;
      const since = notice.receivedAt?.[i] ?? notice.at;
      entry.dirty = true;
      entry.since = entry.since === null ? since : Math.min(entry.since, since);
      entry.cause = mergeCause(entry.cause, noticeCause(notice.tags?.[i]));
      // Re-ranked for this notice, with everything current: not again by a refresh pass.
      leavePass(userId);
      schedule(userId, entry);
    });
  }

  async function checkScope(key: string, entry: ScopeEntry) {
    if (entry.running || scopes.get(key) !== entry) return;
    entry.running = true;
    try {
      const largest = Math.max(...[...entry.subscribers.values()].map((s) => s.first));
      const list = await options.readTrending(entry.category, largest);
      for (const [stream, { first }] of entry.subscribers) {
        const items = list.slice(0, first);
        stream.offer({ items, ids: items.map((e) => e.item.itemId) });
      }
    } catch (error) {
      log.warn({ err: error, category: entry.category }, 'a trending check failed; retrying at the next interval');
    } finally {
      entry.running = false;
    }
  }

  /** Registers a trending subscriber; its scope is checked once per interval for all of them. */
  function openTrending(category: string | null, first: number, audience: TrendingAudience): TrendingSubscription {
    const { anonymous } = audience;
    const userId = audience.anonymous ? undefined : audience.userId;
    admit(anonymous, userId);
    const key = category ?? '';
    let entry = scopes.get(key);
    if (!entry && scopes.size >= options.maxTrendingScopes) {
      metrics.liveRefused.inc({ limit: 'trendingScopes' });
      throw new AppError(
        'LIMIT_EXCEEDED',
        `this instance follows its maximum of ${options.maxTrendingScopes} trending categories; subscribe to one already followed, or retry later`,
        { limit: 'trendingScopes', max: options.maxTrendingScopes, retryable: true },
      );
    }
    if (!entry) {
      const created: ScopeEntry = {
        category,
        subscribers: new Map(),
        running: false,
        timer: clock.every(options.trendingIntervalMs, () => void checkScope(key, created)),
      };
      scopes.set(key, (entry = created));
    }
    const scope = entry;
    const stream: TrendingStream = new LatestValueStream<TrendingValue, TrendingUpdate>({
      same: (a, b) => sameIds(a.ids, b.ids),
      payload: (value, previous) => {
        metrics.livePushes.inc({ kind: 'trending', trigger: previous ? 'trending' : 'subscribed' });
        return { items: value.items, ...idDiff(previous?.ids ?? [], value.ids) };
      },
      onEnd: () => {
        scope.subscribers.delete(stream);
        subscriptions--;
        if (anonymous) anonymousSubscriptions--;
        countUser(userId, -1);
        metrics.liveSubscriptions.dec({ kind: 'trending' });
        if (scope.subscribers.size === 0 && scopes.get(key) === scope) {
          scope.timer();
          scopes.delete(key);
        }
      },
    });
    scope.subscribers.set(stream, { first, anonymous });
    subscriptions++;
    if (anonymous) anonymousSubscriptions++;
    countUser(userId, 1);
    metrics.liveSubscriptions.inc({ kind: 'trending' });
    return {
      updates: stream,
      initial: (items) => {
        if (!stream.hasValue) stream.offer({ items, ids: items.map((e) => e.item.itemId) });
      },
    };
  }

  return {
    openFeed,
    openTrending,
    refreshAll,
    /** Listens on both channels; ioredis re-subscribes by itself after a reconnect. */
    async start() {
      subscriber.on('message', onMessage);
      await subscriber.subscribe(options.channel);
      await subscriber.subscribe(options.refreshChannel);
    },
    /** Ends every live stream (clients see their subscriptions complete) and closes the connection. */
    stop() {
      stopped = true;
      stopPass();
      pending.clear();
      metrics.liveRefreshPending.set(0);
      for (const entry of users.values()) {
        entry.timer?.();
        for (const stream of [...entry.subscribers]) stream.end();
      }
      for (const entry of scopes.values()) for (const stream of [...entry.subscribers.keys()]) stream.end();
      users.clear();
      scopes.clear();
      subscriber.off('message', onMessage);
      subscriber.disconnect();
    },
    /** What the hub holds right now: watched users, trending scopes, open subscriptions. */
    stats() {
      return { users: users.size, scopes: scopes.size, subscriptions };
    },
    /** Users a refresh-all pass has yet to re-rank. */
    refreshPending: () => pending.size,
  };
}

export type LiveHub = ReturnType<typeof createLiveHub>;
