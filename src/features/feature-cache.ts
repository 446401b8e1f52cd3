import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

/**
 * How long an instance keeps item-side features (item stats, neighbour lists) and how it renews
 * them. An entry is fresh for `ttlMs` less a random share of up to `jitter` of it, so entries read
 * together do not all turn stale in the same instant. A stale entry younger than `staleMs` is still
 * served as it is, and queued for a background refresh: refreshes are sent in batches of at most
 * `refreshBatch` entries, one round trip each, one batch at a time. An entry older than `staleMs`
 * (the hard bound on what ranking may see), or none, is read on the request path.
 */
export interface FeatureCacheSettings<V = unknown> {
  /** An entry is fresh for this long after its read (less the jitter); 0: nothing is ever fresh. */
  ttlMs: number;
  /** The hard bound: a stale entry is served until it is this old (at least `ttlMs`; default 2 × ttlMs). */
  staleMs?: number;
  /** At most this many entries are kept (the oldest read go first). */
  maxEntries: number;
  /** Entries per background refresh batch (one round trip). */
  refreshBatch?: number;
  /** At most this many entries wait for a refresh; a stale entry found beyond it waits for a later lookup. */
  maxQueued?: number;
  /** Share of `ttlMs` an entry's freshness may be cut short by, at random (0..1). */
  jitter?: number;
  /** After a refresh batch failed, the next one waits this long. */
  retryMs?: number;
  /**
   * A shorter life for some values: such an entry is fresh for the returned time (less the jitter)
   * and never served stale past it (an item not in the catalogue yet, which may be any moment).
   * Undefined: `ttlMs` and `staleMs`.
   */
  shortTtlMs?: (value: V) => number | undefined;
  /**
   * Numbers of each value kept side by side in one typed array, which `get` copies into a
   * caller's array: a loop over hundreds of values then reads one dense array instead of as many
   * objects spread over the heap (and the objects they point to).
   */
  columns?: CacheColumns<V>;
}

/** How a cached value's numbers are laid out (see FeatureCacheSettings.columns). */
export interface CacheColumns<V> {
  /** Numbers per value. */
  width: number;
  /** Writes `value`'s `width` numbers into `out` from `offset`. */
  write(value: V, out: Float64Array, offset: number): void;
}

export const FEATURE_CACHE_DEFAULTS = { refreshBatch: 250, maxQueued: 20_000, jitter: 0.2, retryMs: 250 } as const;

/** Which cache: a label of the cache metrics. */
export type FeatureCacheName = 'item' | 'covisit' | 'catalogue';

export interface FeatureCacheHooks {
  metrics?: Pick<Metrics, 'featureCacheLookups' | 'featureCacheRefreshes'>;
  log?: Logger;
  /** The clock (tests). */
  now?: () => number;
  /** Uniform in [0, 1) (tests). */
  random?: () => number;
}

/**
 * Reads the values of `ids` in one round trip, in input order. `needs[i]` is how much of id i's
 * value is wanted (a list's length; 0 when values have no size): a cached value read with a larger
 * need answers smaller ones.
 */
export type BatchRead<V> = (ids: string[], needs: number[]) => Promise<V[]>;

/** A read under way, answering every id it reads with at most `need`. */
interface Pending<V> {
  need: number;
  batch: Promise<Map<string, V>>;
}

/**
 * A per-instance cache of values read from Redis by id, shared by every request, that serves
 * stale values while it refreshes them in the background (see FeatureCacheSettings). Reads on the
 * request path are shared too: a lookup that needs an id another read is already fetching waits
 * for that read instead of sending its own.
 *
 * When a background refresh fails (Redis down), its entries are counted
 * (`feature_cache_refreshes_total{outcome="failed"}`) and the failure is logged, once until a refresh
 * succeeds again; the entries keep being served
 * until `staleMs`, after which lookups read them on the request path and fail as any read does.
 */
