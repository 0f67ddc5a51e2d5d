#!/usr/bin/env bash
# create against 3cpio --create and GNU cpio -o, on the same tree, side by side in one hyperfine
# run per compression. Not a test: nothing is asserted.
#
#   bash bench/create.sh [IMAGE]    (default: test-images/real/fedora-like-none.img)
#
# The tree is IMAGE unpacked into a tmpfs (/dev/shm); every archive is written there too.
#   none   ours: create OUT TREE           3cpio --create OUT < list     cpio -o -H newc > OUT
#   zstd   ours: create OUT TREE --compress zstd (node:zlib, level 3)
#          3cpio with "#cpio: zstd -3"     cpio -o -H newc | zstd -3
# The list both peers read is `find . | sort`, made once; ours walks and sorts the tree itself.
# Peak RSS by GNU time. Results: bench/results/create.{txt,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
for tool in hyperfine cpio zstd; do
  command -v $tool >/dev/null || { echo "create: $tool is required (apt-get install $tool)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "create: /usr/bin/time is required (apt-get install time)" >&2; exit 1; }
THREECPIO=$PWD/test-images/dracut-ng/3cpio/bin/3cpio
[ -x "$THREECPIO" ] || bash test-images/get-dracut-ng.sh test-images/dracut-ng >/dev/null
npm run build >/dev/null

image=$(realpath "${1:-test-images/real/fedora-like-none.img}")
NODE=$PWD/node_modules/.bin/node
CLI="$NODE $PWD/bin/initramfs-restore.js"
OUT=bench/results
mkdir -p "$OUT"
SHM=$(mktemp -d /dev/shm/create.XXXXXX)
RAW=$(mktemp -d)
trap 'rm -rf "$SHM" "$RAW"' EXIT

$CLI unpack "$image" "$SHM/tree" >/dev/null
(cd "$SHM/tree" && find . | LC_ALL=C sort > "$SHM/list")
{ echo '#cpio: zstd -3'; cat "$SHM/list"; } > "$SHM/list-zstd"
entries=$(wc -l < "$SHM/list")
bytes=$(du -sb --apparent-size "$SHM/tree" | cut -f1)

# One hyperfine run of the three writers and `node -e 0` into $SHM/WRITER.$2, timings in
# $RAW/$1.json: $3 create's options, $4 3cpio's manifest, $5 what GNU cpio's output goes through.
race() {
  hyperfine --style none --warmup 1 --runs "$RUNS" -N \
    --command-name ours "$CLI create $SHM/ours.$2 $SHM/tree $3" \
    --command-name 3cpio "bash -c 'cd $SHM/tree && $THREECPIO --create $SHM/3cpio.$2 < $4'" \
    --command-name cpio "bash -c 'cd $SHM/tree && cpio -o -H newc --quiet < $SHM/list $5 > $SHM/cpio.$2'" \
    --command-name node-e-0 "$NODE -e 0" \
    --export-json "$RAW/$1.json" >/dev/null
}
race none cpio '' "$SHM/list" ''
race zstd zst '--compress zstd' "$SHM/list-zstd" '| zstd -3 -q'

rss() { /usr/bin/time -f '%M' bash -c "$1" 2>&1 >/dev/null | tail -1; }
{
  echo "none $(rss "$CLI create $SHM/r.cpio $SHM/tree") $(rss "cd $SHM/tree && $THREECPIO --create $SHM/r3.cpio < $SHM/list")"
  echo "zstd $(rss "$CLI create $SHM/r.zst $SHM/tree --compress zstd") $(rss "cd $SHM/tree && $THREECPIO --create $SHM/r3.zst < $SHM/list-zstd")"
} > "$RAW/rss.txt"
sizes="$(stat -c %s "$SHM/ours.cpio" "$SHM/3cpio.cpio" "$SHM/cpio.cpio" "$SHM/ours.zst" "$SHM/3cpio.zst" "$SHM/cpio.zst" | tr '\n' ' ')"

"$NODE" - "$RAW" "$(df --output=fstype "$SHM" | tail -1)" "$RUNS" "$image" "$entries" "$bytes" "$sizes" > "$OUT/create.txt" <<'EOF'
const fs = require('node:fs');
const [raw, fstype, runs, image, entries, bytes, sizes] = process.argv.slice(2);
const median = (name, command) => {
  const r = JSON.parse(fs.readFileSync(`${raw}/${name}.json`)).results.find((x) => x.command === command);
  return r.median;
};
const rss = Object.fromEntries(fs.readFileSync(`${raw}/rss.txt`, 'utf8').trim().split('\n').map((l) => { const [k, a, b] = l.split(' '); return [k, [a, b]]; }));
const [oursNone, threeNone, cpioNone, oursZst, threeZst, cpioZst] = sizes.trim().split(' ').map(Number);
const out = { date: new Date().toISOString().slice(0, 10), fstype, runs: Number(runs), image, entries: Number(entries), treeBytes: Number(bytes), rows: [] };
const lines = [
  `# bench/create.sh, ${out.date}: ${require('node:os').cpus().length} cores ${require('node:os').cpus()[0].model.trim()}; medians of ${runs} hyperfine runs after a warm-up`,
  `# the tree of ${image.split('/').pop()} (${entries} entries, ${(bytes / 1e6).toFixed(1)} MB) on ${fstype}, archives written there`,
  '# ÷: ours divided by the peer. "−node": ours less `node -e 0` timed in the same run, divided by 3cpio.',
  '',
  'archive   ours_s  3cpio_s  cpio_s  ÷3cpio  ÷cpio  −node÷3cpio  ours_MB  3cpio_MB  rss_ours_MB  rss_3cpio_MB',
];
for (const [name, sizesOf] of [['none', [oursNone, threeNone]], ['zstd', [oursZst, threeZst]]]) {
  const [ours, three, cpio, node] = ['ours', '3cpio', 'cpio', 'node-e-0'].map((c) => median(name, c));
  const row = { archive: name, ours, threeCpio: three, cpio, node, oursBytes: sizesOf[0], threeCpioBytes: sizesOf[1], rssKiB: { ours: Number(rss[name][0]), threeCpio: Number(rss[name][1]) } };
  out.rows.push(row);
  lines.push([name.padEnd(8), ours.toFixed(3).padStart(7), three.toFixed(3).padStart(8), cpio.toFixed(3).padStart(7),
    (ours / three).toFixed(2).padStart(7), (ours / cpio).toFixed(2).padStart(6), ((ours - node) / three).toFixed(2).padStart(12),
    (sizesOf[0] / 1e6).toFixed(1).padStart(8), (sizesOf[1] / 1e6).toFixed(1).padStart(9),
    (rss[name][0] / 1024).toFixed(0).padStart(12), (rss[name][1] / 1024).toFixed(0).padStart(13)].join(' '));
}
fs.writeFileSync(`${raw}/report.json`, `${JSON.stringify(out, null, 2)}\n`);
console.log(lines.join('\n'));
EOF
cp "$RAW/report.json" "$OUT/create.json"
cat "$OUT/create.txt"
