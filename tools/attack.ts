/**
 * `npm run attack -- [--url http://127.0.0.1:4000/graphql]`: probes a running service as a hostile
 * client would (anonymous callers and one ordinary user) and checks that it holds: `/metrics`
 * stays small, memory grows little per probe, one user cannot put an uncatalogued id into trending
 * or into anyone's feed, anonymous subscribers cannot take the signed-in users' slots, one user's
 * many subscriptions cost one ranking per change, and the experiment bookkeeping per user stays
 * bounded. Needs the service's JWT_SECRET (auth on) to act as users; REDIS_URL and
 * REDIS_KEY_PREFIX for the bookkeeping probe. Exits 1 when a check fails. Run it against a test
 * instance: it writes events and items.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { signToken } from '../src/auth/tokens.js';
import {
  createApiClient,
  createLiveClient,
  executeText,
  FeedUpdatedDocument,
  RecommendationsDocument,
  RecordInteractionCountsDocument,
  TrendingDocument,
  TrendingUpdatedDocument,
  UpsertItemsDocument,
  type ApiClient,
  type LiveClient,
  type TypedDocumentNode,
} from '../src/client/index.js';
import { redisKeys } from '../src/core/keys.js';
import { failWith, loadConfigOrExit } from './cli.js';
import { metricSum, metricsText } from '../bench/observe.js';
import { sleep } from '../bench/types.js';

const fail = failWith('feedrec attack');
const config = loadConfigOrExit('feedrec attack');
const { values } = parseArgs({
  options: { url: { type: 'string', default: 'http://127.0.0.1:4000/graphql' }, only: { type: 'string' } },
});
const only = values.only?.split(',');
const want = (probe: string) => !only || only.includes(probe);
const url = values.url;
const secret = config.auth.jwtSecret ?? fail("set JWT_SECRET to the service's secret: the probes act as users");
const MB = 1024 * 1024;
const run = randomUUID().slice(0, 8);

const tokenFor = (sub: string | undefined, role: 'user' | 'service') =>
  signToken(secret, { sub, role, ttlSeconds: 3600, issuer: config.auth.issuer, audience: config.auth.audience });
const clientAs = async (sub: string | undefined, role: 'user' | 'service'): Promise<ApiClient> =>
  createApiClient(url, { headers: { authorization: `Bearer ${await tokenFor(sub, role)}` }, timeoutMs: 30_000 });

/** The service's resident memory, from its own process metrics. */
async function rssBytes(): Promise<number> {
  return metricSum(await metricsText(url), 'process_resident_memory_bytes');
}
/** Runs `task(i)` for i < n with `width` in flight. */
async function pool(n: number, width: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await task(next++).catch(() => undefined);
    }),
  );
}

