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
 * Trending subscriptions (anonymous screens) share one check per scope per `trendingIntervalMs`.
 * Anonymous subscriptions have a budget of their own inside the instance's, so that they can never
 * take the room signed-in users need, and the number of distinct scopes (categories are client
 * input) is capped. Nothing here knows GraphQL: the resolvers turn these streams into subscription
 * fields.
 */
import { decodeUserChanged, type UserChangedNotice } from '../core/user-changed.js';
import { AppError } from '../core/errors.js';
import type { ImpressionEvent } from '../core/events.js';
import type { ItemFeatures } from '../features/item-features.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Feed, RankedFeed } from '../ranking/ranker.js';
import { idDiff, LatestValueStream, sameIds } from './latest-value-stream.js';

/** What a feed subscriber receives. */
export interface FeedUpdate {
  feed: Feed;
  entered: string[];
  left: string[];
  /** "subscribed" (the feed at subscription time) or "behaviour" (the stream reported a change). */
  trigger: string;
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
  log: Logger;
  metrics: Metrics;
  pushIntervalMs: number;
  trendingIntervalMs: number;
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

interface FeedValue {
  feed: Feed;
  ids: string[];
  trigger: string;
  /** When the earliest change this value reflects was accepted (null for the subscription snapshot). */
  since: number | null;
  /** The re-rank's impression, logged for the slice delivered (null: the snapshot, logged when served). */
  impression: ImpressionEvent | null;
}

interface TrendingValue {
  items: TrendingEntry[];
  ids: string[];
}

type FeedStream = LatestValueStream<FeedValue, FeedUpdate>;
type TrendingStream = LatestValueStream<TrendingValue, TrendingUpdate>;

interface UserEntry {
  /** Each local subscriber with its `first`. */
  subscribers: Map<FeedStream, number>;
  /** A change arrived that no re-rank has picked up yet. */
  dirty: boolean;
  since: number | null;
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

  function feedStream(userId: string, entry: UserEntry): FeedStream {
    const stream: FeedStream = new LatestValueStream<FeedValue, FeedUpdate>({
      same: (a, b) => sameIds(a.ids, b.ids),
      merge: (queued, next) =>
        queued.trigger === 'subscribed'
          ? { ...next, trigger: 'subscribed', since: null }
          : { ...next, since: queued.since === null ? next.since : Math.min(queued.since, next.since ?? Infinity) },
      payload: (value, previous) => {
        if (value.since !== null) metrics.feedPushLatency.observe(Math.max(0, clock.now() - value.since));
        metrics.livePushes.inc({ kind: 'feed', trigger: value.trigger });
        if (value.impression) options.logImpression(value.impression, value.feed.items.length);
        return { feed: value.feed, trigger: value.trigger, ...idDiff(previous?.ids ?? [], value.ids) };
      },
      onEnd: () => {
        entry.subscribers.delete(stream);
        subscriptions--;
        countUser(userId, -1);
        metrics.liveSubscriptions.dec({ kind: 'feed' });
        if (entry.subscribers.size === 0 && users.get(userId) === entry) {
          entry.timer?.();
          users.delete(userId);
        }
      },
    });
    return stream;
  }

  /** Registers a feed subscriber for `userId` (identity already checked by the caller). */
  function openFeed(userId: string, first: number): FeedSubscription {
    admit(false, userId);
    let entry = users.get(userId);
    if (!entry) {
      entry = { subscribers: new Map(), dirty: false, since: null, timer: undefined, running: false, lastRankAt: 0 };
      users.set(userId, entry);
    }
    const stream = feedStream(userId, entry);
    entry.subscribers.set(stream, first);
    subscriptions++;
    countUser(userId, 1);
    metrics.liveSubscriptions.inc({ kind: 'feed' });
    return {
      updates: stream,
      initial: (feed) => {
        if (!stream.hasValue)
          stream.offer({ feed, ids: feedIds(feed), trigger: 'subscribed', since: null, impression: null });
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
    entry.running = true;
    entry.lastRankAt = clock.now();
    try {
      const first = Math.max(...entry.subscribers.values());
      const { feed, impression } = await options.rankFeed(userId, first);
      metrics.liveReranks.inc({ outcome: 'ok' });
      for (const [stream, f] of entry.subscribers) {
        if (f > first) {
          // Subscribed with a larger page while this ranking ran: a slice would truncate its feed,
          // so it waits for the next re-rank, which the change it may have missed makes happen.
          entry.dirty = true;
          entry.since ??= since;
          continue;
        }
        const sliced = sliceFeed(feed, f);
        stream.offer({ feed: sliced, ids: feedIds(sliced), trigger: 'behaviour', since, impression });
      }
    } catch (error) {
      metrics.liveReranks.inc({ outcome: 'failed' });
      log.warn({ err: error, userId }, 'a live re-rank failed; subscribers keep their feed until the next change');
    } finally {
      entry.running = false;
      if (entry.dirty && users.get(userId) === entry) schedule(userId, entry);
    }
  }

  function onMessage(channel: string, message: string) {
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
    /** Listens on the channel; ioredis re-subscribes by itself after a reconnect. */
    async start() {
      subscriber.on('message', onMessage);
      await subscriber.subscribe(options.channel);
    },
    /** Ends every live stream (clients see their subscriptions complete) and closes the connection. */
    stop() {
      stopped = true;
      for (const entry of users.values()) {
        entry.timer?.();
        for (const stream of [...entry.subscribers.keys()]) stream.end();
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
  };
}

export type LiveHub = ReturnType<typeof createLiveHub>;
