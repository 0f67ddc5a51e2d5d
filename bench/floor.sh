#!/usr/bin/env bash
# The least a Node program takes: bench/floor.mjs, which lists or unpacks an image reading it
# as ours does but checking nothing, beside ours, 3cpio and `node -e 0` in one hyperfine run
# per image and command. Where the floor less `node -e 0` is over 3cpio's time, issue 10's
# target "ours less Node's start within 3cpio's" is out of reach of a Node program that reads
# the image this way, on the machine; ours ÷ floor is what is left to take. Not a test: nothing is asserted.
#
#   bash bench/floor.sh [IMAGE...]   (default: the real uncompressed and zstd images, the two
#                                      that floor.mjs reads and ours is behind 3cpio on)
#
# list and examine write nothing (the floor's list stands for both: examine reads the same
# headers); unpack goes into a tmpfs (/dev/shm). Results: bench/results/floor.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
command -v hyperfine >/dev/null || { echo "floor: hyperfine is required (apt-get install hyperfine)" >&2; exit 1; }
THREECPIO=$PWD/test-images/dracut-ng/3cpio/bin/3cpio
[ -x "$THREECPIO" ] || bash test-images/get-dracut-ng.sh test-images/dracut-ng >/dev/null
npm run build >/dev/null
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(test-images/real/fedora-like-none.img test-images/real/fedora-like-zstd.img)
NODE=$PWD/node_modules/.bin/node
CLI="$NODE $PWD/bin/initramfs-restore.js"
FLOOR="$NODE $PWD/bench/floor.mjs"
OUT=bench/results
mkdir -p "$OUT"
SHM=$(mktemp -d /dev/shm/floor.XXXXXX)
RAW=$(mktemp -d)
trap 'rm -rf "$SHM" "$RAW"' EXIT

for img in "${images[@]}"; do
  img=$(realpath "$img")
  name=$(basename "$img" .img)
  hyperfine --style none --warmup 1 --runs "$RUNS" -N \
    --prepare "rm -rf $SHM/floor $SHM/ours $SHM/3cpio" \
    --command-name floor "$FLOOR unpack $img $SHM/floor" \
    --command-name ours "$CLI unpack $img $SHM/ours" \
    --command-name 3cpio "$THREECPIO -x -C $SHM/3cpio $img" \
    --command-name node-e-0 "$NODE -e 0" \
    --export-json "$RAW/$name-unpack.json" >/dev/null 2>"$RAW/hyperfine.log" || { cat "$RAW/hyperfine.log" >&2; exit 1; }
  rm -rf "$SHM/floor" "$SHM/ours" "$SHM/3cpio"
  hyperfine --style none --warmup 1 --runs "$RUNS" -N --output null \
    --command-name floor "$FLOOR list $img" \
    --command-name ours "$CLI list $img" \
    --command-name ours-examine "$CLI examine $img" \
    --command-name 3cpio "$THREECPIO -t $img" \
    --command-name 3cpio-examine "$THREECPIO -e $img" \
    --command-name node-e-0 "$NODE -e 0" \
    --export-json "$RAW/$name-list.json" >/dev/null 2>"$RAW/hyperfine.log" || { cat "$RAW/hyperfine.log" >&2; exit 1; }
done

"$NODE" - "$RAW" "$RUNS" "$(df --output=fstype "$SHM" | tail -1)" "${images[@]}" > "$OUT/floor.txt" <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const [raw, runs, fstype, ...images] = process.argv.slice(2);
const cpu = fs.readFileSync('/proc/cpuinfo', 'latin1').match(/model name\s*:\s*(.*)/)[1].trim();
console.log(`# bench/floor.sh, ${new Date().toISOString().slice(0, 10)}: ${require('node:os').availableParallelism()} cores ${cpu}; medians of ${runs} hyperfine runs after a warm-up; seconds`);
console.log('# floor: bench/floor.mjs, the least a Node program does (no checks, no owners, modes or times); unpack into ' + fstype + ' (/dev/shm)');
console.log('# −node÷3cpio: less `node -e 0` of the same run, divided by 3cpio; ours÷floor: what is left to take');
const head = ['image', 'command', 'node -e 0', '3cpio', 'floor', 'ours', 'floor−node÷3cpio', 'ours−node÷3cpio', 'ours÷floor'];
const rows = [head];
for (const image of images) {
  const name = path.basename(image, '.img');
  for (const [command, file, ours, peer] of [
    ['unpack', 'unpack', 'ours', '3cpio'],
    ['list', 'list', 'ours', '3cpio'],
    ['examine', 'list', 'ours-examine', '3cpio-examine'],
  ]) {
    const results = JSON.parse(fs.readFileSync(path.join(raw, `${name}-${file}.json`))).results;
    const m = (n) => results.find((r) => r.command === n).median;
    const node = m('node-e-0');
    rows.push([name, command, node, m(peer), m('floor'), m(ours), (m('floor') - node) / m(peer), (m(ours) - node) / m(peer), m(ours) / m('floor')]
      .map((v, i) => (typeof v === 'string' ? v : v.toFixed(i < 6 ? 3 : 2))));
  }
}
const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((v, i) => (i < 2 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  '));
EOF
cat "$OUT/floor.txt"