export function createFeatureCache<V>(
  name: FeatureCacheName,
  read: BatchRead<V>,
  settings: FeatureCacheSettings<V>,
  hooks: FeatureCacheHooks = {},
) {
  const { ttlMs, maxEntries, shortTtlMs, columns } = settings;
  const staleMs = Math.max(ttlMs, settings.staleMs ?? 2 * ttlMs);
  const { refreshBatch, maxQueued, jitter, retryMs } = { ...FEATURE_CACHE_DEFAULTS, ...definedOf(settings) };
  const now = hooks.now ?? Date.now;
  const random = hooks.random ?? Math.random;
  const { metrics, log } = hooks;
  const counted = metrics && {
    fresh: metrics.featureCacheLookups.labels(name, 'fresh'),
    stale: metrics.featureCacheLookups.labels(name, 'stale'),
    read: metrics.featureCacheLookups.labels(name, 'read'),
    ok: metrics.featureCacheRefreshes.labels(name, 'ok'),
    failed: metrics.featureCacheRefreshes.labels(name, 'failed'),
    notQueued: metrics.featureCacheRefreshes.labels(name, 'not_queued'),
  };

  /**
   * Each cached id's slot in `store`, oldest read first (insertion order). A lookup reads the map
   * (whose values are small integers, held in the map itself) and then dense arrays by slot: no
   * object per entry to visit.
   */
  const slots = new Map<string, number>();
  const store = slotStore(columns);
  const inFlight = new Map<string, Pending<V>>();
  /** Stale entries waiting for a background refresh, oldest queued first. */
  const queue = new Set<string>();
  let refreshing = false;
  let scheduled = false;
  let failing = false;
  let retryAt = 0;

  /** Reads `ids` in one round trip into the cache, shared with later lookups until it lands. */
  function readBatch(ids: string[], needs: number[]): Promise<Map<string, V>> {
    const at = now();
    const batch = read(ids, needs).then((values) => {
      const out = new Map<string, V>();
      ids.forEach((id, k) => {
        const value = values[k]!;
        out.set(id, value);
        let slot = slots.get(id);
        if (slot === undefined) slot = store.take();
        else slots.delete(id);
        slots.set(id, slot);
        const short = shortTtlMs?.(value);
        const ttl = short === undefined ? ttlMs : Math.min(short, ttlMs);
        store.put(slot, value, {
          need: needs[k]!,
          freshUntil: at + ttl * (1 - jitter * random()),
          staleUntil: at + (short === undefined ? staleMs : ttl),
        });
      });
      // Oldest reads first (insertion order): a bound on memory, not an LRU.
      for (const [key, slot] of slots) {
        if (slots.size <= maxEntries) break;
        drop(key, slot);
      }
      return out;
    });
    const settled = () => {
      for (const id of ids) if (inFlight.get(id)?.batch === batch) inFlight.delete(id);
    };
    batch.then(settled, settled);
    ids.forEach((id, k) => inFlight.set(id, { need: needs[k]!, batch }));
    return batch;
  }

  function drop(id: string, slot: number) {
    slots.delete(id);
    queue.delete(id);
    store.release(slot);
  }

  function schedule() {
    if (refreshing || scheduled || queue.size === 0) return;
    scheduled = true;
    setTimeout(refresh, Math.max(0, retryAt - now())).unref();
  }

  /** Sends the next refresh batch: the queue's oldest entries that are still cached and not being read. */
  function refresh() {
    scheduled = false;
    if (refreshing) return;
    const ids: string[] = [];
    const needs: number[] = [];
    for (const id of queue) {
      if (ids.length >= refreshBatch) break;
      queue.delete(id);
      const slot = slots.get(id);
      if (slot === undefined || inFlight.has(id)) continue;
      ids.push(id);
      needs.push(store.meta[slot * META + NEED]!);
    }
    if (ids.length === 0) return;
    refreshing = true;
    readBatch(ids, needs)
      .then(
        () => {
          counted?.ok.inc(ids.length);
          if (failing) log?.info({ cache: name }, 'feature cache refreshes succeed again');
          failing = false;
        },
        (error: unknown) => {
          counted?.failed.inc(ids.length);
          if (!failing)
            log?.warn(
              { cache: name, err: error, items: ids.length, staleMs },
              'a feature cache refresh failed: cached entries are served until they are staleMs old, then read on the request path',
            );
          failing = true;
          retryAt = now() + retryMs;
        },
      )
      .finally(() => {
        refreshing = false;
        schedule();
      });
  }

  return {
    /**
     * The values of `ids` in input order: cached ones at once (queuing the stale ones for a
     * refresh), the others read in one round trip or awaited from a read in flight. `needOf(i)` is
     * how much of id i's value is wanted (see BatchRead). With `rows` (a cache with columns, and
     * room for `ids.length` rows), value i's numbers are written into it from `i × width`.
     */
    async get(ids: readonly string[], needOf?: (i: number) => number, rows?: Float64Array): Promise<V[]> {
      const width = columns?.width ?? 0;
      const copy = rows !== undefined && columns !== undefined;
      // No slot is taken or given up during this loop (only when a read lands), so the arrays stay put.
      const { meta, values } = store;
      const t = now();
      const out = new Array<V>(ids.length);
      let fresh = 0;
      let stale = 0;
      let dropped = 0;
      /** The read answering each id not served from the cache. */
      let from: (Promise<Map<string, V>> | undefined)[] | undefined;
      let missing: Map<string, number> | undefined;
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        const need = needOf ? needOf(i) : 0;
        const slot = slots.get(id);
        if (slot !== undefined && meta[slot * META + NEED]! >= need) {
          if (t < meta[slot * META + FRESH_UNTIL]!) {
            out[i] = values[slot]!;
            if (copy) store.copyRow(slot, rows, i * width);
            fresh++;
            continue;
          }
          if (t < meta[slot * META + STALE_UNTIL]!) {
            out[i] = values[slot]!;
            if (copy) store.copyRow(slot, rows, i * width);
            stale++;
            if (!queue.has(id) && !inFlight.has(id)) {
              if (queue.size < maxQueued) queue.add(id);
              else dropped++;
            }
            continue;
          }
        }
        from ??= new Array(ids.length);
        const pending = inFlight.get(id);
        if (pending && pending.need >= need) from[i] = pending.batch;
        else (missing ??= new Map()).set(id, Math.max(need, missing.get(id) ?? 0));
      }
      if (counted) {
        if (fresh > 0) counted.fresh.inc(fresh);
        if (stale > 0) counted.stale.inc(stale);
        if (fresh + stale < ids.length) counted.read.inc(ids.length - fresh - stale);
        if (dropped > 0) counted.notQueued.inc(dropped);
      }
      if (stale > 0) schedule();
      if (!from) return out;
      const own = missing && readBatch([...missing.keys()], [...missing.values()]);
      const waits = new Set<Promise<Map<string, V>>>();
      for (let i = 0; i < ids.length; i++) {
        if (own && missing!.has(ids[i]!)) from[i] = own;
        if (from[i]) waits.add(from[i]!);
      }
      const reads = [...waits];
      const landed = new Map(reads.map((p, k) => [p, k]));
      const results = await Promise.all(reads);
      for (let i = 0; i < ids.length; i++) {
        const p = from[i];
        if (!p) continue;
        const value = results[landed.get(p)!]!.get(ids[i]!)!;
        out[i] = value;
        if (copy) columns.write(value, rows, i * width);
      }
      return out;
    },
    /** Drops these ids' entries (their source just changed), or, without ids, every entry. */
    forget(ids?: Iterable<string>): void {
      if (!ids) {
        slots.clear();
        queue.clear();
        store.clear();
        return;
      }
      for (const id of ids) {
        const slot = slots.get(id);
        if (slot !== undefined) drop(id, slot);
        else queue.delete(id);
      }
    },
    /** Entries cached, entries waiting for a refresh and slots in use (tests, diagnostics). */
    size: () => ({ entries: slots.size, queued: queue.size, slots: store.inUse() }),
  };
}
export type FeatureCache<V> = ReturnType<typeof createFeatureCache<V>>;

