const SLASH = 0x2f;
const EMPTY = -1;

/**
 * Relative paths by number, in typed arrays: a path is its parent's number and its last
 * component, whose bytes are in one pool, found again by an open-addressing hash of the two.
 * About 35 bytes a path, where a Map of latin1 keys took about 120 before what each node holds
 * (bench/path-table.mjs): the writer's directories and the model of a whole tree keep a record
 * per path, and an image of many small entries is small. 0 is the root (the empty path); a
 * number, once given, always names its path: nothing is removed, so the users keep whether
 * anything is there beside it. Components are those of a name normalizeName gave: no empty
 * one, each under 64 KiB.
 */
export class PathTable {
  private count = 1;
  private parents = new Int32Array(1024);
  private starts = new Uint32Array(1024);
  private lengths = new Uint16Array(1024);
  private pool = new Uint8Array(1 << 14);
  private poolUsed = 0;
  /** The numbers, by hash; EMPTY where none. Never over half full. */
  private slots = new Int32Array(2048).fill(EMPTY);

  /** How many numbers are given, the root's included: each is below it. */
  get size(): number {
    return this.count;
  }

  parentOf(id: number): number {
    return this.parents[id];
  }

  /** The number of `rel`, or EMPTY (-1) where it has none. */
  find(rel: Uint8Array): number {
    let id = 0;
    for (let from = 0; from < rel.length && id !== EMPTY; ) {
      const to = componentEnd(rel, from);
      id = this.slots[this.slotOf(id, rel, from, to)];
      from = to + 1;
    }
    return id;
  }

  /** The number of `rel`, given to it and its parents where they have none. */
  add(rel: Uint8Array): number {
    let id = 0;
    for (let from = 0; from < rel.length; ) {
      const to = componentEnd(rel, from);
      const slot = this.slotOf(id, rel, from, to);
      id = this.slots[slot] === EMPTY ? this.give(slot, id, rel, from, to) : this.slots[slot];
      from = to + 1;
    }
    return id;
  }

  /** The bytes of the path numbered `id`. */
  pathOf(id: number): Buffer {
    let length = -1;
    for (let at = id; at !== 0; at = this.parents[at]) length += this.lengths[at] + 1;
    const out = Buffer.allocUnsafe(Math.max(length, 0));
    for (let at = id, end = length; at !== 0; at = this.parents[at]) {
      const start = end - this.lengths[at];
      out.set(this.pool.subarray(this.starts[at], this.starts[at] + this.lengths[at]), start);
      if (start > 0) out[start - 1] = SLASH;
      end = start - 1;
    }
    return out;
  }

  /** The path numbered `id` as a latin1 string, which keeps every byte. */
  keyOf(id: number): string {
    return this.pathOf(id).toString('latin1');
  }

  /** How many components the path numbered `id` has: the root's 0. */
  depthOf(id: number): number {
    let depth = 0;
    for (let at = id; at !== 0; at = this.parents[at]) depth++;
    return depth;
  }

  /** The slot that holds the component bytes[from, to) below `parent`, or the empty one where it would go. */
  private slotOf(parent: number, bytes: Uint8Array, from: number, to: number): number {
    const mask = this.slots.length - 1;
    const length = to - from;
    let slot = hash(parent, bytes, from, to) & mask;
    for (let id; (id = this.slots[slot]) !== EMPTY; slot = (slot + 1) & mask) {
      if (this.parents[id] !== parent || this.lengths[id] !== length) continue;
      const start = this.starts[id];
      let k = 0;
      while (k < length && this.pool[start + k] === bytes[from + k]) k++;
      if (k === length) return slot;
    }
    return slot;
  }

  private give(slot: number, parent: number, bytes: Uint8Array, from: number, to: number): number {
    if (this.count === this.parents.length) {
      this.parents = grown(this.parents, this.count);
      this.starts = grown(this.starts, this.count);
      this.lengths = grown(this.lengths, this.count);
    }
    if (this.poolUsed + to - from > this.pool.length) this.pool = grown(this.pool, this.poolUsed + to - from);
    const id = this.count++;
    this.parents[id] = parent;
    this.starts[id] = this.poolUsed;
    this.lengths[id] = to - from;
    this.pool.set(bytes.subarray(from, to), this.poolUsed);
    this.poolUsed += to - from;
    this.slots[slot] = id;
    if (this.count * 2 > this.slots.length) this.rehash();
    return id;
  }

  private rehash(): void {
    this.slots = new Int32Array(this.slots.length * 2).fill(EMPTY);
    const mask = this.slots.length - 1;
    for (let id = 1; id < this.count; id++) {
      const start = this.starts[id];
      let slot = hash(this.parents[id], this.pool, start, start + this.lengths[id]) & mask;
      while (this.slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      this.slots[slot] = id;
    }
  }
}

type TypedArray = Int32Array | Uint32Array | Uint16Array | Uint8Array | Float64Array;

/** `array`, or a copy twice as long or more, so that `index` is in it; what is new is zero. */
export function grown<A extends TypedArray>(array: A, index: number): A {
  if (index < array.length) return array;
  let length = array.length * 2;
  while (length <= index) length *= 2;
  const copy = new (array.constructor as new (length: number) => A)(length);
  copy.set(array as never);
  return copy;
}

function componentEnd(rel: Uint8Array, from: number): number {
  const slash = rel.indexOf(SLASH, from);
  return slash < 0 ? rel.length : slash;
}

/** FNV-1a over the component, seeded by the parent. */
function hash(parent: number, bytes: Uint8Array, from: number, to: number): number {
  let h = Math.imul(parent ^ 0x811c9dc5, 0x9e3779b1);
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}
