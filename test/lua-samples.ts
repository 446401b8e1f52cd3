/**
 * One small valid call per Lua script, with the reply it must give on empty keys. The type makes
 * every registered script have one. The unit test checks the encoders against the files' headers
 * with them; the integration test runs them against the real Redis.
 */
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { scripts, type Pipeline, type Script, type ScriptName } from '../src/redis/scripts.js';
import type { ScriptArg } from '../src/redis/lua.js';

interface Sample<K, A, R> {
  keys: K;
  args: A;
  /** Writes what the script needs to find, if anything. */
  setup?: (redis: Redis) => Promise<unknown>;
  check: (reply: R) => void;
}

/** A sample bound to its script, so tests can go over all of them alike. */
export interface ScriptSample {
  script: { name: string; file: string; lua: string };
  /** The named keys and arguments, to compare with the names in the file's header. */
  keys: object;
  args: object;
  /** What the encoders send; with `fixedOnly`, every list in the named objects emptied first. */
  encoded(fixedOnly?: boolean): { keys: string[]; argv: ScriptArg[] };
  setup(redis: Redis): Promise<unknown>;
  /** Runs the script on the connection and checks the reply. */
  run(redis: Redis): Promise<void>;
  /** Queues it; the returned function checks its reply among the pipeline's replies. */
  queue(pipeline: Pipeline): (replies: readonly unknown[]) => void;
  /**
   * Queues `copies` copies of it grouped (scripts with a guard only), `perGroup` to a script call,
   * each on keys of its own (the sample's, `:c<n>` added; the guard's key is shared); the returned
   * function checks every copy's reply.
   */
  queueGrouped(pipeline: Pipeline, copies: number, perGroup: number): (replies: readonly unknown[]) => void;
}

/** The keys with `:c<copy>` added to each but the shared guard key (`epoch`). */
export function copyKeys<K extends object>(keys: K, copy: number): K {
  const out = { ...keys };
  for (const [name, value] of Object.entries(out)) {
    if (name === 'epoch') continue;
    if (typeof value === 'string') Reflect.set(out, name, `${value}:c${copy}`);
    else if (Array.isArray(value))
      Reflect.set(
        out,
        name,
        value.map((v: unknown) => `${String(v)}:c${copy}`),
      );
  }
  return out;
}

/** The object with every list emptied: what is left is the fixed part of a layout. */
function withoutLists<T extends object>(value: T): T {
  const copy = { ...value };
  for (const [k, v] of Object.entries(copy)) if (Array.isArray(v)) Reflect.set(copy, k, []);
  return copy;
}

function bind<K extends object, A extends object, R>(script: Script<K, A, R>, sample: Sample<K, A, R>): ScriptSample {
  return {
    script,
    keys: sample.keys,
    args: sample.args,
    encoded: (fixedOnly = false) => ({
      keys: script.keys(fixedOnly ? withoutLists(sample.keys) : sample.keys),
      argv: script.argv(fixedOnly ? withoutLists(sample.args) : sample.args),
    }),
    setup: async (redis) => sample.setup?.(redis),
    run: async (redis) => sample.check(await script.run(redis, sample.keys, sample.args)),
    queue(pipeline) {
      const reply = script.queue(pipeline, sample.keys, sample.args);
      return (replies) => sample.check(reply(replies));
    },
    queueGrouped(pipeline, copies, perGroup) {
      const calls = Array.from({ length: copies }, (_, c) => ({ keys: copyKeys(sample.keys, c), args: sample.args }));
      const readers = script.queueGrouped(pipeline, calls, perGroup);
      return (replies) => {
        for (const read of readers) sample.check(read(replies));
      };
    },
  };
}

const T = 1_700_000_000_000;

/** The stream epoch fence the offset-guarded samples carry, and the epoch their setup writes. */
export const sampleFence = (prefix: string) => ({ key: `${prefix}:stream:epoch`, epoch: 'sample-epoch' });

/**
 * Keys under `prefix`, all in one hash tag (one Redis Cluster slot), as the service's calls are,
 * beside the stream epoch key of the fenced scripts.
 */
