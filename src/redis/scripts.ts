/**
 * Every Redis Lua script of the service, registered once by name. Each entry names its `.lua`
 * file (whose header states KEYS, ARGV and the reply) and maps named keys and arguments to that
 * layout and the reply back to named fields: callers never count positions, so a script and its
 * callers cannot drift apart without this file changing with them.
 *
 * Call `registerScripts(redis)` on a connection before creating the pipelines that queue scripts;
 * `run` on a connection registers the script it sends by itself.
 */
import type { RedisClient } from './client.js';
import { defineOn, defineScript, int, list, num, str, ScriptReplyError, type ScriptArg } from './lua.js';

export type { Pipeline, Script, ScriptCall } from './lua.js';

/** Keys followed by a varying number of bucket keys, which ARGV refers to by 1-based index. */
interface WithBuckets {
  buckets: readonly string[];
}

/**
 * The stream epoch fence (streams/lua/fence.lua), the first key and the first argument of every
 * script that writes offset-guarded state: the call is refused before any write (a reply error
 * starting `EPOCH`) unless Redis still holds the epoch the worker's progress belongs to.
 */
interface Fenced {
  /** As a key: the worker group's epoch key; as an argument: the epoch the caller holds. */
  epoch: string;
}

// ---- streams: the stream worker's per-user and per-item steps ----

export interface ApplyUserKeys extends Fenced {
  state: string;
  seen: string;
  recent: string;
  positive: string;
  hidden: string;
  affinity: string;
  /** The user's window counts, one hash for every window and bucket, and the per-item cap counts. */
  windows: string;
  /** What the user step handed to the second step and keeps for a redelivery, for this call's partition. */
  pending: string;
}

export interface ApplyUserEvent {
  offset: string;
  eventId: string;
  occurredAt: number;
  /** When the API accepted it: the watermark moves to at most this + maxAheadMs. */
  receivedAt: number;
  itemId: string;
  category: string;
  action: string;
  /** How the user's window fields name the action (ACTION_CODES). */
  actionCode: string;
  weight: number;
  /** The item's tags some pattern rule looks at. */
  tags: readonly string[];
  /** The prefix (`c:<bucket index>`) of the windows hash field counting the event's item in its trending bucket. */
  cap: string;
  /** The prefixes (`<window>:<bucket index>`) of the window fields the event counts in. */
  windows: readonly string[];
}

export interface ApplyUserArgs extends Fenced {
  partition: number;
  allowedLatenessMs: number;
  stateTtlSec: number;
  recentMax: number;
  positiveMax: number;
  hiddenMax: number;
  hiddenTtlSec: number;
  horizonMs: number;
  maxPartners: number;
  minPartnerWeight: number;
  affinityHalfLifeMs: number;
  now: number;
  ttlRefreshMs: number;
  /** How far past its receivedAt an event can move the user's watermark. */
  maxAheadMs: number;
  /** Counted events per (item, trending bucket) that weigh on the item side; later ones are capped. */
  capMax: number;
  /** The partition's offset through which the second step is known to have succeeded ('-1': not known). */
  settledOffset: string;
  /** How long the windows hash must live past `now` for the newest bucket this call writes. */
  windowsTtlSec: number;
  /** `name:bucketMs:lengthMs,…`: which window fields can still be read (the others are pruned). */
  windowSpec: string;
  /** The trending bucket length the cap fields are counted per (pruned once their bucket can take no events). */
  capBucketMs: number;
  events: readonly ApplyUserEvent[];
}

/** A counted event as the user step hands it to the second step. */
export interface ContributionRow {
  offset: string;
  itemId: string;
  category: string;
  action: string;
  occurredAt: number;
  weight: number;
  partners: string[];
  /** '' in rows written before contributions carried it. */
  eventId: string;
  tags: string[];
  /** Past the user's cap for the item in its trending bucket: no popularity, trending or co-visits. */
  capped: boolean;
  /** How far the event moves a watermark: its time, but at most its receivedAt + maxAheadMs. */
  clock: number;
}

export interface ApplyUserReply {
  counted: number;
  late: number;
  duplicate: number;
  replayed: number;
  watermark: number;
  /** What the second step must apply for the events counted now. */
  contributions: ContributionRow[];
  /** What an earlier call of a redelivered batch left for the second step. */
  rehanded: ContributionRow[];
}

