import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { RecommendationsDocument } from '../src/client/index.js';
import { keySlot } from '../src/redis/slots.js';
import { startLocalRedisCluster, type LocalRedisCluster } from '../src/stack/redis-cluster.js';
import { expectEachEventCountedOnce, itemTotals, sendUniqueEvents } from './failover-helpers.js';
import { CATALOGUE, gql, seedCatalogue, startApp, streamCaughtUp, tempDir, testConfig } from './helpers.js';

/**
 * The loss of a Redis master while behaviour flows: its replica takes over, the stream worker
 * commits nothing its replicas have not confirmed, and every acknowledged event counts once.
 */
describe('a Redis Cluster master killed mid-stream', () => {
  let cluster: LocalRedisCluster;
  let app: App;

  beforeAll(async () => {
    cluster = await startLocalRedisCluster({ dir: tempDir('failover'), nodeTimeoutMs: 1500 });
    app = await startApp(
      testConfig('failover', {
        REDIS_URL: `redis-cluster://${cluster.seeds}`,
        RATE_LIMIT_MUTATIONS_PER_SEC: '1000000',
        RATE_LIMIT_EVENTS_PER_SEC: '1000000',
        FEED_CACHE_TTL_MS: '0',
        REDIS_WAIT_REPLICAS: '1',
      }),
    );
  });
  afterAll(async () => {
    await app?.stop();
    await cluster?.stop();
  });

  it('loses and doubles no acknowledged event, and requests meanwhile are answered or UNAVAILABLE', async () => {
    await seedCatalogue(app);
    await streamCaughtUp(app);
    const base = await itemTotals(app);
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    const sending = sendUniqueEvents(app, 'fo', 9000);
    const answers = { feeds: 0, unavailable: 0, other: [] as string[], slowestMs: 0 };
    const reader = (async () => {
      for (let i = 0; elapsed() < 9000; i++) {
        const asked = performance.now();
        const res = await gql(app.url, RecommendationsDocument, { userId: `fo-u${i}`, first: 10 });
        answers.slowestMs = Math.max(answers.slowestMs, performance.now() - asked);
        if (res.data?.recommendations) answers.feeds++;
        else if (res.errors?.every((e) => e.extensions?.code === 'UNAVAILABLE')) answers.unavailable++;
        else answers.other.push(JSON.stringify(res.errors));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    // The master serving the first item's keys dies at 2.5 s; it comes back (as a replica) at 6 s,
    // as an orchestrator would restart it.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const victim = await cluster.masterOf(keySlot(app.services.keys.itemStats(CATALOGUE[0]!.id)));
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 6000 - elapsed())));
    await victim.restart();
    const [{ sent }] = await Promise.all([sending, reader]);

    await expectEachEventCountedOnce(app, base, sent);
    process.stderr.write(
      `[failover] ${sent.length} events acknowledged, each counted once; ${answers.feeds} feeds and ${answers.unavailable} UNAVAILABLE answers while the master died (slowest ${Math.round(answers.slowestMs)} ms)\n`,
    );
    expect(answers.other).toEqual([]);
    expect(answers.feeds).toBeGreaterThan(0);
  }, 120_000);
});