export function samples(prefix: string): Record<ScriptName, ScriptSample> {
  const k = (name: string) => `${prefix}:{s}:${name}`;
  const fence = sampleFence(prefix);
  const holdEpoch = (redis: Redis) => redis.set(fence.key, fence.epoch);
  return {
    applyUser: bind(scripts.applyUser, {
      setup: holdEpoch,
      keys: {
        epoch: fence.key,
        state: k('state'),
        seen: k('seen'),
        recent: k('recent'),
        positive: k('positive'),
        hidden: k('hidden'),
        affinity: k('affinity'),
        windows: k('win'),
        pending: k('pend'),
      },
      args: {
        epoch: fence.epoch,
        partition: 3,
        allowedLatenessMs: 120_000,
        stateTtlSec: 3601,
        recentMax: 11,
        positiveMax: 12,
        hiddenMax: 13,
        hiddenTtlSec: 3602,
        horizonMs: 60_000,
        maxPartners: 5,
        minPartnerWeight: 1,
        affinityHalfLifeMs: 86_400_000,
        now: T,
        ttlRefreshMs: 60_001,
        maxAheadMs: 30_000,
        capMax: 3,
        settledOffset: '-1',
        windowsTtlSec: 600,
        windowSpec: '5m:60000:300000',
        capBucketMs: 300_000,
        events: [
          {
            offset: '7',
            eventId: 'e1',
            occurredAt: T,
            receivedAt: T,
            itemId: 'i1',
            category: 'c1',
            action: 'LIKE',
            actionCode: 'l',
            weight: 2,
            tags: ['t1'],
            cap: `c:${Math.floor(T / 300_000).toString(36)}`,
            windows: [`5m:${(T / 60_000).toString(36)}`],
          },
        ],
      },
      check: (reply) =>
        expect(reply).toEqual({
          counted: 1,
          late: 0,
          duplicate: 0,
          replayed: 0,
          watermark: T,
          contributions: [
            {
              offset: '7',
              itemId: 'i1',
              category: 'c1',
              action: 'LIKE',
              occurredAt: T,
              weight: 2,
              partners: [],
              eventId: 'e1',
              tags: ['t1'],
              capped: false,
              clock: T,
            },
          ],
          rehanded: [],
        }),
    }),
    applyItem: bind(scripts.applyItem, {
      setup: holdEpoch,
      keys: { epoch: fence.key, stats: k('stats'), covisit: k('covisit'), meta: k('meta') },
      args: {
        epoch: fence.epoch,
        partitions: [3],
        popularityHalfLifeMs: 86_400_000,
        covisitMax: 50,
        covisitTtlSec: 3601,
        statsTtlSec: 3602,
        now: T,
        ttlRefreshMs: 60_000,
        uncataloguedTtlSec: 600,
        catalogued: false,
        allowedLatenessMs: 120_000,
        windowSpec: '5m:60000:300000',
        coVisits: [{ partition: 3, offset: '6', partner: 'i3' }],
        contributions: [
          { partition: 3, offset: '7', occurredAt: T, action: 'LIKE', weight: 2, windows: ['5m:1'], partners: ['i2'] },
        ],
      },
      check: (applied) => expect(applied).toBe(2),
    }),
    applyTrending: bind(scripts.applyTrending, {
      setup: holdEpoch,
      keys: { epoch: fence.key, state: k('trending'), buckets: [k('tb:1')] },
      args: {
        epoch: fence.epoch,
        partitions: [3],
        stateTtlSec: 3600,
        bucketTtlSec: [600],
        contributions: [{ partition: 3, offset: '7', itemId: 'i1', weight: 2, bucket: 1 }],
      },
      check: (applied) => expect(applied).toBe(1),
    }),
    raiseEpoch: bind(scripts.raiseEpoch, {
      setup: (redis) => redis.set(k('epoch-copy'), '3:b'),
      keys: { epoch: k('epoch-copy') },
      args: { epoch: '4:a' },
      check: (held) => expect(held).toBe('4:a'),
    }),
    applyProfile: bind(scripts.applyProfile, {
      keys: { profile: k('profile') },
      args: { interests: ['pets', 'food'], updatedAt: T },
      check: (written) => expect(written).toBe(true),
    }),
    matchPatterns: bind(scripts.matchPatterns, {
      setup: holdEpoch,
      keys: {
        epoch: fence.key,
        state: k('pstate'),
        events: k('pevents'),
        fired: k('pfired'),
        log: k('plog'),
        tags: k('ptags'),
      },
      args: {
        epoch: fence.epoch,
        partition: 3,
        allowedLatenessMs: 120_000,
        stateTtlSec: 3600,
        bufferMax: 100,
        horizonMs: 60_000,
        logMax: 50,
        now: T,
        ttlRefreshMs: 3_600_000,
        rulesJson: JSON.stringify([
          {
            id: 'liker',
            strict: 0,
            within: -1,
            span: 60_000,
            tag: 'fan',
            ttl: 3_600_000,
            reason: 'liked {count}',
            steps: [{ a: ['l', 'LIKE'], gap: -1 }],
          },
        ]),
        events: [{ offset: '7', occurredAt: T, clock: T, member: '17|e1|l|c1|', mask: '1' }],
      },
      check: (reply) =>
        // The match sets the rule's tag: it holds an hour past the event, and `now` is the event's time.
        expect(reply).toEqual({
          bufferedEvents: 1,
          partialMatches: 0,
          undecidedMatches: 0,
          fired: ['liker'],
          withdrawn: [],
          tagChanges: ['+fan'],
        }),
    }),
    attribute: bind(scripts.attribute, {
      keys: {
        offsets: k('ab:offsets'),
        counts: k('ab:counts'),
        users: [{ shown: k('ab:shown'), pending: k('ab:pending') }],
      },
      args: {
        progressField: 'imp:0',
        lastOffset: '7',
        windowMs: 60_000,
        ttlMs: 120_000,
        skewMs: 5000,
        shownMax: 100,
        kind: 'i',
        impressions: [{ offset: '7', user: 0, servedAt: T, group: 'e1|arm|v1', itemIds: ['i1', 'i2'] }],
      },
      check: (added) =>
        expect(added).toEqual([
          { field: 'e1|arm|v1|feeds', count: 1 },
          { field: 'e1|arm|v1|impressions', count: 2 },
        ]),
    }),
    trendingTop: bind(scripts.trendingTop, {
      keys: { temp: k('tmp'), buckets: [k('top:1'), k('top:2')] },
      args: { limit: 10, weights: [1, 0.5] },
      setup: (redis) => redis.zadd(k('top:1'), 2, 'i1', 1, 'i2').then(() => redis.zadd(k('top:2'), 4, 'i2')),
      check: (top) =>
        expect(top).toEqual([
          { member: 'i2', score: 3 },
          { member: 'i1', score: 2 },
        ]),
    }),
    readItem: bind(scripts.readItem, {
      keys: { meta: k('item'), stats: k('item:stats'), longHorizon: k('item:lt') },
      args: { actions: ['LIKE', 'VIEW'] },
      setup: (redis) =>
        redis
          .hset(k('item'), { category: 'pets', createdAt: '5' })
          .then(() => redis.hset(k('item:stats'), { pop: '1.5', 'n:VIEW': '3' })),
      check: (item) =>
        expect(item).toEqual({ meta: ['pets', null, null, '5'], stats: ['1.5', null, null, '3'], score: null }),
    }),
    modelPublish: bind(scripts.modelPublish, {
      keys: { bytes: k('model:bytes'), meta: k('model:meta'), versions: k('model:versions') },
      args: {
        version: 'v1',
        bytes: Buffer.from([0, 1, 2, 255]),
        metadataJson: '{"version":"v1"}',
        publishedAt: T,
        sha256: 'digest',
      },
      check: (reply) => expect(reply).toEqual({ created: true, existing: '' }),
    }),
    setExperiment: bind(scripts.setExperiment, {
      keys: { experiment: k('experiment'), history: k('experiment:history') },
      args: {
        expectedRevision: 0,
        experimentJson: '{"id":"e1","revision":1}',
        channel: k('changed'),
        noticeJson: '{}',
      },
      check: (reply) => expect(reply).toEqual({ written: true }),
    }),
    replaceHash: bind(scripts.replaceHash, {
      keys: { hash: k('hash') },
      args: {
        ttlSec: 60,
        fields: [
          ['a', '1'],
          ['b', '2'],
        ],
      },
      check: (reply) => expect(reply).toBeUndefined(),
    }),
  };
}