/** Lua's cjson writes an empty list as `{}`, hence the object check on partners. */
function decodeRows(json: string, what: string): ContributionRow[] {
  if (!json) return [];
  const rows = list(JSON.parse(json), what);
  return rows.map((value, i) => {
    const row = list(value, `${what}[${i}]`);
    const partners = row[6];
    const tags = row[8] === undefined ? '' : str(row[8], `${what}[${i}].tags`);
    return {
      offset: str(row[0], `${what}[${i}].offset`),
      itemId: str(row[1], `${what}[${i}].itemId`),
      category: str(row[2], `${what}[${i}].category`),
      action: str(row[3], `${what}[${i}].action`),
      occurredAt: num(row[4], `${what}[${i}].occurredAt`),
      weight: num(row[5], `${what}[${i}].weight`),
      partners: Array.isArray(partners) ? partners.map((p, j) => str(p, `${what}[${i}].partners[${j}]`)) : [],
      eventId: row[7] === undefined ? '' : str(row[7], `${what}[${i}].eventId`),
      tags: tags ? tags.split(',') : [],
      capped: row[9] === 1,
      clock: row[10] === undefined ? num(row[4], `${what}[${i}].occurredAt`) : num(row[10], `${what}[${i}].clock`),
    };
  });
}

const applyUser = defineScript('applyUser', {
  file: 'streams/lua/apply-user.lua',
  guard: 'fence.lua',
  keys: (k: ApplyUserKeys) => [
    k.epoch,
    k.state,
    k.seen,
    k.recent,
    k.positive,
    k.hidden,
    k.affinity,
    k.windows,
    k.pending,
  ],
  argv: (a: ApplyUserArgs): ScriptArg[] => [
    a.epoch,
    a.partition,
    a.allowedLatenessMs,
    a.stateTtlSec,
    a.recentMax,
    a.positiveMax,
    a.hiddenMax,
    a.hiddenTtlSec,
    a.horizonMs,
    a.maxPartners,
    a.minPartnerWeight,
    a.affinityHalfLifeMs,
    a.now,
    a.ttlRefreshMs,
    a.maxAheadMs,
    a.capMax,
    a.settledOffset,
    a.windowsTtlSec,
    a.windowSpec,
    a.capBucketMs,
    ...a.events.flatMap((e) => [
      e.offset,
      e.eventId,
      e.occurredAt,
      e.receivedAt,
      e.itemId,
      e.category,
      e.action,
      e.actionCode,
      e.weight,
      e.tags.join(','),
      e.cap,
      e.windows.length,
      ...e.windows,
    ]),
  ],
  decode(reply): ApplyUserReply {
    const r = list(reply, 'applyUser');
    return {
      counted: int(r[0], 'counted'),
      late: int(r[1], 'late'),
      duplicate: int(r[2], 'duplicate'),
      replayed: int(r[3], 'replayed'),
      watermark: int(r[4], 'watermark'),
      contributions: decodeRows(str(r[5], 'contributions'), 'contributions'),
      rehanded: decodeRows(str(r[6], 'rehanded'), 'rehanded'),
    };
  },
});

export interface ApplyItemKeys extends Fenced {
  stats: string;
  covisit: string;
  /** The item's catalogue entry, read only: without it the item's keys get short TTLs. */
  meta: string;
}

/** An event on the item itself. */
export interface ApplyItemContribution {
  /** The partition the event came from: its offset is guarded per item and partition. */
  partition: number;
  offset: string;
  occurredAt: number;
  action: string;
  weight: number;
  /** The window fields the event counts in (`<window>:<bucket index base 36>`). */
  windows: readonly string[];
  /** The co-visitation partners it found (the user's other engaged items). */
  partners: readonly string[];
}

/** Another item's event that names this item as a co-visitation partner. */
export interface ApplyItemCoVisit {
  partition: number;
  offset: string;
  /** The item the event was on. */
  partner: string;
}

export interface ApplyItemArgs extends Fenced {
  /** Every partition the contributions come from. */
  partitions: readonly number[];
  popularityHalfLifeMs: number;
  covisitMax: number;
  covisitTtlSec: number;
  statsTtlSec: number;
  now: number;
  ttlRefreshMs: number;
  /** The TTL of the stats and co-visitation keys of an item the catalogue does not hold. */
  uncataloguedTtlSec: number;
  /** The worker saw the item in the catalogue (the script then does not look). */
  catalogued: boolean;
  allowedLatenessMs: number;
  /** Every window as `name:bucketMs:lengthMs`, comma-separated: how dead window fields are found. */
  windowSpec: string;
  /**
   * Other items' events that name this one as a co-visitation partner: the bulk of an item step,
   * sent packed in one argument (`partition offset partner;…`), which costs Redis and the client
   * far less than an argument per field.
   */
  coVisits: readonly ApplyItemCoVisit[];
  /** The item's own events, in ascending offsets within each partition. */
  contributions: readonly ApplyItemContribution[];
}

