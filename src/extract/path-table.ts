import { freeNow } from '../decode/source.js';
const SLASH = 0x2f;
const EMPTY = -1;
/** A slot of no number: the root, 0, is never in one. */
const FREE = 0;

/**
 * Relative paths by number, in typed arrays: a path is its parent's number and its last
 * component, whose bytes are in one pool, found again by an open-addressing hash of the two.
 * About 19 bytes a path, where a Map of latin1 keys took about 120 before what each node holds
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
  private pool = new Uint8Array(1 << 14);
  private poolUsed = 0;
  /**
   * The numbers, by hash, FREE where none; never over three quarters full. A slot holds a number
   * in its low bits, as many as index the slots (a number is below the slots' count), and its
   * path's hash's bits above those: a probe sets aside a number of another hash without reading
   * anything of that number's, where a byte of hash by path, probed by number, took a random
   * read a probe and a byte a path, and the slots were kept half full.
   */
  private slots = new Int32Array(2048);
  /**
   * The parent of the last path walked, its bytes and number: an archive names a directory's
   * entries one after the other, so the next walk starts there, without a hash of each
   * component above it.
   */
  private lastParent = new Uint8Array(256);
  private lastParentLength = 0;
  private lastParentId = 0;

  /**
   * Frees the table's memory at once, where a collection might never come (a process that
   * describes one tree after another): the table is not used again.
   */
  release(): void {
    for (const array of [this.parents, this.starts, this.pool, this.slots, this.lastParent]) freeNow(array.buffer);
  }

  /**
   * Frees the hash by which paths are found, at once: the table goes on naming paths by number
   * (parentOf, pathOf, compare), but finds and adds none. For a user done with the names, whose
   * sums by path would otherwise stand beside the slots (a third of the table).
   */
  freeIndex(): void {
    freeNow(this.slots.buffer);
  }

  /** How many numbers are given, the root's included: each is below it. */
  get size(): number {
    return this.count;
  }

  parentOf(id: number): number {
    this.checkLive();
    return this.parents[id];
  }

  /** The number of `rel`, or EMPTY (-1) where it has none. */
  find(rel: Uint8Array): number {
    return this.walk(rel, false);
  }

  /** The number of `rel`, given to it and its parents where they have none. */
  add(rel: Uint8Array): number {
    return this.walk(rel, true);
  }

  /** The bytes of the path numbered `id`. */
  pathOf(id: number): Buffer {
    const out = Buffer.allocUnsafe(this.pathLength(id));
    this.writePath(id, out, 0);
    return out;
  }

  /** How many bytes the path numbered `id` has. */
  pathLength(id: number): number {
    this.checkLive();
    let length = -1;
    for (let at = id; at !== 0; at = this.parents[at]) length += this.lengthOf(at) + 1;
    return Math.max(length, 0);
  }

  /** Writes the path numbered `id` into `out` from `at`, where it has room; returns where it ends. */
  writePath(id: number, out: Uint8Array, at: number): number {
    const end = at + this.pathLength(id);
    for (let node = id, to = end; node !== 0; node = this.parents[node]) {
      // A loop, not set() of a subarray: a component is short, and a subarray an allocation.
      const from = to - this.lengthOf(node);
      for (let i = 0, start = this.starts[node]; i < to - from; i++) out[from + i] = this.pool[start + i];
      if (from > at) out[from - 1] = SLASH;
      to = from - 1;
    }
    return end;
  }

  /** How many components the path numbered `id` has: the root's 0. */
  depthOf(id: number): number {
    this.checkLive();
    let depth = 0;
    for (let at = id; at !== 0; at = this.parents[at]) depth++;
    return depth;
  }

  /**
   * The order of the paths numbered `a` and `b` by their bytes, as Buffer.compare gives it,
   * without writing either: a directory's own path comes before what is below it, but not
   * always right before it ("a" < "a-b" < "a/b", as '-' is below '/').
   */
  compare(a: number, b: number): number {
    if (a === b) return 0;
    let x = a;
    let y = b;
    let depthX = this.depthOf(a);
    let depthY = this.depthOf(b);
    // Whether the path goes on below x (y): a slash follows x's (y's) last byte.
    let xGoesOn = depthX > depthY;
    let yGoesOn = depthY > depthX;
    for (; depthX > depthY; depthX--) x = this.parents[x];
    for (; depthY > depthX; depthY--) y = this.parents[y];
    if (x === y) return xGoesOn ? 1 : -1;
    while (this.parents[x] !== this.parents[y]) {
      x = this.parents[x];
      y = this.parents[y];
      xGoesOn = yGoesOn = true;
    }
    // lengthOf, written out: a sort calls this a million times, on the baseline tiers, which inline no call.
    const startX = this.starts[x];
    const startY = this.starts[y];
    const lengthX = (x + 1 < this.count ? this.starts[x + 1] : this.poolUsed) - startX;
    const lengthY = (y + 1 < this.count ? this.starts[y + 1] : this.poolUsed) - startY;
    const common = Math.min(lengthX, lengthY);
    for (let k = 0; k < common; k++) {
      const d = this.pool[startX + k] - this.pool[startY + k];
      if (d !== 0) return d;
    }
    // One component begins the other (two of one parent are never the same): what follows it decides.
    const nextX = lengthX > common ? this.pool[startX + common] : xGoesOn ? SLASH : -1;
    const nextY = lengthY > common ? this.pool[startY + common] : yGoesOn ? SLASH : -1;
    return nextX - nextY;
  }

  private walk(rel: Uint8Array, adding: boolean): number {
    this.checkLive();
    // A probe of no slots would never end.
    if (this.slots.length === 0) throw new Error('a path table looked in after its index was freed');
    let id = 0;
    let from = 0;
    const known = this.lastParentLength;
    if (known > 0 && rel.length > known && rel[known] === SLASH && startsWith(rel, this.lastParent, known)) {
      id = this.lastParentId;
      from = known + 1;
    }
    let parent = id;
    let parentEnd = from - 1;
    while (from < rel.length) {
      const to = componentEnd(rel, from);
      const hashed = hash(id, rel, from, to);
      const slot = this.slotOf(id, rel, from, to, hashed);
      let next = this.slots[slot] & (this.slots.length - 1);
      if (next === FREE) {
        if (!adding) return EMPTY;
        next = this.give(slot, id, rel, from, to, hashed);
      }
      if (to < rel.length) {
        parent = next;
        parentEnd = to;
      }
      id = next;
      from = to + 1;
    }
    if (parentEnd > 0 && parent !== this.lastParentId) this.remember(parent, rel, parentEnd);
    return id;
  }

  /**
   * Throws once the table is released (its arrays detached, of length 0; grown makes none
   * so short): a walk up its parents or a probe of its slots would never end.
   */
  private checkLive(): void {
    if (this.parents.length === 0) throw new Error('a path table used after its release');
  }

  /**
   * How many bytes the last component of the path numbered `id` has: up to where the next
   * number's starts, as each number's component is added to the pool after the one before (a
   * length a path, and its whole hash, which the table once kept, took 6 of its 30-odd bytes).
   */
  private lengthOf(id: number): number {
    return (id + 1 < this.count ? this.starts[id + 1] : this.poolUsed) - this.starts[id];
  }

  private remember(id: number, rel: Uint8Array, length: number): void {
    if (length > this.lastParent.length) this.lastParent = new Uint8Array(length * 2);
    this.lastParent.set(rel.subarray(0, length));
    this.lastParentLength = length;
    this.lastParentId = id;
  }

  /** The slot that holds the component bytes[from, to) below `parent`, or the empty one where it would go. */
  private slotOf(parent: number, bytes: Uint8Array, from: number, to: number, hashed: number): number {
    const mask = this.slots.length - 1;
    const length = to - from;
    let slot = hashed & mask;
    for (let held; (held = this.slots[slot]) !== FREE; slot = (slot + 1) & mask) {
      if (((held ^ hashed) & ~mask) !== 0) continue;
      const id = held & mask;
      if (this.parents[id] !== parent) continue;
      // lengthOf, written out: the baseline tiers the CLI runs on inline no call.
      const start = this.starts[id];
      if ((id + 1 < this.count ? this.starts[id + 1] : this.poolUsed) - start !== length) continue;
      let k = 0;
      while (k < length && this.pool[start + k] === bytes[from + k]) k++;
      if (k === length) return slot;
    }
    return slot;
  }

  private give(slot: number, parent: number, bytes: Uint8Array, from: number, to: number, hashed: number): number {
    if (this.count === this.parents.length) {
      this.parents = grown(this.parents, this.count);
      this.starts = grown(this.starts, this.count);
    }
    if (this.poolUsed + to - from > this.pool.length) this.pool = grown(this.pool, this.poolUsed + to - from);
    const id = this.count++;
    this.parents[id] = parent;
    this.starts[id] = this.poolUsed;
    this.pool.set(bytes.subarray(from, to), this.poolUsed);
    this.poolUsed += to - from;
    this.slots[slot] = (hashed & ~(this.slots.length - 1)) | id;
    if (this.count * 4 > this.slots.length * 3) {
      // Each number hashed again from its bytes: a slot holds only part of its hash.
      const hashOf = (id: number) => hash(this.parents[id], this.pool, this.starts[id], this.starts[id] + this.lengthOf(id));
      this.slots = doubledSlots(this.slots, 1, this.count, hashOf, (id, hashed, mask) => (hashed & ~mask) | id, FREE);
    }
    return id;
  }
}

