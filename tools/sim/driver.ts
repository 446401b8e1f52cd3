/**
 * Drives a running API over GraphQL with simulated users: publishes the catalogue and declared
 * interests, then runs sessions (ask a ranker for a list, sample what the user does, record it
 * with `recordInteractions`) at a target rate until a count or a duration is reached. It talks to
 * the API only through its public mutations, so what it exercises is exactly what clients do.
 */
import { randomBytes } from 'node:crypto';
import {
  ApiError,
  createApiClient,
  RecordInteractionsDocument,
  UpdateUserProfileDocument,
  UpsertItemsDocument,
  type ApiClient,
} from '../../src/client/index.js';
import type { Action } from '../../src/core/events.js';
import { createPopulation, sampleBehaviour, startSession, type Population, type UserState } from './behaviour.js';
import type { Ranker } from './policies.js';
import { createRng } from '../../src/core/random.js';
import { catalogueInputs, profileInputs, type ProfileInput, type SimUser, type World } from './world.js';

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/**
 * The API client for simulated load. Only loopback addresses are accepted: the simulator
 * generates load and fake users, which belong on a local stack, never on a shared deployment.
 */
export function localApiClient(url: string, headers: Record<string, string> = {}, timeoutMs = 30_000): ApiClient {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`not a URL: ${url}`);
  }
  if (!LOOPBACK.test(parsed.hostname))
    throw new RangeError(`the simulator only drives a local API (127.0.0.1, localhost or [::1]), not ${parsed.host}`);
  return createApiClient(url, { headers, timeoutMs });
}

/** The API's limit on entries per `recordInteractions` / `upsertItems`. */
export const MAX_BATCH = 500;

/** One event the API accepted. */
export interface SentEvent {
  eventId: string;
  userId: string;
  itemId: string;
  action: Action;
  /** Event time, epoch ms. */
  occurredAt: number;
}

export type StopReason = 'maxEvents' | 'maxDuration' | 'aborted' | 'unreachable';

export interface DriveProgress {
  elapsedMs: number;
  eventsSent: number;
  eventsFailed: number;
  /** Events accepted per second since the sessions started. */
  achievedRate: number;
  steps: number;
  activeSessions: number;
  arrivedUsers: number;
  /** Clicks per examined item, as sampled. */
  simulatedCtr: number;
  /**
   * Failures by `extensions.code` (or UNREACHABLE / TIMEOUT / HTTP_<status>): events for a failed
   * `recordInteractions` (per attempt) or a rejected entry, requests for profiles and ranker calls.
   */
  errors: Record<string, number>;
}

export interface DriveStats extends DriveProgress {
  itemsPublished: number;
  profilesPublished: number;
  sessions: number;
  requests: number;
  stopReason: StopReason;
}