const applyItem = defineScript('applyItem', {
  file: 'streams/lua/apply-item.lua',
  guard: 'fence.lua',
  keys: (k: ApplyItemKeys) => [k.epoch, k.stats, k.covisit, k.meta],
  argv: (a: ApplyItemArgs): ScriptArg[] => [
    a.epoch,
    a.partitions.join(','),
    a.popularityHalfLifeMs,
    a.covisitMax,
    a.covisitTtlSec,
    a.statsTtlSec,
    a.now,
    a.ttlRefreshMs,
    a.uncataloguedTtlSec,
    a.catalogued ? 1 : 0,
    a.allowedLatenessMs,
    a.windowSpec,
    a.coVisits.map((c) => `${c.partition} ${c.offset} ${c.partner}`).join(';'),
    ...a.contributions.flatMap((c) => [
      c.partition,
      c.offset,
      c.occurredAt,
      c.action,
      c.weight,
      c.windows.length,
      ...c.windows,
      c.partners.join(','),
    ]),
  ],
  /** The number of contributions applied. */
  decode: (reply) => int(reply, 'applyItem'),
});

export interface ApplyTrendingKeys extends WithBuckets, Fenced {
  state: string;
}

export interface ApplyTrendingArgs extends Fenced {
  /** Every partition the contributions come from. */
  partitions: readonly number[];
  stateTtlSec: number;
  bucketTtlSec: readonly number[];
  /**
   * In ascending offsets within each partition (whose offsets the scope guards); `bucket` is a
   * 1-based index into the call's buckets.
   */
  contributions: readonly { partition: number; offset: string; itemId: string; weight: number; bucket: number }[];
}

const applyTrending = defineScript('applyTrending', {
  file: 'streams/lua/apply-trending.lua',
  guard: 'fence.lua',
  keys: (k: ApplyTrendingKeys) => [k.epoch, k.state, ...k.buckets],
  argv: (a: ApplyTrendingArgs): ScriptArg[] => [
    a.epoch,
    a.partitions.join(','),
    a.stateTtlSec,
    a.contributions.map((c) => `${c.partition} ${c.offset} ${c.itemId} ${c.weight} ${c.bucket}`).join(';'),
    ...a.bucketTtlSec,
  ],
  /** The number of contributions applied. */
  decode: (reply) => int(reply, 'applyTrending'),
});

const raiseEpoch = defineScript('raiseEpoch', {
  file: 'streams/lua/raise-epoch.lua',
  keys: (k: { epoch: string }) => [k.epoch],
  argv: (a: { epoch: string }): ScriptArg[] => [a.epoch],
  /** The copy the slot holds after the call. */
  decode: (reply) => str(reply, 'raiseEpoch'),
});

const applyProfile = defineScript('applyProfile', {
  file: 'streams/lua/apply-profile.lua',
  keys: (k: { profile: string }) => [k.profile],
  argv: (a: { interests: readonly string[]; updatedAt: number }): ScriptArg[] => [a.interests.join(','), a.updatedAt],
  /** False when Redis held a newer declaration. */
  decode: (reply) => int(reply, 'applyProfile') === 1,
});

// ---- patterns: the behaviour-pattern matcher ----

export interface MatchPatternsKeys extends Fenced {
  state: string;
  events: string;
  fired: string;
  log: string;
  tags: string;
}

export interface MatchPatternsArgs extends Fenced {
  partition: number;
  allowedLatenessMs: number;
  stateTtlSec: number;
  bufferMax: number;
  horizonMs: number;
  logMax: number;
  now: number;
  /** The keys' TTLs are refreshed at most this often (and set when a key appears). */
  ttlRefreshMs: number;
  /** The compiled rules (see patterns/plan.ts). */
  rulesJson: string;
  /**
   * In ascending offsets; `clock` is how far the event moves the watermark (see ContributionRow),
   * `mask` has one character per rule, 1 when the event fits one of its steps.
   */
  events: readonly { offset: string; occurredAt: number; clock: number; member: string; mask: string }[];
}

