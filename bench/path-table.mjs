// What a path table in typed arrays would take per path, against the Map of latin1 keys the
// model is (src/extract/model.ts): a prototype, not the project's code, for the design that
// docs/performance.md weighs (bench/entries.sh, stop 43). Not a test: nothing is asserted.
//
//   node --expose-gc bench/path-table.mjs [PATHS]      (default 300000: dN/nM, 1,000 to a directory)
//
// A path is its parent's index and its last component in a byte pool, found by an
// open-addressing hash of the two. Bytes a path: heapUsed plus arrayBuffers after a full
// collection, less before, the median of 7 builds; "growing" doubles its arrays as paths come, "presized" knows their
// number. The Map holds the same keys, each with a two-field object, as the model's nodes.

class PathTable {
  constructor(capacity) {
    this.count = 1; // 0 is the root
    this.parent = new Int32Array(capacity);
    this.start = new Uint32Array(capacity);
    this.length = new Uint16Array(capacity);
    this.pool = new Uint8Array(1 << 16);
    this.poolUsed = 0;
    this.slots = new Int32Array(2 ** Math.ceil(Math.log2(Math.max(capacity, 1024) * 2))).fill(-1);
  }

  hash(parent, bytes, from, to) {
    let h = Math.imul(parent, 0x9e3779b1);
    for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
    return h >>> 0;
  }

  /** The index of the component bytes[from, to) below `parent`, added if new. */
  child(parent, bytes, from, to) {
    const mask = this.slots.length - 1;
    let slot = this.hash(parent, bytes, from, to) & mask;
    for (let id; (id = this.slots[slot]) >= 0; slot = (slot + 1) & mask) {
      if (this.parent[id] !== parent || this.length[id] !== to - from) continue;
      const at = this.start[id];
      let k = 0;
      while (k < to - from && this.pool[at + k] === bytes[from + k]) k++;
      if (k === to - from) return id;
    }
    if (this.count === this.parent.length) this.grow();
    if (this.poolUsed + to - from > this.pool.length) this.pool = copyInto(new Uint8Array(this.pool.length * 2), this.pool);
    const id = this.count++;
    this.parent[id] = parent;
    this.start[id] = this.poolUsed;
    this.length[id] = to - from;
    this.pool.set(bytes.subarray(from, to), this.poolUsed);
    this.poolUsed += to - from;
    this.slots[slot] = id;
    if (this.count * 2 > this.slots.length) this.rehash();
    return id;
  }

  grow() {
    const capacity = this.parent.length * 2;
    this.parent = copyInto(new Int32Array(capacity), this.parent);
    this.start = copyInto(new Uint32Array(capacity), this.start);
    this.length = copyInto(new Uint16Array(capacity), this.length);
  }

  rehash() {
    this.slots = new Int32Array(this.slots.length * 2).fill(-1);
    const mask = this.slots.length - 1;
    for (let id = 1; id < this.count; id++) {
      const at = this.start[id];
      let slot = this.hash(this.parent[id], this.pool, at, at + this.length[id]) & mask;
      while (this.slots[slot] >= 0) slot = (slot + 1) & mask;
      this.slots[slot] = id;
    }
  }

  /** The index of the path `rel`, its parents added as needed. */
  add(rel) {
    let id = 0;
    for (let from = 0; from <= rel.length; ) {
      let to = rel.indexOf(0x2f, from);
      if (to < 0) to = rel.length;
      id = this.child(id, rel, from, to);
      from = to + 1;
    }
    return id;
  }
}

function copyInto(to, from) {
  to.set(from);
  return to;
}

const paths = Number(process.argv[2] ?? 300000);
const name = (i) => `d${Math.floor(i / 1000)}/n${i % 1000}`;
const TRIALS = 7;
/**
 * The median of TRIALS builds, each from a full collection to a full collection: a build's
 * buffers are not always freed by the next one's first collection, which moves single trials.
 */
function bytesPerPath(build) {
  const trials = [];
  for (let i = 0; i < TRIALS; i++) {
    globalThis.keep = undefined;
    globalThis.gc();
    const before = process.memoryUsage();
    globalThis.keep = build();
    globalThis.gc();
    const after = process.memoryUsage();
    trials.push((after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers) / paths);
  }
  trials.sort((x, y) => x - y);
  return trials[TRIALS >> 1].toFixed(1);
}
const table = (capacity) => () => {
  const t = new PathTable(capacity);
  for (let i = 0; i < paths; i++) t.add(Buffer.from(name(i), 'latin1'));
  return t;
};
console.log(`# bench/path-table.mjs, ${new Date().toISOString().slice(0, 10)}: ${paths} paths, bytes a path (heapUsed + arrayBuffers), median of ${TRIALS} builds, Node ${process.version}`);
console.log(`path table, growing   ${bytesPerPath(table(1024))}`);
console.log(`path table, presized  ${bytesPerPath(table(paths + 1 + Math.ceil(paths / 1000)))}`);
console.log(`Map of latin1 keys    ${bytesPerPath(() => {
  const map = new Map();
  for (let i = 0; i < paths; i++) map.set(name(i), { type: 'file', from: undefined });
  return map;
})}`);
