import { describe, expect, it } from 'vitest';
import { boundedSourceCache } from '../../src/http/document-cache.js';

describe('the parsed-document cache', () => {
  it('keeps no huge query text, and bounds the text it holds whatever clients send', () => {
    const cache = boundedSourceCache<number>({ maxEntries: 1000, maxKeyChars: 1000, maxTotalChars: 100_000 });
    cache.set(`query N${'A'.repeat(50_000)} { __typename }`, 1);
    expect(cache.size()).toEqual({ entries: 0, chars: 0 });
    for (let i = 0; i < 100_000; i++) cache.set(`query Q${i}${'B'.repeat(900)} { __typename }`, i);
    expect(cache.size().chars).toBeLessThanOrEqual(100_000);
    expect(cache.size().entries).toBeLessThanOrEqual(1000);
    for (let i = 0; i < 100_000; i++) cache.set(`query S${i} { __typename }`, i);
    expect(cache.size().entries).toBe(1000);
  });

  it('drops the least recently used first', () => {
    const cache = boundedSourceCache<string>({ maxEntries: 2 });
    cache.set('a', 'A');
    cache.set('b', 'B');
    expect(cache.get('a')).toBe('A'); // a is now the most recent
    cache.set('c', 'C');
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual(['A', undefined, 'C']);
  });
});
