#!/usr/bin/env bash
# Times `initramfs-restore unpack` against the native pipeline dracut users run, in the same
# run, with hyperfine; reports the ratio and our peak RSS. Not a test: nothing is asserted.
#
#   bash bench/unpack.sh [IMAGE...]      (default: test-images/real/*.img)
#
# Native = `cpio -id` of the image (GNU cpio stops after the first archive: the early part)
#        + `skipcpio IMAGE | DECOMPRESSOR | cpio -id` (the main archive), into the same tree.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
command -v hyperfine >/dev/null || { echo "bench: hyperfine is required (apt-get install hyperfine)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is required (apt-get install time)" >&2; exit 1; }
SKIPCPIO=/usr/lib/dracut/skipcpio
[ -x "$SKIPCPIO" ] || { echo "bench: $SKIPCPIO is required (apt-get install dracut-core)" >&2; exit 1; }
[ -f dist/cli/main.js ] || npm run build >/dev/null

images=("$@")
[ ${#images[@]} -gt 0 ] || images=(test-images/real/*.img)
WORK=${BENCH_TMP:-$(mktemp -d)}
trap 'rm -rf "$WORK"' EXIT
NODE=$PWD/node_modules/.bin/node
CLI="$NODE $PWD/bin/initramfs-restore.js"
OUT=bench/results
mkdir -p "$OUT"

declare -A NATIVE=([gzip]='gzip -dc' [bzip2]='bzip2 -dc' [xz]='xz -dc' [lzma]='xz -dc'
                   [lz4]='lz4 -dc' [lzop]='lzop -dc' [zstd]='zstd -dc')

printf '%-28s %10s %10s %7s %10s\n' image native_s ours_s ratio peak_rss
for img in "${images[@]}"; do
  name=$(basename "$img" .img)
  format=$($CLI examine --json "$img" | "$NODE" -e 'const r=JSON.parse(require("fs").readFileSync(0));console.log(r.segments.at(-1).format)')
  if [ "$format" = cpio ]; then dec=cat; else dec=${NATIVE[$format]}; fi
  native="cd $WORK/native && cpio -id --quiet < $PWD/$img && $SKIPCPIO $PWD/$img | $dec | cpio -id --quiet"
  ours="$CLI unpack $PWD/$img $WORK/ours > /dev/null"
  hyperfine --style none --warmup 1 --runs "$RUNS" \
    --prepare "rm -rf $WORK/native $WORK/ours && mkdir -p $WORK/native" \
    --command-name native "$native" --command-name ours "$ours" \
    --export-json "$OUT/unpack-$name.json" >/dev/null 2>"$WORK/hyperfine.log" || { cat "$WORK/hyperfine.log" >&2; exit 1; }
  rm -rf "$WORK/ours"
  rss_kb=$(/usr/bin/time -f '%M' $CLI unpack "$PWD/$img" "$WORK/ours" 2>&1 >/dev/null | tail -1)
  rm -rf "$WORK/ours" "$WORK/native"
  "$NODE" -e '
    const fs = require("fs");
    const [file, name, rss] = process.argv.slice(1);
    const r = JSON.parse(fs.readFileSync(file));
    const median = (n) => r.results.find((x) => x.command === n).median;
    const ratio = median("ours") / median("native");
    r.summary = { image: name, nativeMedianS: median("native"), oursMedianS: median("ours"), ratio, oursPeakRssKiB: Number(rss) };
    fs.writeFileSync(file, JSON.stringify(r, null, 2));
    console.log(`${name.padEnd(28)} ${median("native").toFixed(3).padStart(10)} ${median("ours").toFixed(3).padStart(10)} ${ratio.toFixed(2).padStart(7)} ${(rss / 1024).toFixed(0).padStart(7)} MiB`);
  ' "$OUT/unpack-$name.json" "$name" "$rss_kb"
done