export interface MatchPatternsReply {
  bufferedEvents: number;
  /** Starts of a rule that may still complete. */
  partialMatches: number;
  /** Fired strict runs that a late event could still withdraw (provisional). */
  undecidedMatches: number;
  /** Rule ids of the matches fired. */
  fired: string[];
  /** Rule ids of the provisional matches a late event withdrew. */
  withdrawn: string[];
  /** `+tag` for each tag that appeared, `-tag` for each that went. */
  tagChanges: string[];
}

const matchPatterns = defineScript('matchPatterns', {
  file: 'patterns/lua/match-user.lua',
  guard: '../../streams/lua/fence.lua',
  keys: (k: MatchPatternsKeys) => [k.epoch, k.state, k.events, k.fired, k.log, k.tags],
  argv: (a: MatchPatternsArgs): ScriptArg[] => [
    a.epoch,
    a.partition,
    a.allowedLatenessMs,
    a.stateTtlSec,
    a.bufferMax,
    a.horizonMs,
    a.logMax,
    a.now,
    a.ttlRefreshMs,
    a.rulesJson,
    ...a.events.flatMap((e) => [e.offset, e.occurredAt, e.clock, e.member, e.mask]),
  ],
  /** Null when the call held nothing new (a redelivered batch). */
  decode(reply): MatchPatternsReply | null {
    const [size, partial, provisional, fired, withdrawn, tagChanges] = list(reply, 'matchPatterns');
    if (int(size, 'bufferedEvents') < 0) return null;
    const csv = (value: unknown, what: string) => str(value, what).split(',').filter(Boolean);
    return {
      bufferedEvents: int(size, 'bufferedEvents'),
      partialMatches: int(partial, 'partialMatches'),
      undecidedMatches: int(provisional, 'provisionalMatches'),
      fired: csv(fired, 'fired'),
      withdrawn: csv(withdrawn, 'withdrawn'),
      tagChanges: csv(tagChanges, 'tagChanges'),
    };
  },
});

// ---- experiments: attribution of behaviour to the arm that served it ----

export interface AttributeKeys {
  offsets: string;
  counts: string;
  /** Per user, the pair records refer to by its index in this list. */
  users: readonly { shown: string; pending: string }[];
}

export interface AttributedImpressionRecord {
  offset: string;
  /** Index into the call's users. */
  user: number;
  servedAt: number;
  /** `experiment|arm|version`. */
  group: string;
  itemIds: readonly string[];
}

export interface AttributedEventRecord {
  offset: string;
  /** Index into the call's users. */
  user: number;
  occurredAt: number;
  itemId: string;
  flag: 'c' | 'l' | 'h';
  eventId: string;
}

export type AttributeArgs = {
  progressField: string;
  /** The batch's last record, attributable or not. */
  lastOffset: string;
  windowMs: number;
  ttlMs: number;
  skewMs: number;
  /** Shown items kept per user (the newest). */
  shownMax: number;
} & (
  | { kind: 'i'; impressions: readonly AttributedImpressionRecord[] }
  | { kind: 'b'; events: readonly AttributedEventRecord[] }
);

/** KEYS index of a user's shown key: after offsets and counts, two keys per user. */
const shownIndex = (user: number) => 3 + 2 * user;

const attribute = defineScript('attribute', {
  file: 'experiments/lua/attribute.lua',
  keys: (k: AttributeKeys) => [k.offsets, k.counts, ...k.users.flatMap((u) => [u.shown, u.pending])],
  argv(a: AttributeArgs): ScriptArg[] {
    const header = [a.progressField, a.lastOffset, a.windowMs, a.ttlMs, a.skewMs, a.shownMax, a.kind];
    const records =
      a.kind === 'i'
        ? a.impressions.flatMap((r) => [
            r.offset,
            shownIndex(r.user),
            r.servedAt,
            r.group,
            r.itemIds.length,
            ...r.itemIds,
          ])
        : a.events.flatMap((r) => [r.offset, shownIndex(r.user), r.occurredAt, r.itemId, r.flag, r.eventId]);
    return [...header, ...records];
  },
  /** The counts it added, by count field (`group|kind`). */
  decode(reply): { field: string; count: number }[] {
    const flat = list(reply, 'attribute');
    const out: { field: string; count: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2)
      out.push({ field: str(flat[i], 'field'), count: int(flat[i + 1], 'count') });
    return out;
  },
});

