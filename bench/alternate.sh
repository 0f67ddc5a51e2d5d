#!/usr/bin/env bash
# This tree against another checkout, run by run in turn (base, this, base, this, ...), so that
# the machine's drift, which moves hyperfine's back-to-back series by more than a small change
# (bench/peers.sh with BASE), falls on both alike. Not a test: nothing is asserted.
#
#   BASE=/path/to/checkout bash bench/alternate.sh unpack|list|examine|du IMAGE...
#   BASE=/path/to/checkout bash bench/alternate.sh diff IMAGE...      (each image with itself)
#   BASE=/path/to/checkout bash bench/alternate.sh cat IMAGE PATH [IMAGE PATH...]
#
# unpack goes into a tmpfs (/dev/shm), emptied before each run. Medians and minima of RUNS
# pairs (default 21), wall time of the whole process. Results: bench/results/alternate.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-21}
usage() { echo "usage: BASE=DIR bash bench/alternate.sh unpack|list|examine|du|diff IMAGE... | cat IMAGE PATH..." >&2; exit 2; }
[ -n "${BASE:-}" ] && [ $# -ge 2 ] || usage
COMMAND=$1
shift
# What each run reads: an image, for cat an image and a path in it (a tab between).
items=()
while [ $# -gt 0 ]; do
  if [ "$COMMAND" = cat ]; then
    [ $# -ge 2 ] || usage
    items+=("$1"$'\t'"$2")
    shift 2
  else
    items+=("$1")
    shift
  fi
done
npm run build >/dev/null
[ -f "$BASE/dist/cli/main.js" ] || { echo "alternate: $BASE/dist is not built (npm run build there)" >&2; exit 1; }
NODE=$PWD/node_modules/.bin/node
TARGET=$(mktemp -d /dev/shm/alternate.XXXXXX)
TIMES=$(mktemp)
trap 'rm -rf "$TARGET" "$TIMES"' EXIT
run() {
  local tree=$1 start end
  IFS=$'\t' read -r -a item <<< "$2"
  rm -rf "$TARGET/out"
  start=$(date +%s%N)
  if [ "$COMMAND" = unpack ]; then "$NODE" "$tree/bin/initramfs-restore.js" unpack "${item[0]}" "$TARGET/out" >/dev/null
  elif [ "$COMMAND" = diff ]; then "$NODE" "$tree/bin/initramfs-restore.js" diff "${item[0]}" "${item[0]}" >/dev/null
  else "$NODE" "$tree/bin/initramfs-restore.js" "$COMMAND" "${item[@]}" >/dev/null; fi
  end=$(date +%s%N)
  echo $(((end - start) / 1000))
}
{
  echo "# bench/alternate.sh $COMMAND, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $RUNS runs of each, in turn; ms"
  echo "# base: $(git -C "$BASE" log -1 --format=%h 2>/dev/null || echo "$BASE"); this: $(git log -1 --format=%h)$(git diff --quiet HEAD -- src bin || echo ' with uncommitted changes in src/ or bin/')"
  printf '%-24s %10s %10s %8s %10s %10s\n' image base_median this_median ÷ base_min this_min
  for item in "${items[@]}"; do
    : > "$TIMES"
    for _ in $(seq "$RUNS"); do
      echo "base $(run "$BASE" "$item")" >> "$TIMES"
      echo "this $(run "$PWD" "$item")" >> "$TIMES"
    done
    "$NODE" -e '
      const rows = require("fs").readFileSync(process.argv[1], "latin1").trim().split("\n").map((l) => l.split(" "));
      const of = (who) => rows.filter((r) => r[0] === who).map((r) => Number(r[1]) / 1000).sort((a, b) => a - b);
      const median = (v) => v[(v.length - 1) >> 1];
      const [base, self] = [of("base"), of("this")];
      const [image, path] = process.argv[2].split("\t");
      console.log((require("path").basename(image) + (path ? ` ${path}` : "")).padEnd(24), median(base).toFixed(1).padStart(10), median(self).toFixed(1).padStart(10),
        (median(self) / median(base)).toFixed(2).padStart(8), base[0].toFixed(1).padStart(10), self[0].toFixed(1).padStart(10));
    ' "$TIMES" "$item"
  done
} | tee bench/results/alternate.txt
