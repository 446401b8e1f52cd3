import { describe, expect, it } from 'vitest';
import { createItemWindow, type ApplyWindow } from '../../src/streams/item-window.js';
import type { Contribution, PartitionContributions } from '../../src/streams/plan.js';

const contribution = (offset: string, itemId = 'i1'): Contribution => ({
  offset,
  userId: 'u1',
  eventId: `e${offset}`,
  itemId,
  category: 'pets',
  tags: [],
  action: 'LIKE',
  occurredAt: 1_700_000_000_000,
  weight: 3,
  partners: [],
  capped: false,
  clock: 1_700_000_000_000,
});

/** A window on a clock the test moves, and what each flush was handed. */
function setup(options: { maxAgeMs?: number; maxContributions?: number } = {}) {
  let now = 1000;
  const window = createItemWindow<string>({ ...options, now: () => now });
  const applied: { batches: PartitionContributions[]; offsets: Map<number, string>; tags: string[] }[] = [];
  const record: ApplyWindow<string> = async (batches, offsets, entries) => {
    applied.push({ batches, offsets, tags: entries.map((e) => e.tag) });
  };
  return { window, applied, record, advance: (ms: number) => (now += ms) };
}

describe('the item window', () => {
  it('is due once its oldest batch has waited its age, or once it holds its most contributions', () => {
    const { window, advance } = setup({ maxAgeMs: 250, maxContributions: 3 });
    expect(window.due()).toBe(false);
    window.add(0, [contribution('1')], '1', 'a');
    advance(249);
    expect(window.due()).toBe(false);
    advance(1);
    expect(window.due()).toBe(true);

    const full = setup({ maxAgeMs: 250, maxContributions: 3 }).window;
    full.add(0, [contribution('1'), contribution('2')], '2', 'a');
    expect(full.due()).toBe(false);
    full.add(1, [contribution('7')], '7', 'b');
    expect(full.due()).toBe(true);
  });

  it("hands over every partition's contributions once each, in ascending offsets, with each partition's last offset", async () => {
    const { window, applied, record } = setup();
    window.add(0, [contribution('10'), contribution('12')], '12', 'a');
    window.add(1, [contribution('5', 'i2')], '6', 'b');
    // A retried batch whose user side handed over offset 12 again, and a batch that counted nothing.
    window.add(0, [contribution('12'), contribution('9')], '13', 'c');
    window.add(1, [], '8', 'd');
    const flushed = await window.flush(record);
    expect(flushed.map((e) => e.tag)).toEqual(['a', 'b', 'c', 'd']);
    expect(applied).toHaveLength(1);
    const [{ batches, offsets, tags }] = applied as [(typeof applied)[number]];
    expect(batches.map((b) => [b.partition, b.contributions.map((c) => c.offset)])).toEqual([
      [0, ['9', '10', '12']],
      [1, ['5']],
    ]);
    expect([...offsets]).toEqual([
      [0, '13'],
      [1, '8'],
    ]);
    expect(tags).toEqual(['a', 'b', 'c', 'd']);
    expect(window.batches).toBe(0);
    expect(window.size).toBe(0);
    expect(await window.flush(record)).toEqual([]);
    expect(applied).toHaveLength(1);
  });

  it('keeps what a failed flush held, ahead of what came since, and applies it all next time', async () => {
    const { window, applied, record } = setup();
    window.add(0, [contribution('1')], '1', 'a');
    await expect(
      window.flush(async () => {
        window.add(0, [contribution('2')], '2', 'b');
        throw new Error('redis went away');
      }),
    ).rejects.toThrow('redis went away');
    expect(window.batches).toBe(2);
    expect(window.size).toBe(2);
    await window.flush(record);
    expect(applied[0]?.tags).toEqual(['a', 'b']);
    expect(applied[0]?.batches[0]?.contributions.map((c) => c.offset)).toEqual(['1', '2']);
  });

  it('forgets its batches on drop, also those of a flush that fails after it', async () => {
    const { window } = setup();
    window.add(0, [contribution('1')], '1', 'a');
    await expect(
      window.flush(async () => {
        window.drop();
        throw new Error('rebalanced');
      }),
    ).rejects.toThrow('rebalanced');
    expect(window.batches).toBe(0);
    window.add(0, [contribution('1')], '1', 'b');
    window.drop();
    expect(window.due()).toBe(false);
    expect(window.size).toBe(0);
  });
});