/**
 * The slots of an open-addressing hash of the numbers `first` to `end` (exclusive), twice as
 * many as `old`, each number at the first free slot from its hash: `old`'s memory, grown in
 * place (grown), as the numbers are hashed again from `hashOf`, not from `old`. A slot holds what
 * `held` makes of a number, its hash and the new mask (the number itself by default; the path
 * table packs the hash in beside it), and `free` where none.
 */
export function doubledSlots(
  old: Int32Array<ArrayBuffer>,
  first: number,
  end: number,
  hashOf: (id: number) => number,
  held: (id: number, hashed: number, mask: number) => number = (id) => id,
  free = EMPTY,
): Int32Array<ArrayBuffer> {
  const slots = resized(old, old.length * 2).fill(free);
  const mask = slots.length - 1;
  for (let id = first; id < end; id++) {
    const hashed = hashOf(id);
    let slot = hashed & mask;
    while (slots[slot] !== free) slot = (slot + 1) & mask;
    slots[slot] = held(id, hashed, mask);
  }
  return slots;
}

/** The length past which grown() adds a quarter, not the length. */
const GROW_BY_QUARTERS = 1 << 16;

export type TypedArray = Int32Array | Uint32Array | Uint16Array | Uint8Array | Float64Array;

/**
 * `array`, or a longer one so that `index` is in it, what is new `fill`: twice as long up to 2^16
 * elements, and a quarter longer past that, so that a large array holds at most a quarter more
 * than it needs, where doubling left up to half of it unused, and a step of every array by path
 * doubled them all at one number (by hand, at 300,150 hard links, `du` peaked at 90.2 MB by doubling,
 * 79.3 by quarters, and `cat` at 95.6 and 85.8). The arrays that grow together (by path, by
 * record) have the same length, so they step alike.
 *
 * The first time it grows, an array moves into memory of its own pages (a resizable ArrayBuffer,
 * which V8 reserves with mmap, apart from the C library's heap), where it then grows in place: a
 * step copies nothing, and holds no old array beside the new one. What freeNow frees goes back to
 * the system at once. Moved by `transfer` within the C library's heap, a large array's free
 * raised the heap's mmap threshold to its size, and the arrays and buffers after it, no larger,
 * stayed in a heap that gives back only its top: `diff` of 100,050 hard links peaked at 70.1 MB
 * that way, 65.6 in pages of their own (by hand). `array`, where it moved, is detached: only the
 * one returned is used after.
 */
