// What the path table (src/extract/path-table.ts, through dist/) takes per path, against a Map of
// latin1 keys, as the model of the tree and the writer's directory records were before it. Not
// a test: nothing is asserted.
//
//   npm run build && node --expose-gc bench/path-table.mjs [PATHS]   (default 300000: dN/nM, 1,000 to a directory)
//
// Bytes a path: heapUsed plus arrayBuffers after a full collection, less before, and the bytes
// of the typed arrays the build holds in memory of their own pages (a path table's, which grow in
// resizable ArrayBuffers that arrayBuffers does not count), the median of 7 builds; and the milliseconds a build takes (adding every path, then finding each once). The
// Map holds the same keys, each with a two-field object, as the model's nodes were.

const { PathTable } = await import(new URL('../dist/extract/path-table.js', import.meta.url).href);

const paths = Number(process.argv[2] ?? 300000);
const names = Array.from({ length: paths }, (_, i) => Buffer.from(`d${Math.floor(i / 1000)}/n${i % 1000}`, 'latin1'));
const TRIALS = 7;
const median = (values) => values.sort((x, y) => x - y)[values.length >> 1];

/** The bytes of `built`'s typed arrays in resizable buffers, which V8 maps apart from those it counts. */
function ownPages(built) {
  let sum = 0;
  for (const value of Object.values(built)) if (ArrayBuffer.isView(value) && value.buffer.resizable) sum += value.byteLength;
  return sum;
}

/**
 * The medians of TRIALS builds, each from a full collection to a full collection: a build's
 * buffers are not always freed by the next one's first collection, which moves single trials.
 */
function measure(build) {
  const bytes = [];
  const ms = [];
  for (let i = 0; i < TRIALS; i++) {
    globalThis.keep = undefined;
    globalThis.gc();
    const before = process.memoryUsage();
    const start = performance.now();
    globalThis.keep = build();
    ms.push(performance.now() - start);
    globalThis.gc();
    const after = process.memoryUsage();
    bytes.push((after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers + ownPages(globalThis.keep)) / paths);
  }
  return `${median(bytes).toFixed(1).padStart(8)}  ${median(ms).toFixed(0).padStart(6)}`;
}

console.log(`# bench/path-table.mjs, ${new Date().toISOString().slice(0, 10)}: ${paths} paths, median of ${TRIALS} builds (add each, then find each), Node ${process.version}`);
console.log('what                 bytes/path      ms');
console.log(`PathTable            ${measure(() => {
  const table = new PathTable();
  for (const name of names) table.add(name);
  for (const name of names) if (table.find(name) < 0) throw new Error('lost');
  return table;
})}`);
console.log(`Map of latin1 keys   ${measure(() => {
  const map = new Map();
  for (const name of names) map.set(name.toString('latin1'), { type: 'file', from: undefined });
  for (const name of names) if (!map.has(name.toString('latin1'))) throw new Error('lost');
  return map;
})}`);
