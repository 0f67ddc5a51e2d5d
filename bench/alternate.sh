#!/usr/bin/env bash
# This tree against another checkout, run by run in turn (base, this, base, this, ...), so that
# the machine's drift, which moves hyperfine's back-to-back series by more than a small change
# (bench/peers.sh with BASE), falls on both alike. Not a test: nothing is asserted.
#
#   BASE=/path/to/checkout bash bench/alternate.sh unpack|list|examine IMAGE...
#
# unpack goes into a tmpfs (/dev/shm), emptied before each run. Medians and minima of RUNS
# pairs (default 21), wall time of the whole process. Results: bench/results/alternate.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-21}
[ -n "${BASE:-}" ] && [ $# -ge 2 ] || { echo "usage: BASE=DIR bash bench/alternate.sh unpack|list|examine IMAGE..." >&2; exit 2; }
COMMAND=$1
shift
npm run build >/dev/null
[ -f "$BASE/dist/cli/main.js" ] || { echo "alternate: $BASE/dist is not built (npm run build there)" >&2; exit 1; }
NODE=$PWD/node_modules/.bin/node
TARGET=$(mktemp -d /dev/shm/alternate.XXXXXX)
TIMES=$(mktemp)
trap 'rm -rf "$TARGET" "$TIMES"' EXIT
run() {
  local tree=$1 image=$2 start end
  rm -rf "$TARGET/out"
  start=$(date +%s%N)
  if [ "$COMMAND" = unpack ]; then "$NODE" "$tree/bin/initramfs-restore.js" unpack "$image" "$TARGET/out" >/dev/null
  else "$NODE" "$tree/bin/initramfs-restore.js" "$COMMAND" "$image" >/dev/null; fi
  end=$(date +%s%N)
  echo $(((end - start) / 1000))
}
{
  echo "# bench/alternate.sh $COMMAND, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $RUNS runs of each, in turn; ms"
  echo "# base: $(git -C "$BASE" log -1 --format=%h 2>/dev/null || echo "$BASE"); this: $(git log -1 --format=%h)$(git diff --quiet HEAD -- src bin || echo ' with uncommitted changes in src/ or bin/')"
  printf '%-24s %10s %10s %8s %10s %10s\n' image base_median this_median ÷ base_min this_min
  for image in "$@"; do
    : > "$TIMES"
    for _ in $(seq "$RUNS"); do
      echo "base $(run "$BASE" "$image")" >> "$TIMES"
      echo "this $(run "$PWD" "$image")" >> "$TIMES"
    done
    "$NODE" -e '
      const rows = require("fs").readFileSync(process.argv[1], "latin1").trim().split("\n").map((l) => l.split(" "));
      const of = (who) => rows.filter((r) => r[0] === who).map((r) => Number(r[1]) / 1000).sort((a, b) => a - b);
      const median = (v) => v[(v.length - 1) >> 1];
      const [base, self] = [of("base"), of("this")];
      console.log(require("path").basename(process.argv[2]).padEnd(24), median(base).toFixed(1).padStart(10), median(self).toFixed(1).padStart(10),
        (median(self) / median(base)).toFixed(2).padStart(8), base[0].toFixed(1).padStart(10), self[0].toFixed(1).padStart(10));
    ' "$TIMES" "$image"
  done
} | tee bench/results/alternate.txt
