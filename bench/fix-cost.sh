#!/usr/bin/env bash
# What dracut-056's order costs over dracut-057's, per console sink, on the real images:
# `validate` with the native engine (the script's own pipelines), RUNS paired runs per sink.
# The cost is the difference of the pipelines' summed wall times, as `bench` sums them.
# Writes bench/results/fix-cost.{json,txt}. Not a test: nothing is asserted.
#
#   bash bench/fix-cost.sh [IMAGE...]     RUNS=5 by default (SERIAL_RUNS=1 behind the serial
#                                         console, where one dracut-056 restore takes minutes);
#                                         images: the real zstd and gzip ones
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SERIAL_RUNS=${SERIAL_RUNS:-1}
OUT=bench/results
NODE=$PWD/node_modules/.bin/node
mkdir -p "$OUT"
[ -f dist/cli/main.js ] || npm run build >/dev/null
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(test-images/real/fedora-like-zstd.img test-images/real/fedora-like-gzip.img)

json=$OUT/fix-cost.json
txt=$OUT/fix-cost.txt
echo "[" > "$json"
{
  echo "# $(date -u +%F) $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); node $("$NODE" -v); $(cpio --version | head -1); dracut-core $(dpkg-query -W -f '${Version}' dracut-core 2>/dev/null || echo none)"
  echo "# validate --runs $RUNS (serial: $SERIAL_RUNS) --console SINK, native engine; extra = dracut-056 minus dracut-057, median (min..max) of paired runs"
  echo "# targets in ${TMPDIR:-/tmp} ($(df -T "${TMPDIR:-/tmp}" | awk 'NR==2 {print $2}'))"
  printf '%-22s %-14s %5s %12s %12s %10s %s\n' image sink runs 'extra ms' 'min..max' 'extra %' verdict
} > "$txt"
first=1
for sink in null file journal serial:115200; do
  for image in "${images[@]}"; do
    runs=$RUNS
    [[ $sink != serial:* ]] || runs=$SERIAL_RUNS
    out=$("$NODE" bin/initramfs-restore.js validate --engine native --runs "$runs" --console "$sink" --json "$image" || true)
    [ $first = 1 ] || echo "," >> "$json"
    first=0
    printf '{"sink": "%s", "report": %s}\n' "$sink" "$out" >> "$json"
    "$NODE" -e '
      const [sink, image] = process.argv.slice(1);
      const v = JSON.parse(require("fs").readFileSync(0, "utf8")).images[0];
      const e = v.extraMs;
      console.log([require("path").basename(image).padEnd(22), sink.padEnd(14), String(v.runs).padStart(5), e.median.toFixed(0).padStart(12),
        `${e.min.toFixed(0)}..${e.max.toFixed(0)}`.padStart(12), `${e.percent.toFixed(1)}%`.padStart(10), v.verdict].join(" "));
    ' "$sink" "$image" <<< "$out" | tee -a "$txt"
  done
done
echo "]" >> "$json"