// ---- features: trending reads ----

const trendingTop = defineScript('trendingTop', {
  file: 'features/lua/trending-top.lua',
  keys: (k: { temp: string; buckets: readonly string[] }) => [k.temp, ...k.buckets],
  /** `weights` has one decay weight per bucket key, in the same order. */
  argv: (a: { limit: number; weights: readonly number[] }): ScriptArg[] => [a.limit, ...a.weights],
  /** Highest score first. */
  decode(reply): { member: string; score: number }[] {
    const flat = list(reply, 'trendingTop');
    const out: { member: string; score: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2)
      out.push({ member: str(flat[i], 'member'), score: num(flat[i + 1], 'score') });
    return out;
  },
});

/** An item's fields as read-item.lua returns them: strings, or null when missing. */
export interface ItemRecordReply {
  meta: (string | null)[];
  stats: (string | null)[];
  score: string | null;
}

const readItem = defineScript('readItem', {
  file: 'features/lua/read-item.lua',
  keys: (k: { meta: string; stats: string; longHorizon: string }) => [k.meta, k.stats, k.longHorizon],
  argv: (a: { actions: readonly string[] }): ScriptArg[] => [a.actions.length, ...a.actions],
  /** meta: category, tags, authorId, createdAt; stats: pop, _b, then the totals in `actions` order. */
  decode(reply): ItemRecordReply {
    const flat = list(reply, 'readItem').map((v) => (v === null ? null : str(v, 'readItem field')));
    return { meta: flat.slice(0, 4), stats: flat.slice(4, -1), score: flat.at(-1) ?? null };
  },
});

// ---- model: the registry's atomic writes ----

const modelPublish = defineScript('modelPublish', {
  file: 'model/lua/publish.lua',
  keys: (k: { bytes: string; meta: string; versions: string }) => [k.bytes, k.meta, k.versions],
  argv: (a: { version: string; bytes: Buffer; metadataJson: string; publishedAt: number; sha256: string }) => [
    a.version,
    a.bytes,
    a.metadataJson,
    a.publishedAt,
    a.sha256,
  ],
  /** `existing`: the stored metadata when the version was there already ('' when it has none). */
  decode(reply): { created: boolean; existing: string } {
    const [created, existing] = list(reply, 'modelPublish');
    return { created: int(created, 'created') === 1, existing: str(existing, 'existing') };
  },
});

const setExperiment = defineScript('setExperiment', {
  file: 'model/lua/set-experiment.lua',
  keys: (k: { experiment: string; history: string }) => [k.experiment, k.history],
  argv: (a: { expectedRevision: number; experimentJson: string; channel: string; noticeJson: string }) => [
    a.expectedRevision,
    a.experimentJson,
    a.channel,
    a.noticeJson,
  ],
  /** When refused, the revision Redis holds. */
  decode(reply): { written: true } | { written: false; revision: number } {
    const revision = int(reply, 'setExperiment');
    return revision === -1 ? { written: true } : { written: false, revision };
  },
});

// ---- batch: the long-horizon job ----

const replaceHash = defineScript('replaceHash', {
  file: 'batch/lua/replace-hash.lua',
  keys: (k: { hash: string }) => [k.hash],
  argv: (a: { ttlSec: number; fields: readonly (readonly [string, string])[] }): ScriptArg[] => [
    a.ttlSec,
    ...a.fields.flat(),
  ],
  decode(reply): void {
    if (int(reply, 'replaceHash') !== 1) throw new ScriptReplyError('replaceHash: expected 1');
  },
});

export const scripts = {
  applyUser,
  applyItem,
  applyTrending,
  applyProfile,
  raiseEpoch,
  matchPatterns,
  attribute,
  trendingTop,
  readItem,
  modelPublish,
  setExperiment,
  replaceHash,
};

export type ScriptName = keyof typeof scripts;

/** Connections every script is defined on: registering is a no-op for them (hot read paths call it). */
const registered = new WeakSet<RedisClient>();

/**
 * Defines every script on the connection; repeated calls change nothing. Pipelines and multis
 * created from the connection afterwards can queue them.
 */
export function registerScripts(redis: RedisClient): void {
  if (registered.has(redis)) return;
  for (const s of Object.values(scripts)) {
    defineOn(redis, s.name, s.lua);
    if (s.grouped) defineOn(redis, s.grouped.name, s.grouped.lua);
  }
  registered.add(redis);
}
