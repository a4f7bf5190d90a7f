// The identities (email, external_id) already seen in a file, with the line each was first seen on,
// in bounded memory: a million rows of a CRM export must not need a million strings. Each value is
// kept as a 64-bit hash (two 32-bit halves) in typed arrays, about 24 bytes per value; two different
// values share a hash with a probability near n²/2⁶⁵ (3·10⁻⁸ for a million values).

/** cyrb53's mixing, both 32-bit halves kept. */
function hash(value: string): [number, number] {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

export class SeenValues {
  #capacity = 1024;
  #size = 0;
  #hashes = new Uint32Array(this.#capacity * 2);
  /** 0: an empty slot (lines count from 1). */
  #lines = new Uint32Array(this.#capacity);

  /** The line `value` was first seen on, or null (and `line` is recorded for it). */
  firstLine(value: string, line: number): number | null {
    const [h1, h2] = hash(value);
    const slot = this.#find(h1, h2);
    if (this.#lines[slot] !== 0) return this.#lines[slot];
    this.#hashes[slot * 2] = h1;
    this.#hashes[slot * 2 + 1] = h2;
    this.#lines[slot] = line;
    if (++this.#size * 2 > this.#capacity) this.#grow();
    return null;
  }

  /** The slot holding (h1, h2), or the empty slot where it goes (open addressing, linear probing). */
  #find(h1: number, h2: number): number {
    const mask = this.#capacity - 1;
    for (let slot = h1 & mask;; slot = (slot + 1) & mask) {
      if (this.#lines[slot] === 0 || (this.#hashes[slot * 2] === h1 && this.#hashes[slot * 2 + 1] === h2)) return slot;
    }
  }

  #grow() {
    const [hashes, lines] = [this.#hashes, this.#lines];
    this.#capacity *= 2;
    this.#hashes = new Uint32Array(this.#capacity * 2);
    this.#lines = new Uint32Array(this.#capacity);
    for (let old = 0; old < lines.length; old++) {
      if (lines[old] === 0) continue;
      const slot = this.#find(hashes[old * 2], hashes[old * 2 + 1]);
      this.#hashes[slot * 2] = hashes[old * 2];
      this.#hashes[slot * 2 + 1] = hashes[old * 2 + 1];
      this.#lines[slot] = lines[old];
    }
  }
}