/** Numbers per slot in a slot store's `meta`, and where each is. */
const META = 3;
const FRESH_UNTIL = 0;
const STALE_UNTIL = 1;
const NEED = 2;

/**
 * Where a feature cache keeps its entries, by slot: the values in one array, their freshness and
 * need side by side in one typed array, and (with `columns`) their numbers in another. A slot
 * given up is reused before the arrays grow, and they grow by doubling, so they hold at most about
 * twice the most entries ever cached at once (itself bounded by maxEntries).
 */
function slotStore<V>(columns: CacheColumns<V> | undefined) {
  const width = columns?.width ?? 0;
  let capacity = 64;
  let values: (V | undefined)[] = [];
  let meta = new Float64Array(capacity * META);
  let rows = new Float64Array(capacity * width);
  let used = 0;
  const free: number[] = [];
  const grown = (from: Float64Array, size: number) => {
    const to = new Float64Array(size);
    to.set(from);
    return to;
  };
  return {
    get values(): readonly (V | undefined)[] {
      return values;
    },
    get meta(): Float64Array {
      return meta;
    },
    /** A free slot. */
    take(): number {
      const slot = free.pop();
      if (slot !== undefined) return slot;
      if (used === capacity) {
        capacity *= 2;
        meta = grown(meta, capacity * META);
        rows = grown(rows, capacity * width);
      }
      return used++;
    },
    put(slot: number, value: V, m: { need: number; freshUntil: number; staleUntil: number }) {
      values[slot] = value;
      meta[slot * META + FRESH_UNTIL] = m.freshUntil;
      meta[slot * META + STALE_UNTIL] = m.staleUntil;
      meta[slot * META + NEED] = m.need;
      columns?.write(value, rows, slot * width);
    },
    release(slot: number) {
      values[slot] = undefined;
      free.push(slot);
    },
    clear() {
      values = [];
      used = 0;
      free.length = 0;
    },
    /** Copies the slot's numbers (see CacheColumns) into `out` from `offset`. */
    copyRow(slot: number, out: Float64Array, offset: number) {
      for (let k = 0, from = slot * width; k < width; k++) out[offset + k] = rows[from + k]!;
    },
    /** Slots holding an entry. */
    inUse: () => used - free.length,
  };
}

/** `settings` without its undefined fields, so that defaults spread under it apply. */
function definedOf<T extends object>(settings: T): Partial<T> {
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as Partial<T>;
}