interface Outcome {
  probe: string;
  ok: boolean;
  detail: string;
}
const outcomes: Outcome[] = [];
const report = (probe: string, ok: boolean, detail: string) => {
  outcomes.push({ probe, ok, detail });
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${probe}: ${detail}\n`);
};
/** Runs a probe and checks the service's memory growth across it. */
async function withMemory(probe: string, body: () => Promise<string>) {
  const before = await rssBytes();
  const detail = await body();
  await sleep(1000);
  const grown = (await rssBytes()) - before;
  report(`${probe}: memory`, grown < 100 * MB, `RSS ${(grown / MB).toFixed(1)} MB more (limit 100 MB); ${detail}`);
}

const user = await clientAs(`attacker-${run}`, 'user');
const anonymous = createApiClient(url, { timeoutMs: 30_000 });

// 2. Caches keyed by input: one user's distinct exclude lists, anonymous distinct trending scopes.
if (want('2')) {
  await withMemory('2 feed cache', async () => {
    await pool(400, 4, (i) =>
      user.execute(RecommendationsDocument, {
        first: 20,
        exclude: Array.from({ length: 500 }, (_, k) => `x${run}.${i}.${k}`),
      }),
    );
    return "one user's 400 feeds, each with a distinct 500-id exclude list";
  });
  await withMemory('2 trending cache', async () => {
    await pool(20_000, 16, (i) =>
      anonymous.execute(TrendingDocument, { category: `c${run}${i}`, first: 1 + (i % 50) }),
    );
    return '20,000 anonymous trending queries over distinct scopes';
  });
}

// 1. Operation names as metric labels.
if (want('1')) {
  await withMemory('1 operation names', async () => {
    const filler = 'A'.repeat(50_000);
    await pool(400, 8, (i) => executeText(url, `query N${i}${filler} { __typename }`));
    const size = Buffer.byteLength(await metricsText(url));
    report('1 operation names: /metrics size', size < MB, `${(size / 1024).toFixed(0)} KB (limit 1 MB)`);
    return '400 anonymous queries with 50 KB names';
  });
}

// 3. Poisoning: one user's 2,000 SHAREs of an id nobody published, beside real items that a few
// real users engage with (so that trending and the newcomer's feed are not empty).
if (want('3')) {
  const fake = `promo.evil${run}`;
  const real = Array.from({ length: 20 }, (_, i) => ({ id: `real-${run}-${i}`, category: 'attack-real', tags: [] }));
  await (await clientAs(undefined, 'service')).execute(UpsertItemsDocument, { inputs: real });
  await sleep(2000);
  for (let u = 0; u < 5; u++) {
    const fan = await clientAs(`reader-${run}-${u}`, 'user');
    const inputs = real.slice(0, 10).map((item) => ({ itemId: item.id, action: 'LIKE' as const }));
    await fan.execute(RecordInteractionCountsDocument, { inputs });
  }
  let accepted = 0;
  for (let sent = 0; sent < 2000; sent += 100) {
    const inputs = Array.from({ length: 100 }, () => ({ itemId: fake, action: 'SHARE' as const }));
    const answer = await user.execute(RecordInteractionCountsDocument, { inputs });
    accepted += answer.data?.recordInteractions.acceptedCount ?? 0;
    await sleep(500);
  }
  await sleep(3000);
  const trending = (await anonymous.execute(TrendingDocument, { first: 50 })).data?.trending ?? [];
  report(
    '3 poisoning: trending',
    trending.length > 0 && !trending.some((t) => t.id === fake),
    `${accepted} SHAREs accepted; ${fake} ${trending.some((t) => t.id === fake) ? 'IS' : 'is not'} in trending of ${trending.length}`,
  );
  const newcomer = await clientAs(`newcomer-${run}`, 'user');
  const feed = (await newcomer.execute(RecommendationsDocument, { first: 50 })).data?.recommendations.items ?? [];
  report(
    '3 poisoning: new user feed',
    feed.length > 0 && !feed.some((e) => e.item.id === fake),
    `${fake} ${feed.some((e) => e.item.id === fake) ? 'IS' : 'is not'} in a new user's feed of ${feed.length}`,
  );
}

/** Subscribes; true at its first payload, false on an error, on completion or after `timeoutMs`. */
function opens<TResult, TVariables>(
  client: LiveClient,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    client.subscribe(document, variables, {
      next: () => resolve(true),
      error: () => resolve(false),
      complete: () => resolve(false),
    });
    setTimeout(() => resolve(false), timeoutMs);
  });
}

const count = (outcomes: boolean[]) => outcomes.filter(Boolean).length;

