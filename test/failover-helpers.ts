/**
 * What the failover tests share: behaviour sent through the API while something dies, and the check
 * that every acknowledged event counted exactly once in the items' totals.
 */
import { isDeepStrictEqual } from 'node:util';
import { expect } from 'vitest';
import type { App } from '../src/app.js';
import { RecordInteractionCountsDocument, type InteractionInput } from '../src/client/index.js';
import { ACTIONS } from '../src/core/events.js';
import { readItemFeaturesBatch } from '../src/features/item-features.js';
import { CATALOGUE, eventually, gql, streamCaughtUp } from './helpers.js';

export type Totals = Map<string, Record<string, number>>;

/** Each catalogue item's action totals, keyed by item id. */
export async function itemTotals(app: App): Promise<Totals> {
  const { redis, keys } = app.services;
  const ids = CATALOGUE.map((c) => c.id);
  const items = await readItemFeaturesBatch(redis, keys, ids, Date.now());
  return new Map(items.map((it, i) => [ids[i]!, { ...it.totals }]));
}

const tally = (m: Totals) => [...m.values()].reduce((n, t) => n + Object.values(t).reduce((a, b) => a + b, 0), 0);

/**
 * Sends batches of 40 events, one per new user (so no per-user cap or dedupe applies and every
 * acknowledged event must count), each with its own eventId, until `untilMs` after the start.
 * A batch the API answers with UNAVAILABLE is sent again, unchanged, as a client would: the
 * eventIds make a copy that did land count once. Any other error fails the test.
 */
export async function sendUniqueEvents(app: App, name: string, untilMs: number) {
  const sent: InteractionInput[] = [];
  let retries = 0;
  let next = 0;
  const started = performance.now();
  while (performance.now() - started < untilMs) {
    const batch: InteractionInput[] = Array.from({ length: 40 }, () => {
      const i = next++;
      return {
        eventId: `${name}-e${i}`,
        userId: `${name}-u${i}`,
        itemId: CATALOGUE[(i * 5) % CATALOGUE.length]!.id,
        action: ACTIONS[i % ACTIONS.length]!,
      };
    });
    for (;;) {
      const res = await gql(app.url, RecordInteractionCountsDocument, { inputs: batch });
      if (res.errors?.length && res.errors.every((e) => e.extensions?.code === 'UNAVAILABLE')) {
        retries++;
        continue;
      }
      expect(res.errors).toBeUndefined();
      expect(res.data?.recordInteractions.rejectedCount).toBe(0);
      break;
    }
    sent.push(...batch);
  }
  return { sent, retries };
}

/** Waits until the items' totals are `base` plus one count per sent event, and says what differs if they never are. */
export async function expectEachEventCountedOnce(app: App, base: Totals, sent: readonly InteractionInput[]) {
  const expected: Totals = new Map([...base].map(([id, totals]) => [id, { ...totals }]));
  for (const e of sent) {
    const totals = expected.get(e.itemId)!;
    totals[e.action] = (totals[e.action] ?? 0) + 1;
  }
  const settled = await eventually(
    async () => {
      await streamCaughtUp(app);
      const now = await itemTotals(app);
      return isDeepStrictEqual(now, expected) ? now : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  ).catch(async (error: unknown) => {
    const now = await itemTotals(app).catch((): Totals => new Map());
    throw new Error(`item totals ${tally(now)}, expected ${tally(expected)} (${sent.length} sent)`, { cause: error });
  });
  expect(tally(settled)).toBe(tally(base) + sent.length);
}
