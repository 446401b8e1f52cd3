import { describe, expect, it } from 'vitest';
import { LazyLoaders, type Loaders } from '../../src/loaders/index.js';

describe('loaders created on first use', () => {
  it('cost nothing until read, then are made once and answer as the real ones', async () => {
    let made = 0;
    const real = {
      readAt: 42,
      userRealtime: { name: 'userRealtime' },
      userLongHorizon: { name: 'userLongHorizon' },
      user: { name: 'user' },
      item: { name: 'item' },
      items: async (ids: readonly string[]) => ids.map((id) => ({ itemId: id })),
    } as unknown as Loaders;
    const lazy = new LazyLoaders({
      loaders: () => {
        made++;
        return real;
      },
    });
    expect(made).toBe(0);
    expect(lazy.readAt).toBe(42);
    expect(lazy.userRealtime).toBe(real.userRealtime);
    expect(lazy.userLongHorizon).toBe(real.userLongHorizon);
    expect(lazy.user).toBe(real.user);
    expect(lazy.item).toBe(real.item);
    expect(await lazy.items(['a'])).toEqual([{ itemId: 'a' }]);
    expect(made).toBe(1);
    // A plain object with its getters on the prototype: assigning it keeps a holder's shape.
    expect(Object.getOwnPropertyNames(lazy)).toEqual(['source']);
  });
});
