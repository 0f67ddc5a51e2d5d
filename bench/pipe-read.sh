#!/usr/bin/env bash
# How Node best reads a decompressor's output: through the child's stdout stream, or from a
# FIFO with readSync, 1 MiB at a time (what src/decode/coprocess.ts does), with the FIFO at
# Linux's default 64 KiB or grown to 1 MiB, and in that last case, pausing 1 ms before each
# read after two short ones (under 16 KiB) until one finds 512 KiB or more, as
# src/decode/coprocess.ts does. Not a test: nothing is asserted.
#
#   bash bench/pipe-read.sh [IMAGE]     (default: test-images/real/fedora-like-zstd.img)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
command -v hyperfine >/dev/null || { echo "pipe-read: hyperfine is required (apt-get install hyperfine)" >&2; exit 1; }
npm run build >/dev/null
IMG=$(realpath "${1:-test-images/real/fedora-like-zstd.img}")
NODE=$PWD/node_modules/.bin/node
SHM=$(mktemp -d /dev/shm/pipe-read.XXXXXX)
trap 'rm -rf "$SHM"' EXIT
. bench/lib.sh
member=$(copy_main_member "$IMG" "$SHM/member")
format=${member%% *}
cat > "$SHM/read.mjs" <<'JS'
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, readSync } from 'node:fs';
const [how, member, format] = process.argv.slice(2);
const argv = [format, '-d', '-c', '-q'];
let bytes = 0;
if (how === 'stream') {
  const child = spawn(argv[0], argv.slice(1), { stdio: [openSync(member, 'r'), 'pipe', 'inherit'] });
  child.stdout.on('data', (chunk) => { bytes += chunk.length; });
  await new Promise((resolve) => child.on('close', resolve));
} else {
  const fifo = `${process.env.SHM}/fifo-${process.pid}`;
  spawnSync('mkfifo', [fifo]);
  const opener = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const write = openSync(fifo, constants.O_WRONLY);
  const read = openSync(fifo, constants.O_RDONLY);
  closeSync(opener);
  const grow = how.startsWith('fifo-1m') ? 'fcntl(STDOUT, 1031, 1 << 20); ' : '';
  const child = spawn('perl', ['-e', `${grow}exec { $ARGV[0] } @ARGV or die`, ...argv], { stdio: [openSync(member, 'r'), write, 'inherit'] });
  closeSync(write);
  const buf = Buffer.allocUnsafe(1 << 20);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let shortReads = 0;
  for (let n; ; bytes += n) {
    const pausing = how === 'fifo-1m-pause' && shortReads >= 2;
    if (pausing) Atomics.wait(cell, 0, 0, 1);
    if ((n = readSync(read, buf, 0, buf.length, null)) === 0) break;
    if (n < 16 << 10) shortReads++;
    else if (n >= 512 << 10 || !pausing) shortReads = 0;
  }
  await new Promise((resolve) => child.on('close', resolve));
}
if (bytes === 0) throw new Error('no output');
JS
export SHM
hyperfine --style basic --warmup 1 --runs "$RUNS" -N --output null \
  --command-name "$format -dc to /dev/null" "$format -dcq $SHM/member" \
  --command-name "node: child stdout stream" "$NODE $SHM/read.mjs stream $SHM/member $format" \
  --command-name "node: FIFO, 64 KiB, readSync" "$NODE $SHM/read.mjs fifo-64k $SHM/member $format" \
  --command-name "node: FIFO, 1 MiB, readSync" "$NODE $SHM/read.mjs fifo-1m $SHM/member $format" \
  --command-name "node: FIFO, 1 MiB, readSync, pausing" "$NODE $SHM/read.mjs fifo-1m-pause $SHM/member $format" \
  --command-name "node -e 0" "$NODE -e 0" \
  --export-json "$SHM/h.json" 2>&1 | grep -E '^(Benchmark|  Time)'
"$NODE" -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1])).results;
  console.log("# bench/pipe-read.sh " + process.argv[2] + ", " + new Date().toISOString().slice(0, 10) + ", medians (Node runs include its start):");
  for (const x of r) console.log(x.median.toFixed(3).padStart(7), "s ", x.command);
' "$SHM/h.json" "$(basename "$IMG")" | tee "bench/results/pipe-read-$format.txt"
