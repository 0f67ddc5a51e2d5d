#!/usr/bin/env bash
# Ours against the fastest peer (3cpio) and the native tools, side by side in one hyperfine
# run per image and command. Not a test: nothing is asserted.
#
#   bash bench/peers.sh [IMAGE...]     (default: test-images/real/fedora-like-*.img)
#   BASE=/path/to/other/checkout bash bench/peers.sh   (its dist/, built there, runs in the same
#                                                       hyperfine runs as `base`: before and after)
#
#   unpack   ours: unpack IMG DIR          3cpio -x -C DIR IMG
#            native: cpio -id < IMG; skipcpio IMG | DEC | cpio -id  (the early and main archives)
#   list     ours: list IMG                3cpio -t IMG              lsinitrd IMG
#   examine  ours: examine IMG             3cpio -e IMG
#   node -e 0, timed in the same run: what Node's start alone costs us.
#
# unpack runs into a tmpfs (/dev/shm) and into a directory on disk (BENCH_DISK, default
# /var/tmp); list and examine write nothing. Peak RSS by GNU time: the largest process of the command's tree.
# 3cpio comes from test-images/get-dracut-ng.sh (Debian forky's 0.14, run through forky's
# loader), fetched if missing. Results: bench/results/peers.{txt,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
for tool in hyperfine cpio; do
  command -v $tool >/dev/null || { echo "peers: $tool is required (apt-get install $tool)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "peers: /usr/bin/time is required (apt-get install time)" >&2; exit 1; }
SKIPCPIO=/usr/lib/dracut/skipcpio
[ -x "$SKIPCPIO" ] && command -v lsinitrd >/dev/null || { echo "peers: dracut's skipcpio and lsinitrd are required (apt-get install dracut-core)" >&2; exit 1; }
THREECPIO=$PWD/test-images/dracut-ng/3cpio/bin/3cpio
[ -x "$THREECPIO" ] || bash test-images/get-dracut-ng.sh test-images/dracut-ng >/dev/null
npm run build >/dev/null

images=("$@")
[ ${#images[@]} -gt 0 ] || images=(test-images/real/fedora-like-*.img)
NODE=$PWD/node_modules/.bin/node
CLI="$NODE $PWD/bin/initramfs-restore.js"
# base_of ARGS: sets `base` to hyperfine's arguments for BASE's run of the command, or to none.
base=()
base_of() { :; }
if [ -n "${BASE:-}" ]; then
  TSC=$PWD/node_modules/typescript/bin/tsc
  (cd "$BASE" && "$NODE" "$TSC" -p tsconfig.json)
  base_of() { base=(--command-name base "$NODE $BASE/bin/initramfs-restore.js $*"); }
fi
OUT=bench/results
mkdir -p "$OUT"
SHM=$(mktemp -d /dev/shm/peers.XXXXXX)
DISK=$(mktemp -d "${BENCH_DISK:-/var/tmp}/peers.XXXXXX")
RAW=$(mktemp -d)
trap 'rm -rf "$SHM" "$DISK" "$RAW"' EXIT

declare -A NATIVE=([gzip]='gzip -dc' [bzip2]='bzip2 -dc' [xz]='xz -dc' [lzma]='xz -dc'
                   [lz4]='lz4 -dc' [lzop]='lzop -dc' [zstd]='zstd -dc' [cpio]=cat)

fs_of() { df --output=fstype "$1" | tail -1; }
rss_kib() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }

for img in "${images[@]}"; do
  img=$(realpath "$img")
  name=$(basename "$img" .img)
  format=$($CLI examine --json "$img" | "$NODE" -e 'const r=JSON.parse(require("fs").readFileSync(0));console.log(r.archives.at(-1).format)')
  dec=${NATIVE[$format]}
  for where in "$SHM" "$DISK"; do
    base_of unpack "$img" "$where/base"
    hyperfine --style none --warmup 1 --runs "$RUNS" -N \
      --prepare "rm -rf $where/ours $where/base $where/3cpio $where/native" \
      --command-name ours "$CLI unpack $img $where/ours" "${base[@]}" \
      --command-name 3cpio "$THREECPIO -x -C $where/3cpio $img" \
      --command-name native "bash -c 'mkdir -p $where/native && cd $where/native && cpio -id --quiet < $img && $SKIPCPIO $img | $dec | cpio -id --quiet'" \
      --command-name node-e-0 "$NODE -e 0" \
      --export-json "$RAW/$name-unpack-$(fs_of "$where").json" >/dev/null
    rm -rf "$where/ours" "$where/base" "$where/3cpio" "$where/native"
  done
  base_of list "$img"
  hyperfine --style none --warmup 1 --runs "$RUNS" -N --output null \
    --command-name ours "$CLI list $img" "${base[@]}" \
    --command-name 3cpio "$THREECPIO -t $img" \
    --command-name lsinitrd "lsinitrd $img" \
    --command-name node-e-0 "$NODE -e 0" \
    --export-json "$RAW/$name-list.json" >/dev/null 2>"$RAW/hyperfine.log" || { cat "$RAW/hyperfine.log" >&2; exit 1; }
  base_of examine "$img"
  hyperfine --style none --warmup 1 --runs "$RUNS" -N --output null \
    --command-name ours "$CLI examine $img" "${base[@]}" \
    --command-name 3cpio "$THREECPIO -e $img" \
    --command-name node-e-0 "$NODE -e 0" \
    --export-json "$RAW/$name-examine.json" >/dev/null 2>"$RAW/hyperfine.log" || { cat "$RAW/hyperfine.log" >&2; exit 1; }
  rm -rf "$SHM/r"
  echo "$name $(rss_kib $CLI unpack "$img" "$SHM/r") $(rss_kib $CLI list "$img") $(rss_kib $CLI examine "$img") $(rss_kib "$THREECPIO" -x -C "$SHM/r3" "$img")" >> "$RAW/rss.txt"
  rm -rf "$SHM/r" "$SHM/r3"
done

"$NODE" bench/peers-report.mjs "$RAW" "$(fs_of "$SHM")" "$(fs_of "$DISK")" "$DISK" "$RUNS" > "$OUT/peers.txt"
cp "$RAW/report.json" "$OUT/peers.json"
cat "$OUT/peers.txt"
