import type { ChannelSubscriber, HubClock } from '../../src/live/hub.js';

interface Timer {
  at: number;
  every: number | null;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when the test says so; timers fire in time order as it passes them. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start;
  let seq = 0;
  const timers = new Set<Timer>();
  const add = (ms: number, every: number | null, fn: () => void) => {
    const timer: Timer = { at: now + Math.max(0, ms), every, seq: seq++, fn };
    timers.add(timer);
    return () => void timers.delete(timer);
  };
  const clock = {
    now: () => now,
    after: (ms, fn) => add(ms, null, fn),
    every: (ms, fn) => add(ms, ms, fn),
  } satisfies HubClock;
  return {
    ...clock,
    /** Timers not yet fired or cancelled. */
    get pending() {
      return timers.size;
    },
    /** Moves time forward by `ms`, firing every timer due on the way at its own time. */
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        let next: Timer | undefined;
        for (const t of timers)
          if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
        if (!next) break;
        now = next.at;
        if (next.every === null) timers.delete(next);
        else Object.assign(next, { at: next.at + next.every, seq: seq++ });
        next.fn();
      }
      now = end;
    },
  };
}
export type ManualClock = ReturnType<typeof manualClock>;

/** In-memory pub/sub standing in for the hub's Redis subscriber: only subscribed channels deliver. */
export function fakeSubscriber() {
  const listeners = new Set<(channel: string, message: string) => void>();
  const channels = new Set<string>();
  let connected = true;
  const subscriber: ChannelSubscriber = {
    on: (_event, listener) => listeners.add(listener),
    off: (_event, listener) => listeners.delete(listener),
    subscribe: async (channel) => {
      channels.add(channel);
      return channels.size;
    },
    disconnect: () => {
      connected = false;
    },
  };
  return {
    subscriber,
    get connected() {
      return connected;
    },
    get listeners() {
      return listeners.size;
    },
    publish(channel: string, message: string) {
      if (!connected || !channels.has(channel)) return;
      for (const listener of [...listeners]) listener(channel, message);
    },
  };
}

/** Lets promise callbacks already queued run (no time passes on any clock). */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
