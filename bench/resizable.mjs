// Typed arrays over a resizable ArrayBuffer (length-tracking, as grown() in
// src/extract/path-table.ts makes them) against plain ones: writes and reads of every element,
// on whatever tiers node is started with. Not a test: nothing is asserted.
//
//   node --no-maglev --no-turbofan bench/resizable.mjs [ELEMENTS]   (as the CLI runs; default 4,000,000)
//   node bench/resizable.mjs [ELEMENTS]                            (optimizing tiers on)
//
// Milliseconds of 5 rounds (each: a write of every element, then a read of every element in a
// scattered order), the median of 5 runs, each kind in turn.

const count = Number(process.argv[2] ?? 4_000_000);
const kinds = {
  plain: () => new Int32Array(count),
  resizable: () => new Int32Array(new ArrayBuffer(count * 4, { maxByteLength: 1 << 30 })),
};

function rounds(array) {
  const start = performance.now();
  let sum = 0;
  for (let r = 0; r < 5; r++) {
    for (let i = 0; i < count; i++) array[i] = i ^ r;
    for (let i = 0; i < count; i++) sum += array[(i * 7919) % count];
  }
  if (sum === -1) throw new Error('unreachable');
  return performance.now() - start;
}

const times = Object.fromEntries(Object.keys(kinds).map((kind) => [kind, []]));
for (let run = 0; run < 5; run++) for (const [kind, make] of Object.entries(kinds)) times[kind].push(rounds(make()));
const median = (values) => values.sort((x, y) => x - y)[values.length >> 1];
const tiers = process.execArgv.includes('--no-turbofan') && process.execArgv.includes('--no-maglev') ? '--no-maglev --no-turbofan (as the CLI)' : 'optimizing tiers on (not as the CLI)';
console.log(`# bench/resizable.mjs, ${new Date().toISOString().slice(0, 10)}: ${count} elements, 5 rounds, median of 5 runs, Node ${process.version}, ${tiers}`);
console.log('kind              ms');
for (const [kind, values] of Object.entries(times)) console.log(`${kind.padEnd(12)} ${median(values).toFixed(0).padStart(7)}`);
