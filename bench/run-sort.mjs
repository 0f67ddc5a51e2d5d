// How a run of directory records is best sorted on V8's baseline tier, where the CLI runs
// (src/tiers.ts drops Maglev and TurboFan): into descending byte order of path, as
// src/extract/directory-runs.ts writes its runs. Not a test: nothing is asserted.
//
//   npm run build && node --no-maglev --no-turbofan --expose-gc bench/run-sort.mjs [PATHS]
//     (default 32768, dN/nM, 1,000 to a directory, shuffled; the first 16,384-path run holds some
//      16,400 records, the budget of 4 MiB of path bytes others)
//
// The milliseconds of a sort, the median of 15, and what the heap holds just after one (before
// any collection): what it leaves for the young generation, or beyond it, to collect.
//   comparator   Int32Array indices sorted by a comparator of our own, a byte loop
//   merge        the same comparator, through sortInPlace (src/extract/sort.ts, dist/): a merge sort
//                through one typed array in pages of its own, which diff and du sort paths by
//   strings      each path a latin1 string and its index after a NUL, sorted by the builtin
//   keys         descendingOrder (dist/): four bytes at a time in 64-bit keys, no comparator

const { descendingOrder } = await import(new URL('../dist/extract/directory-runs.js', import.meta.url).href);
const { sortInPlace } = await import(new URL('../dist/extract/sort.js', import.meta.url).href);

const count = Number(process.argv[2] ?? 32768);
const names = Array.from({ length: count }, (_, i) => Buffer.from(`d${Math.floor(i / 1000)}/n${i % 1000}`, 'latin1'));
for (let i = names.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [names[i], names[j]] = [names[j], names[i]];
}
const starts = new Uint32Array(count + 1);
names.forEach((name, i) => { starts[i + 1] = starts[i] + name.length; });
const pool = Buffer.concat(names);

function compareBytes(a, aFrom, aTo, b, bFrom, bTo) {
  const common = Math.min(aTo - aFrom, bTo - bFrom);
  for (let k = 0; k < common; k++) {
    const d = a[aFrom + k] - b[bFrom + k];
    if (d !== 0) return d;
  }
  return aTo - aFrom - (bTo - bFrom);
}

const ways = {
  comparator() {
    const order = new Int32Array(count).map((_, i) => i);
    return order.sort((x, y) => compareBytes(pool, starts[y], starts[y + 1], pool, starts[x], starts[x + 1]));
  },
  strings() {
    const keys = new Array(count);
    for (let i = 0; i < count; i++) keys[i] = `${pool.toString('latin1', starts[i], starts[i + 1])}\0${String.fromCharCode(i >>> 16, (i >>> 8) & 255, i & 255)}`;
    keys.sort();
    const order = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const key = keys[count - 1 - i];
      order[i] = (key.charCodeAt(key.length - 3) << 16) | (key.charCodeAt(key.length - 2) << 8) | key.charCodeAt(key.length - 1);
    }
    return order;
  },
  keys: () => descendingOrder(pool, starts),
  merge() {
    const order = new Uint32Array(count).map((_, i) => i);
    return sortInPlace(order, (x, y) => compareBytes(pool, starts[y], starts[y + 1], pool, starts[x], starts[x + 1]));
  },
};

const expected = [...names.keys()].sort((x, y) => Buffer.compare(names[y], names[x]));
const median = (values) => values.sort((x, y) => x - y)[values.length >> 1];
const onBaseline = process.execArgv.includes('--no-turbofan') && process.execArgv.includes('--no-maglev');
console.log(`# bench/run-sort.mjs, ${new Date().toISOString().slice(0, 10)}: ${count} paths, median of 15 sorts, Node ${process.version}${onBaseline ? ', --no-maglev --no-turbofan (as the CLI)' : ', optimizing tiers on (not as the CLI)'}`);
console.log('way            ms  heap_after_MB');
for (const [name, sort] of Object.entries(ways)) {
  const ms = [];
  const heap = [];
  for (let i = 0; i < 15; i++) {
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    const start = performance.now();
    const order = sort();
    ms.push(performance.now() - start);
    heap.push((process.memoryUsage().heapUsed - before) / 1e6);
    if (i === 0 && order.some((n, k) => n !== expected[k])) throw new Error(`${name} sorts wrongly`);
  }
  console.log(`${name.padEnd(12)} ${median(ms).toFixed(1).padStart(5)} ${median(heap).toFixed(2).padStart(14)}`);
}
