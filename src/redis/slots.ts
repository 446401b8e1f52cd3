/**
 * Redis Cluster hash slots, computed here so that a script's keys can be given a companion key in
 * the same slot (a script may only touch keys of one slot on a cluster). The stream's epoch fence
 * uses it: on a cluster, every slot has its own copy of the epoch, next to the keys it guards.
 */

export const SLOTS = 16384;

/** CRC16/XMODEM, as Redis Cluster hashes keys. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of `key`: of its hash tag (the part between the first `{` and the next `}`, if not empty), else of the whole key. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(Buffer.from(key.slice(open + 1, close))) % SLOTS;
  }
  return crc16(Buffer.from(key)) % SLOTS;
}

let tags: string[] | undefined;

/** For every slot, a short hash tag that lands in it (found once, by counting up: about 170,000 tries). */
export function slotTags(): readonly string[] {
  if (tags) return tags;
  const found: (string | undefined)[] = new Array<string | undefined>(SLOTS);
  let missing = SLOTS;
  for (let n = 0; missing > 0; n++) {
    const tag = n.toString(36);
    const slot = crc16(Buffer.from(tag)) % SLOTS;
    if (found[slot] === undefined) {
      found[slot] = tag;
      missing--;
    }
  }
  tags = found as string[];
  return tags;
}

/** `base` placed in slot `slot`: `base:{<tag>}` (base must not hold a hash tag of its own). */
export const inSlot = (base: string, slot: number): string => `${base}:{${slotTags()[slot]}}`;

/** `base` placed in the slot of `key`, so that one script can touch both. */
export const besideKey = (base: string, key: string): string => inSlot(base, keySlot(key));