export function grown<A extends TypedArray>(array: A, index: number, fill = 0): A {
  if (index < array.length) return array;
  const old = array.length;
  let length = Math.max(old, 1);
  while (length <= index) length = length < GROW_BY_QUARTERS ? length * 2 : length + Math.ceil(length / 4);
  const bigger = resized(array, length);
  if (fill !== 0) bigger.fill(fill, old);
  return bigger;
}

/**
 * A new array of `length` zeros in memory of its own pages (see grown): for one of many elements
 * made and freed (freeNow) while the arrays that grow are held.
 */
export function pagedArray<A extends TypedArray>(Type: { new (buffer: ArrayBuffer): A }, length: number): A {
  const bytes = length * (Type as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  return new Type(ownPages(bytes, bytes));
}

/** `array`, `length` elements long, in memory of its own pages (see grown). */
function resized<A extends TypedArray>(array: A, length: number): A {
  const bytes = length * array.BYTES_PER_ELEMENT;
  const buffer = array.buffer as ArrayBuffer;
  if (buffer.resizable && bytes <= buffer.maxByteLength) {
    buffer.resize(bytes);
    return array;
  }
  // A view of no length of its own follows the buffer's as it grows.
  const moved = new (array.constructor as new (buffer: ArrayBuffer) => A)(ownPages(bytes, Math.max(RESERVED_BYTES, bytes * 8)));
  moved.set(array);
  freeNow(buffer);
  return moved;
}

/**
 * `bytes` of zeros in a buffer that may grow to `reserve` in place; where the address space is
 * limited (ulimit -v) and the reservation is refused, a buffer of `bytes` alone, which the next
 * step moves.
 */
function ownPages(bytes: number, reserve: number): ArrayBuffer {
  try {
    return new ArrayBuffer(bytes, { maxByteLength: reserve });
  } catch (err) {
    if (!(err instanceof RangeError) || reserve === bytes) throw err;
    return new ArrayBuffer(bytes, { maxByteLength: bytes });
  }
}

/**
 * The address space an array that grows reserves: pages are taken only as it grows into them,
 * and given back when it is freed. Dozens of arrays reserve a few GiB of a 64-bit process's
 * 128 TiB; one past it moves once more, into eight times its size.
 */
const RESERVED_BYTES = 1 << 28;

function startsWith(rel: Uint8Array, prefix: Uint8Array, length: number): boolean {
  for (let i = length - 1; i >= 0; i--) if (rel[i] !== prefix[i]) return false;
  return true;
}

/** Where the component at `from` ends: a loop, as a component is short and Buffer's indexOf is a call into C++. */
function componentEnd(rel: Uint8Array, from: number): number {
  let to = from;
  while (to < rel.length && rel[to] !== SLASH) to++;
  return to;
}

/** FNV-1a over the component, seeded by the parent. */
function hash(parent: number, bytes: Uint8Array, from: number, to: number): number {
  let h = Math.imul(parent ^ 0x811c9dc5, 0x9e3779b1);
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}
