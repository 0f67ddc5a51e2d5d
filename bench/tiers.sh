#!/usr/bin/env bash
# What dropping V8's optimizing compilers (src/tiers.ts) does to each command's peak RSS and
# time: `initramfs-restore` (bin/, which drops them) against the same CLI started without the
# drop (its young generation capped as bin/ caps it, src/heap.ts), on each real image. Not a
# test: nothing is asserted. unpack goes to tmpfs (/dev/shm).
#
#   bash bench/tiers.sh [IMAGE...]     (default: test-images/real/fedora-like-*.img)
#
# Each figure is the median of RUNS runs (default 5) by GNU time; both ways alternate, so the
# machine's load falls on both. Results: bench/results/tiers.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
npm run build >/dev/null
NODE=$PWD/node_modules/.bin/node
. bench/lib.sh
SHM=$(mktemp -d /dev/shm/tiers.XXXXXX)
trap 'rm -rf "$SHM"' EXIT
cat > "$SHM/keep.mjs" <<JS
(await import('$PWD/dist/heap.js')).capYoungGeneration();
const { main } = await import('$PWD/dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
JS
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(test-images/real/fedora-like-*.img)

# "seconds KiB" of one run, stdout dropped.
measure() {
  rm -rf "$SHM/out"
  /usr/bin/time -f '%e %M' -o "$SHM/time" "$@" >/dev/null
  cat "$SHM/time"
}

{
  echo "# bench/tiers.sh, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); medians of $RUNS runs; unpack into tmpfs"
  echo "# dropped: bin/initramfs-restore.js; kept: the same CLI without src/tiers.ts's drop"
  printf '%-20s %-8s %12s %12s %10s %10s\n' image command 'dropped_MB' 'kept_MB' dropped_s kept_s
} | tee bench/results/tiers.txt
for img in "${images[@]}"; do
  for command in unpack list examine; do
    args=("$command" "$img")
    [ "$command" = unpack ] && args+=("$SHM/out")
    : > "$SHM/dropped"
    : > "$SHM/kept"
    for _ in $(seq "$RUNS"); do
      measure "$NODE" bin/initramfs-restore.js "${args[@]}" >> "$SHM/dropped"
      measure "$NODE" "$SHM/keep.mjs" "${args[@]}" >> "$SHM/kept"
    done
    printf '%-20s %-8s %12.1f %12.1f %10.3f %10.3f\n' "$(basename "$img" .img)" "$command" \
      "$(cut -d' ' -f2 "$SHM/dropped" | median | awk '{ print $1 / 1024 }')" \
      "$(cut -d' ' -f2 "$SHM/kept" | median | awk '{ print $1 / 1024 }')" \
      "$(cut -d' ' -f1 "$SHM/dropped" | median)" "$(cut -d' ' -f1 "$SHM/kept" | median)"
  done
done | tee -a bench/results/tiers.txt
