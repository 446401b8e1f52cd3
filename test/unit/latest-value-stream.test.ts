import { describe, expect, it } from 'vitest';
import { idDiff, LatestValueStream, sameIds } from '../../src/live/latest-value-stream.js';
import { randomSource } from '../../src/core/random.js';

/** A stream of id lists whose payload records what the client saw before. */
function stream(merge?: (queued: string[], next: string[]) => string[]) {
  let ended = 0;
  const s = new LatestValueStream<string[], { ids: string[]; previous: string[] | undefined }>({
    same: sameIds,
    merge,
    payload: (ids, previous) => ({ ids, previous }),
    onEnd: () => ended++,
  });
  return { s, ended: () => ended };
}
type Stream = ReturnType<typeof stream>['s'];

describe('one subscriber end of a live stream', () => {
  it('a slow client gets only the newest value, never a backlog', async () => {
    const { s } = stream();
    s.offer(['a']);
    s.offer(['b']);
    s.offer(['c']);
    expect((await s.next()).value).toEqual({ ids: ['c'], previous: undefined });
    s.offer(['d']);
    expect((await s.next()).value).toEqual({ ids: ['d'], previous: ['c'] });
  });

  it('a value showing nothing new is never delivered, including A → B → A before the client pulled', async () => {
    const { s } = stream();
    s.offer(['a']);
    await s.next();
    s.offer(['a']);
    s.offer(['b']);
    s.offer(['a']);
    const pending = s.next();
    let settled = false;
    void pending.then(() => (settled = true));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    s.offer(['c']);
    expect((await pending).value).toEqual({ ids: ['c'], previous: ['a'] });
  });

  it('folds a newer value into the one still waiting with `merge`', async () => {
    const { s } = stream((queued, next) => [...queued, ...next]);
    s.offer(['a']);
    s.offer(['b']);
    expect(await s.next()).toEqual({ done: false, value: { ids: ['a', 'b'], previous: undefined } });
  });

  it('a waiting client is answered by the next offer', async () => {
    const { s } = stream();
    const pending = s.next();
    s.offer(['x']);
    expect(await pending).toEqual({ done: false, value: { ids: ['x'], previous: undefined } });
    expect(s.hasValue).toBe(true);
  });

  it('refuses a second pull while one is waiting', async () => {
    const { s } = stream();
    const first = s.next();
    await expect(s.next()).rejects.toThrow(/called again/);
    s.offer(['x']);
    await first;
  });

  it('ends once, however it ends: a waiting pull completes and later offers are dropped', async () => {
    for (const close of [
      (s: Stream) => s.end(),
      (s: Stream) => void s.return(),
      (s: Stream) => void s.throw(new Error('socket closed')).catch(() => undefined),
    ]) {
      const { s, ended } = stream();
      const pending = s.next();
      close(s);
      close(s);
      expect(await pending).toEqual({ done: true, value: undefined });
      s.offer(['late']);
      expect(await s.next()).toEqual({ done: true, value: undefined });
      expect(s.done).toBe(true);
      expect(ended()).toBe(1);
    }
  });

  it('sameIds and idDiff agree with a brute-force comparison', () => {
    const rng = randomSource(7);
    const list = () => {
      const ids = Array.from({ length: Math.floor(rng() * 6) }, () => `i${Math.floor(rng() * 8)}`);
      return [...new Set(ids)];
    };
    for (let trial = 0; trial < 500; trial++) {
      const a = list();
      const b = rng() < 0.3 ? [...a] : list();
      expect(sameIds(a, b)).toBe(JSON.stringify(a) === JSON.stringify(b));
      const { entered, left } = idDiff(a, b);
      expect(entered).toEqual(b.filter((id) => !a.includes(id)));
      expect(left).toEqual(a.filter((id) => !b.includes(id)));
      // Applying the diff to the old set gives the new one.
      expect(new Set([...a.filter((id) => !left.includes(id)), ...entered])).toEqual(new Set(b));
    }
  });
});
