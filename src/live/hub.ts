/**
 * The live feed's fan-out point on one API instance.
 *
 * ONE Redis connection per instance listens to the stream worker's "user changed" channel (every
 * instance gets every notice; Redis pub/sub is the fan-out across instances). For each notice the
 * hub first drops the users' cached feeds, then looks the users up in an in-memory map
 * userId → local subscribers: users nobody watches here cost one map lookup. A watched user is
 * re-ranked at most once per `pushIntervalMs` (the first change promptly, later ones in the window
 * merged into one re-rank at its end), once per distinct `first`, however many sockets they have
 * open, and each subscriber gets the new feed only if its ordered top N changed.
 *
 * Trending subscriptions (anonymous screens) share one check per scope per `trendingIntervalMs`.
 * Nothing here knows GraphQL: the resolvers turn these streams into subscription fields.
 */
import { decodeUserChanged, type UserChangedNotice } from '../core/user-changed.js';
import { AppError } from '../core/errors.js';
import type { ItemFeatures } from '../features/item-features.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Feed } from '../ranking/ranker.js';
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
  /** Feed subscriptions for one user on this instance, over any number of sockets or SSE streams. */
  maxSubscriptionsPerUser: number;
  /** Called with every user a notice names, before anything is re-ranked (drops cached feeds). */
  onUsersChanged(userIds: readonly string[]): void;
  /** A fresh ranking for one user, with its own loaders; rejects when features cannot be read. */
  rankFeed(userId: string, first: number): Promise<Feed>;
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
  subscribers: Map<TrendingStream, number>;
  /** Cancels the scope's periodic check. */
  timer: CancelTimer;
  running: boolean;
}

const feedIds = (feed: Feed) => feed.items.map((e) => e.item.itemId);

export function createLiveHub(options: LiveHubOptions) {
  const { subscriber, log, metrics, clock = systemClock } = options;
  const users = new Map<string, UserEntry>();
  const scopes = new Map<string, ScopeEntry>();
  let subscriptions = 0;
  let stopped = false;

  function admit() {
    if (stopped) throw new AppError('UNAVAILABLE', 'this instance is shutting down; reconnect', { retryable: true });
    if (subscriptions >= options.maxSubscriptions) {
      metrics.liveRefused.inc({ limit: 'subscriptionsPerInstance' });
      throw new AppError(
        'LIMIT_EXCEEDED',
        `this instance holds its maximum of ${options.maxSubscriptions} live subscriptions; retry (another instance may have room)`,
        { limit: 'subscriptionsPerInstance', max: options.maxSubscriptions, retryable: true },
      );
    }
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
        return { feed: value.feed, trigger: value.trigger, ...idDiff(previous?.ids ?? [], value.ids) };
      },
      onEnd: () => {
        entry.subscribers.delete(stream);
        subscriptions--;
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
    admit();
    let entry = users.get(userId);
    if (entry && entry.subscribers.size >= options.maxSubscriptionsPerUser) {
      metrics.liveRefused.inc({ limit: 'subscriptionsPerUser' });
      throw new AppError('LIMIT_EXCEEDED', `at most ${options.maxSubscriptionsPerUser} live feeds per user`, {
        limit: 'subscriptionsPerUser',
        max: options.maxSubscriptionsPerUser,
      });
    }
    if (!entry) {
      entry = { subscribers: new Map(), dirty: false, since: null, timer: undefined, running: false, lastRankAt: 0 };
      users.set(userId, entry);
    }
    const stream = feedStream(userId, entry);
    entry.subscribers.set(stream, first);
    subscriptions++;
    metrics.liveSubscriptions.inc({ kind: 'feed' });
    return {
      updates: stream,
      initial: (feed) => {
        if (!stream.hasValue) stream.offer({ feed, ids: feedIds(feed), trigger: 'subscribed', since: null });
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

  /** One re-rank per distinct `first` among the user's subscribers; offered to each of them. */
  async function rerank(userId: string, entry: UserEntry) {
    if (!entry.dirty || stopped || users.get(userId) !== entry) return;
    entry.dirty = false;
    const since = entry.since;
    entry.since = null;
    entry.running = true;
    entry.lastRankAt = clock.now();
    try {
      for (const first of new Set(entry.subscribers.values())) {
        const feed = await options.rankFeed(userId, first);
        metrics.liveReranks.inc({ outcome: 'ok' });
        const value: FeedValue = { feed, ids: feedIds(feed), trigger: 'behaviour', since };
        for (const [stream, f] of entry.subscribers) if (f === first) stream.offer(value);
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
      const list = await options.readTrending(entry.category, Math.max(...entry.subscribers.values()));
      for (const [stream, first] of entry.subscribers) {
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
  function openTrending(category: string | null, first: number): TrendingSubscription {
    admit();
    const key = category ?? '';
    let entry = scopes.get(key);
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
        metrics.liveSubscriptions.dec({ kind: 'trending' });
        if (scope.subscribers.size === 0 && scopes.get(key) === scope) {
          scope.timer();
          scopes.delete(key);
        }
      },
    });
    scope.subscribers.set(stream, first);
    subscriptions++;
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
