/**
 * The subscribers of the `live` bench group, in a process of their own (spawned by
 * `bench/scenarios/live.ts` with an IPC channel): thousands of graphql-ws sockets then share the
 * event loop of neither the service nor the bench process that sends the events and times them.
 *
 * Over IPC the parent sends `open` (who to subscribe) and later `close`; this process answers with
 * every payload it receives (`push`, stamped on arrival with the machine's clock, so the parent can
 * subtract its own send times), every failed subscription (`failed`), progress while subscribing,
 * and `closed` once every socket it opened is closed again. It exits after that, or when the
 * parent goes away.
 */
import { createLiveClient, FeedUpdatedDocument, type LiveClient } from '../src/client/index.js';

export interface OpenCommand {
  type: 'open';
  /** The service's GraphQL endpoint (http://…); the WebSocket endpoint is the same path. */
  url: string;
  users: string[];
  first: number;
  /** Subscriptions per socket (the service allows 10). */
  perSocket: number;
  /** Subscriptions allowed to wait for their first payload at once, so set-up does not flood the service. */
  inFlight: number;
}

/** `stop`: subscribe no one else (set-up ran out of time); `close`: close everything and exit. */
export type ParentMessage = OpenCommand | { type: 'stop' } | { type: 'close' };

export type ChildMessage =
  | { type: 'push'; user: string; trigger: string; at: number; computedAt: number; categories: string[] }
  | { type: 'failed'; user: string; message: string }
  | { type: 'progress'; sockets: number; subscribed: number }
  | { type: 'closed'; opened: number; closed: number };

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/** Wall-clock ms with sub-ms resolution, comparable across processes on this machine. */
const now = () => performance.timeOrigin + performance.now();

const send = (message: ChildMessage) => {
  if (process.connected) process.send?.(message);
};

/** Why a subscription ended: a close event, GraphQL errors or anything else graphql-ws hands over. */
function describe(error: unknown): string {
  if (Array.isArray(error)) return error.map((e: { message?: string }) => e.message ?? JSON.stringify(e)).join('; ');
  if (typeof error === 'object' && error !== null && 'code' in error)
    return `socket closed ${String(error.code)} ${'reason' in error ? String(error.reason) : ''}`.trim();
  return error instanceof Error ? error.message : String(error);
}

const clients: LiveClient[] = [];
let opened = 0;
let closed = 0;
let closing = false;
let stopped = false;

async function open(command: OpenCommand) {
  const target = new URL(command.url);
  if (!LOOPBACK.test(target.hostname)) throw new RangeError(`only a local service is driven, not ${target.host}`);
  let subscribed = 0;
  let waiting = 0;
  const slots: (() => void)[] = [];
  const acquire = () =>
    waiting < command.inFlight ? (waiting++, Promise.resolve()) : new Promise<void>((r) => slots.push(r));
  const release = () => {
    const next = slots.shift();
    if (next) next();
    else waiting--;
  };
  const progress = setInterval(() => send({ type: 'progress', sockets: opened, subscribed }), 1000);
  const all: Promise<void>[] = [];
  for (let i = 0; i < command.users.length && !stopped; i += command.perSocket) {
    // No reconnects: a dropped socket must show as failed subscriptions, not be repaired behind the numbers.
    const client = createLiveClient(command.url, { retryAttempts: 0 });
    client.on('connected', () => opened++);
    client.on('closed', () => closed++);
    clients.push(client);
    for (const user of command.users.slice(i, i + command.perSocket)) {
      await acquire();
      if (stopped) break;
      all.push(
        new Promise<void>((settled) => {
          let first = true;
          const done = () => {
            if (!first) return;
            first = false;
            release();
            settled();
          };
          client.subscribe(
            FeedUpdatedDocument,
            { userId: user, first: command.first },
            {
              next: (result) => {
                const at = now();
                const update = result.data?.feedUpdated;
                if (!update) send({ type: 'failed', user, message: describe(result.errors ?? 'no data') });
                else {
                  if (first) subscribed++;
                  send({
                    type: 'push',
                    user,
                    trigger: update.trigger ?? '',
                    at,
                    computedAt: Date.parse(String(update.feed.computedAt)),
                    categories: update.feed.items.map((e) => e.item.category ?? ''),
                  });
                }
                done();
              },
              error: (error) => {
                if (!closing) send({ type: 'failed', user, message: describe(error) });
                done();
              },
              complete: done,
            },
          );
        }),
      );
    }
  }
  await Promise.all(all);
  clearInterval(progress);
  send({ type: 'progress', sockets: opened, subscribed });
}

/** Closes every socket, waits (bounded) until each reported closed, tells the parent and exits. */
async function close() {
  if (closing) return;
  closing = true;
  stopped = true;
  await Promise.all(clients.map(async (c) => c.dispose()));
  const deadline = Date.now() + 10_000;
  while (closed < opened && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  send({ type: 'closed', opened, closed });
  process.disconnect?.();
  process.exit(0);
}

if (!process.send) throw new Error('bench/live-clients.ts runs as a child of the bench, with an IPC channel');
process.on('message', (message: ParentMessage) => {
  if (message.type === 'open')
    open(message).catch((error: unknown) => {
      send({ type: 'failed', user: '', message: describe(error) });
    });
  else if (message.type === 'stop') stopped = true;
  else void close();
});
// The bench went away: leave nothing open behind it.
process.on('disconnect', () => void close());