// 4. Anonymous subscriptions must not take the signed-in users' slots.
if (want('4')) {
  // More than the instance's 10,000 subscriptions, over 20 categories (10 per socket, the per-socket limit).
  const anonymousSockets = Array.from({ length: 1100 }, () => createLiveClient(url));
  const anonymousOpen = count(
    await Promise.all(
      anonymousSockets.flatMap((socket, s) =>
        Array.from({ length: 10 }, (_, k) =>
          opens(socket, TrendingUpdatedDocument, { category: `s${run}.${(s * 10 + k) % 20}`, first: 10 }, 10_000),
        ),
      ),
    ),
  );
  const signedIn = createLiveClient(url, {
    connectionParams: { authorization: `Bearer ${await tokenFor(`watcher-${run}`, 'user')}` },
  });
  const firstFeed = await new Promise<string>((resolve) => {
    signedIn.subscribe(
      FeedUpdatedDocument,
      { first: 10 },
      {
        next: (r) => resolve(r.data ? 'delivered' : `error: ${JSON.stringify(r.errors)}`),
        error: (e) => resolve(`error: ${e instanceof Error ? e.message : JSON.stringify(e)}`),
        complete: () => resolve('completed without a feed'),
      },
    );
    setTimeout(() => resolve('no feed within 15 s'), 15_000);
  });
  report(
    '4 anonymous subscriptions',
    firstFeed === 'delivered',
    `${anonymousOpen} of 11,000 anonymous trending subscriptions opened; a signed-in feedUpdated: ${firstFeed}`,
  );
  await Promise.all(anonymousSockets.map((s) => s.dispose()));
}

// 5. One user's subscriptions for first = 1..50: one ranking per change, impressions only for what is delivered.
if (want('5')) {
  const service = await clientAs(undefined, 'service');
  const item = `attack-item-${run}`;
  await service.execute(UpsertItemsDocument, { inputs: [{ id: item, category: 'attack', tags: [] }] });
  const fan = `fan-${run}`;
  const fanToken = await tokenFor(fan, 'user');
  const fanSockets = Array.from({ length: 5 }, () =>
    createLiveClient(url, { connectionParams: { authorization: `Bearer ${fanToken}` } }),
  );
  const opened = count(
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => opens(fanSockets[i % 5]!, FeedUpdatedDocument, { first: i + 1 }, 15_000)),
    ),
  );
  await sleep(1000);
  const beforeChange = await metricsText(url);
  const fanClient = createApiClient(url, { headers: { authorization: `Bearer ${fanToken}` } });
  await fanClient.execute(RecordInteractionCountsDocument, { inputs: [{ itemId: item, action: 'LIKE' }] });
  await sleep(3000);
  const afterChange = await metricsText(url);
  const reranks = metricSum(afterChange, 'live_reranks_total') - metricSum(beforeChange, 'live_reranks_total');
  const impressions =
    metricSum(afterChange, 'impressions_logged_total') - metricSum(beforeChange, 'impressions_logged_total');
  report(
    '5 re-rank amplification',
    reranks <= 2,
    `${opened} subscriptions with first 1..50; one LIKE made ${reranks} live re-ranks and ${impressions} impressions`,
  );
  await Promise.all(fanSockets.map((s) => s.dispose()));
}

// 6. Experiment bookkeeping per user with arbitrary candidates.
if (want('6')) {
  if (config.redis.url) {
    // Catalogued candidates (uncatalogued ones are never shown, so they would prove nothing).
    const service = await clientAs(undefined, 'service');
    const catalogue = Array.from({ length: 5000 }, (_, k) => ({ id: `cand${run}.${k}`, category: 'attack', tags: [] }));
    for (let k = 0; k < catalogue.length; k += 100)
      await service.execute(UpsertItemsDocument, { inputs: catalogue.slice(k, k + 100) });
    await sleep(3000);
    await pool(400, 4, (i) =>
      user.execute(RecommendationsDocument, {
        first: 20,
        candidates: Array.from({ length: 500 }, (_, k) => catalogue[(i * 500 + k) % catalogue.length]!.id),
      }),
    );
    await sleep(5000);
    const redis = new Redis(config.redis.url);
    const entries = await redis.hlen(redisKeys(config.redis.keyPrefix).abShown(`attacker-${run}`));
    redis.disconnect();
    report(
      '6 attribution bookkeeping',
      entries <= 5000,
      `${entries} entries for one user after 400 feeds of 20 over 5,000 catalogued candidates`,
    );
  } else process.stdout.write('skip 6 attribution bookkeeping: set REDIS_URL (and REDIS_KEY_PREFIX) to check it\n');
}

const failed = outcomes.filter((o) => !o.ok);
process.stdout.write(`\n${outcomes.length - failed.length} of ${outcomes.length} checks held\n`);
process.exit(failed.length ? 1 : 0);
