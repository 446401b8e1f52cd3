/**
 * yoga caches every parsed document (and every parse error) keyed by the query text, 1,000 of
 * each by default whatever their size: clients choose the keys, and a query may be as large as
 * the body limit, so that was up to gigabytes held for whoever sent the most distinct large
 * queries. This cache keeps only documents whose text is small (real clients send the same few
 * operations), with a bound on entries and on the total text held; the least recently used go.
 */
export interface SourceCache<T> {
  get(key: string): T | undefined;
  set(key: string, value: T): void;
  /** Entries and total key characters held, for tests and diagnostics. */
  size(): { entries: number; chars: number };
}

export function boundedSourceCache<T>({
  maxEntries = 1000,
  maxKeyChars = 16_384,
  maxTotalChars = 4 * 1024 * 1024,
}: { maxEntries?: number; maxKeyChars?: number; maxTotalChars?: number } = {}): SourceCache<T> {
  const entries = new Map<string, T>();
  let chars = 0;
  return {
    get(key) {
      const value = entries.get(key);
      if (value !== undefined) {
        entries.delete(key); // most recently used last
        entries.set(key, value);
      }
      return value;
    },
    set(key, value) {
      if (key.length > maxKeyChars) return;
      if (entries.delete(key)) chars -= key.length;
      entries.set(key, value);
      chars += key.length;
      for (const oldest of entries.keys()) {
        if (entries.size <= maxEntries && chars <= maxTotalChars) break;
        entries.delete(oldest);
        chars -= oldest.length;
      }
    },
    size: () => ({ entries: entries.size, chars }),
  };
}