export interface DriveOptions {
  /** The API's GraphQL endpoint (loopback only) or a client for it. */
  api: string | ApiClient;
  /** Sent with every request, e.g. `{ authorization: 'Bearer …' }` for a service token. */
  headers?: Record<string, string>;
  world: World;
  /** The users' latent state; pass the one an oracle ranker reads. Defaults to a fresh one. */
  population?: Population;
  ranker: Ranker;
  /** Target events per second. */
  rate?: number;
  /** Stop after this many events (default: rate × duration). */
  maxEvents?: number;
  /** Stop after this long, counted from the first session. */
  maxDurationMs?: number;
  /** Length of each list asked for. */
  first?: number;
  /** Mean steps (lists) per session; lengths are geometric. */
  stepsPerSession?: number;
  /** Users in a session at the same time (each takes at most one step per tick). */
  concurrentSessions?: number;
  /** Pacing interval. */
  tickMs?: number;
  /** Attempts for an event whose request failed with a retryable code (same eventId each time). */
  maxAttempts?: number;
  /** Called once the catalogue and profiles are durable, before any behaviour is sent. */
  afterPublish?: () => Promise<void>;
  /** Called with each batch of accepted events. */
  onEvents?: (events: SentEvent[]) => void;
  onProgress?: (progress: DriveProgress) => void;
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

interface Queued {
  event: SentEvent;
  attempts: number;
}

interface ActiveSession {
  state: UserState;
  remaining: number;
}

/** Splits a list into chunks of at most `size`. */
const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

const wait = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Publishes the world, then simulates sessions against the API until `maxEvents` or
 * `maxDurationMs`, whichever comes first, and reports what happened. Throws an ApiError when the
 * catalogue cannot be published (nothing else makes sense without it); later failures are counted
 * in `errors` by code, and an unreachable API ends the run with `stopReason: 'unreachable'`.
 */
export async function drive(options: DriveOptions): Promise<DriveStats> {
  const { world, ranker } = options;
  const client = typeof options.api === 'string' ? localApiClient(options.api, options.headers) : options.api;
  const population = options.population ?? createPopulation(world);
  const rate = options.rate ?? 200;
  const maxDurationMs = options.maxDurationMs ?? 60_000;
  const maxEvents = options.maxEvents ?? Math.ceil((rate * maxDurationMs) / 1000);
  const first = options.first ?? 20;
  const meanSteps = Math.max(1, options.stepsPerSession ?? 8);
  const concurrent = Math.max(
    1,
    options.concurrentSessions ?? Math.min(world.users.length, Math.max(4, Math.ceil(world.users.length / 4))),
  );
  const tickMs = options.tickMs ?? 100;
  const maxAttempts = options.maxAttempts ?? 3;
  const progressIntervalMs = options.progressIntervalMs ?? 1000;
  const signal = options.signal;

  const errors: Record<string, number> = {};
  const countError = (code: string, n = 1) => (errors[code] = (errors[code] ?? 0) + n);
  let requests = 0;

  // Catalogue first, so events find their items' categories; then the interests established
  // users declared earlier. New users declare theirs when they arrive.
  const now = Date.now();
  let itemsPublished = 0;
  for (const batch of chunks(catalogueInputs(world, now), MAX_BATCH)) {
    requests++;
    await client.request(UpsertItemsDocument, { inputs: batch });
    itemsPublished += batch.length;
  }
  let unreachable = false;
  const publishProfiles = async (profiles: ProfileInput[]) => {
    let published = 0;
    for (const group of chunks(profiles, 8)) {
      await Promise.all(
        group.map(async (input) => {
          requests++;
          try {
            await client.request(UpdateUserProfileDocument, { input });
            published++;
          } catch (error) {
            if (!(error instanceof ApiError)) throw error;
            countError(error.code);
            if (error.code === 'UNREACHABLE') unreachable = true;
          }
        }),
      );
    }
    return published;
  };
  const established = world.users.filter((u) => u.arrival === 0);
  let profilesPublished = await publishProfiles(profileInputs(world, established));
  await options.afterPublish?.();

  // Sessions.
  const runId = `sim${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  let sequence = 0;
  const scheduleRng = createRng(world.seed, 'schedule');
  const waiting = world.users.filter((u) => u.arrival > 0).sort((a, b) => a.arrival - b.arrival);
  const idle: SimUser[] = [...established];
  let arrivedUsers = established.length;
  const active: ActiveSession[] = [];
  let sessions = 0;
  let steps = 0;
  let clicks = 0;
  let examined = 0;
  let generated = 0;
  let eventsSent = 0;
  let eventsFailed = 0;
  const queue: Queued[] = [];
  const started = Date.now();
  const deadline = started + maxDurationMs;

  const sessionLength = (state: UserState) => {
    const u = createRng(world.seed, 'session-length', state.user.id, state.session).next();
    const p = 1 / meanSteps;
    return p >= 1 ? 1 : Math.max(1, Math.ceil(Math.log(1 - u) / Math.log(1 - p)));
  };
  const fillSessions = () => {
    while (active.length < concurrent && idle.length > 0) {
      const i = scheduleRng.categorical(idle.map((u) => u.activity));
      const [user] = idle.splice(i, 1);
      if (!user) break;
      const state = population.state(user.id);
      startSession(state);
      sessions++;
      active.push({ state, remaining: sessionLength(state) });
    }
  };
  const progress = (): DriveProgress => {
    const elapsedMs = Date.now() - started;
    return {
      elapsedMs,
      eventsSent,
      eventsFailed,
      achievedRate: elapsedMs > 0 ? (eventsSent * 1000) / elapsedMs : 0,
      steps,
      activeSessions: active.length,
      arrivedUsers,
      simulatedCtr: examined > 0 ? clicks / examined : 0,
      errors: { ...errors },
    };
  };

  /** One step of one session; null when the ranker failed (counted, and the session moves on). */
  const runStep = async (session: ActiveSession) => {
    let list: string[];
    try {
      list = await ranker(session.state.user.id, first);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      countError(error.code);
      if (error.code === 'UNREACHABLE') unreachable = true;
      return null;
    }
    return sampleBehaviour(session.state, list);
  };

  const send = async (batch: Queued[]) => {
    requests++;
    try {
      const data = await client.request(RecordInteractionsDocument, {
        inputs: batch.map(({ event }) => ({ ...event, occurredAt: new Date(event.occurredAt).toISOString() })),
      });
      const accepted: SentEvent[] = [];
      batch.forEach((queued, i) => {
        const error = data.recordInteractions.results[i]?.error;
        if (error) {
          countError(error.code);
          eventsFailed++;
        } else accepted.push(queued.event);
      });
      eventsSent += accepted.length;
      if (accepted.length > 0) options.onEvents?.(accepted);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      countError(error.code, batch.length);
      if (error.code === 'UNREACHABLE') unreachable = true;
      const retry = error.retryable ? batch.filter((q) => q.attempts < maxAttempts) : [];
      eventsFailed += batch.length - retry.length;
      // Retried with the same eventIds, so an attempt that did land is counted once.
      queue.unshift(...retry.map((q) => ({ ...q, attempts: q.attempts + 1 })));
    }
  };

  let stopReason: StopReason = 'maxDuration';
  let lastProgress = started;
  for (let tick = 1; ; tick++) {
    if (signal?.aborted) {
      stopReason = 'aborted';
      break;
    }
    if (unreachable) {
      stopReason = 'unreachable';
      break;
    }
    const t = Date.now();
    if (t >= deadline) break;
    if (generated >= maxEvents && queue.length === 0) {
      stopReason = 'maxEvents';
      break;
    }

    // New users sign up once the run is far enough along, declaring their interests first.
    const along = Math.max((t - started) / maxDurationMs, generated / maxEvents);
    const arriving: SimUser[] = [];
    while (waiting.length > 0 && (waiting[0]?.arrival ?? 1) <= along) {
      const user = waiting.shift();
      if (user) arriving.push(user);
    }
    if (arriving.length > 0) {
      profilesPublished += await publishProfiles(profileInputs(world, arriving));
      idle.push(...arriving);
      arrivedUsers += arriving.length;
    }
    fillSessions();

    // Enough steps to reach the events due by the end of this tick; each session at most once.
    const due = Math.min(maxEvents, Math.ceil((rate * (t - started + tickMs)) / 1000));
    const turn = [...active];
    while (generated < due && turn.length > 0) {
      const group = turn.splice(0, 8);
      const outcomes = await Promise.all(group.map(runStep));
      const stepTime = Date.now();
      group.forEach((session, g) => {
        const outcome = outcomes[g];
        session.remaining--;
        if (!outcome) return;
        steps++;
        clicks += outcome.clicks;
        examined += outcome.examined;
        for (const [i, e] of outcome.events.entries()) {
          if (generated >= maxEvents) break;
          generated++;
          queue.push({
            event: {
              eventId: `${runId}-${(sequence++).toString(36)}`,
              userId: e.userId,
              itemId: e.itemId,
              action: e.action,
              occurredAt: stepTime + i,
            },
            attempts: 1,
          });
        }
      });
      for (let i = active.length - 1; i >= 0; i--) {
        const session = active[i];
        if (session && session.remaining <= 0) {
          active.splice(i, 1);
          idle.push(session.state.user);
        }
      }
    }
    // Sessions that ended this tick make room for others at the next.
    fillSessions();

    // Retries first: they are the oldest events.
    const pending = queue.splice(0, queue.length);
    for (const batch of chunks(pending, MAX_BATCH)) {
      if (unreachable) {
        eventsFailed += batch.length;
        continue;
      }
      await send(batch);
    }

    if (options.onProgress && Date.now() - lastProgress >= progressIntervalMs) {
      lastProgress = Date.now();
      options.onProgress(progress());
    }
    await wait(started + tick * tickMs - Date.now(), signal);
  }

  eventsFailed += queue.length;
  return { ...progress(), itemsPublished, profilesPublished, sessions, requests, stopReason };
}
