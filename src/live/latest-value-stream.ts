/**
 * One subscriber's end of a live stream: an async iterator that holds at most ONE undelivered
 * value, the newest. A slow client therefore costs constant memory, and when it catches up it gets
 * the current state instead of a backlog of stale ones. Values that would show the client nothing
 * new (the same list it already has) are dropped here, so "no change" never reaches the socket.
 *
 * An idle subscriber holds only what `remember` keeps of the last value it was handed (the ids it
 * shows, not the feed), and the spec is meant to be shared by every stream of a kind: nothing here
 * is allocated per value or per subscriber beyond the stream object itself.
 *
 * `T` is what is offered, `P` what the client is handed, `D` what is kept of a delivered value to
 * compare the next ones with (by default the value itself).
 */
export interface LatestValueSpec<T extends D, P, D = T> {
  /** True when `next` shows nothing new compared with `previous` (a queued value, or what was kept of a delivered one). */
  same(previous: D, next: T): boolean;
  /** Folds a newer value into one still waiting to be delivered (e.g. keeps the earliest cause). */
  merge?(queued: T, next: T): T;
  /** The payload for `value`, given what was kept of the last one delivered (undefined: nothing yet). */
  payload(value: T, previous: D | undefined): P;
  /** What is kept of a value once delivered, to compare later ones with; defaults to the value itself. */
  remember?(value: T): D;
  /** Called once, when the stream ends: unsubscribe, socket close or server stop. */
  onEnd(stream: LatestValueStream<T, P, D>): void;
}

export class LatestValueStream<T extends D, P, D = T> implements AsyncIterableIterator<P> {
  private queued: T | undefined;
  private delivered: D | undefined;
  private waiter: ((result: IteratorResult<P>) => void) | undefined;
  private offered = false;
  private ended = false;

  constructor(private readonly spec: LatestValueSpec<T, P, D>) {}

  /** True once anything was offered (so a late initial snapshot does not overwrite a newer value). */
  get hasValue(): boolean {
    return this.offered;
  }

  get done(): boolean {
    return this.ended;
  }

  offer(value: T): void {
    if (this.ended) return;
    this.offered = true;
    const base = this.queued ?? this.delivered;
    if (base !== undefined && this.spec.same(base, value)) return;
    this.queued = this.queued !== undefined && this.spec.merge ? this.spec.merge(this.queued, value) : value;
    this.flush();
  }

  next(): Promise<IteratorResult<P>> {
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter) return Promise.reject(new Error('next() called again before the previous value arrived'));
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.flush();
    });
  }

  return(): Promise<IteratorResult<P>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<P>> {
    this.end();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  /** Ends the stream: a pending next() resolves as done, and the owner is told once. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.queued = undefined;
    this.delivered = undefined;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.({ value: undefined, done: true });
    this.spec.onEnd(this);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private flush() {
    const value = this.queued;
    if (!this.waiter || value === undefined) return;
    this.queued = undefined;
    // A → B → A before the client pulled: it already shows A.
    if (this.delivered !== undefined && this.spec.same(this.delivered, value)) return;
    const waiter = this.waiter;
    this.waiter = undefined;
    const payload = this.spec.payload(value, this.delivered);
    this.delivered = this.spec.remember ? this.spec.remember(value) : value;
    waiter({ value: payload, done: false });
  }
}

/** True when both lists hold the same ids in the same order. */
export function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What entered and what left between two id lists (order ignored). */
export function idDiff(previous: readonly string[], next: readonly string[]): { entered: string[]; left: string[] } {
  const before = new Set(previous);
  const after = new Set(next);
  return { entered: next.filter((id) => !before.has(id)), left: previous.filter((id) => !after.has(id)) };
}
