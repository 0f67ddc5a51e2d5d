#!/usr/bin/env bash
# Peak RSS and time where a member's window is larger than ours may hold beside our own memory,
# decoded by its command (the default) and by ours (`--in-process`, as where the command is
# missing). Not a test: nothing is asserted. The members, made here into tmpfs:
#   lzma-dracut   a dracut-like `--lzma` image: the uncompressed real image's early archive,
#                 then its main archive through `xz --format=lzma -9` (a 64 MiB dictionary, no
#                 size), as dracut's `lzma -9` writes it from a pipe; with 3cpio's times beside
#   lzma-zeros    90 MB of zeros in one file, `xz --format=lzma -9`
#   xz-zeros      the same through `xz -6` (an 8 MiB dictionary) and `xz -9` (64 MiB)
#   zstd-spoilt   the same through `zstd -3 --long=27` (a 128 MiB window), its last compressed
#                 block spoilt: `zstd -d` refuses it at the end of its 90 MB
#
#   bash bench/windows.sh      (needs test-images/real/fedora-like-none.img; RUNS, default 5)
#
# Two peak RSS figures a run: "ours", our process alone (VmHWM of /proc/self/status at its
# exit, through `node --import`; getrusage's maxRSS would keep the forking shell's), and
# "largest", GNU time's, the largest process of the command's tree (a co-process counts).
# Medians of RUNS runs, `list` and `unpack` into tmpfs. Results: bench/results/windows.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
npm run build >/dev/null
NODE=$PWD/node_modules/.bin/node
. bench/lib.sh
THREECPIO=$PWD/test-images/dracut-ng/3cpio/bin/3cpio
SHM=$(mktemp -d /dev/shm/windows.XXXXXX)
trap 'rm -rf "$SHM"' EXIT
NONE=test-images/real/fedora-like-none.img
[ -f "$NONE" ] || { echo "bench/windows.sh: $NONE is missing (test-images/build-real-images.sh makes it)" >&2; exit 1; }

# The early archive ends where the uncompressed image's second archive starts.
early_end=$("$NODE" bin/initramfs-restore.js examine --json "$NONE" | "$NODE" -e '
  console.log(JSON.parse(require("fs").readFileSync(0)).archives[1].start)')
head -c "$early_end" "$NONE" > "$SHM/lzma-dracut.img"
tail -c +"$((early_end + 1))" "$NONE" | xz --format=lzma -9 -c >> "$SHM/lzma-dracut.img"
mkdir "$SHM/tree"
head -c 90000000 /dev/zero > "$SHM/tree/zeros"
echo end > "$SHM/tree/end"
(cd "$SHM/tree" && printf 'zeros\nend\n' | cpio -o -H newc --quiet) > "$SHM/zeros.cpio"
xz --format=lzma -9 -c < "$SHM/zeros.cpio" > "$SHM/lzma-zeros.img"
xz -6 -T1 -c < "$SHM/zeros.cpio" > "$SHM/xz6-zeros.img"
xz -9 -T1 -c < "$SHM/zeros.cpio" > "$SHM/xz9-zeros.img"
zstd -q -3 --long=27 -c < "$SHM/zeros.cpio" > "$SHM/zstd-spoilt.img"
# The last block of more than one byte (compressed, not RLE) filled with 0xff.
"$NODE" -e '
  const fs = require("fs"); const path = process.argv[1]; const b = fs.readFileSync(path);
  const d = b[4], single = (d >> 5) & 1;
  let at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][d & 3] + [single, 2, 4, 8][d >> 6], last;
  for (;;) { const h = b.readUIntLE(at, 3), size = ((h >> 1) & 3) === 1 ? 1 : h >>> 3;
    if (size > 1) last = [at + 3, size]; at += 3 + size; if (h & 1) break; }
  b.fill(0xff, last[0], last[0] + last[1]); fs.writeFileSync(path, b);' "$SHM/zstd-spoilt.img"
write_peak_hook "$SHM/hook.mjs"

# "seconds ours_KiB largest_KiB status" of one run of our CLI with arguments "$@".
ours() {
  rm -rf "$SHM/out"
  set +e
  OURS_TO=$SHM/ours /usr/bin/time -f '%e %M' -o "$SHM/time" "$NODE" --import "$SHM/hook.mjs" bin/initramfs-restore.js "$@" >/dev/null 2>"$SHM/stderr"
  local status=$?
  set -e
  read -r seconds largest < <(tail -1 "$SHM/time")
  echo "$seconds $(cat "$SHM/ours") $largest $status"
}

# "seconds largest_KiB" of one run of 3cpio with arguments "$@".
threecpio() {
  rm -rf "$SHM/out"
  /usr/bin/time -f '%e %M' -o "$SHM/time" "$THREECPIO" "$@" >/dev/null
  tail -1 "$SHM/time"
}

{
  echo "# bench/windows.sh, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); medians of $RUNS runs; unpack into tmpfs (/dev/shm)"
  echo "# ours: VmHWM of our process at exit; largest: GNU time, the largest process (a co-process counts); MB = 10^6 bytes"
  printf '%-12s %-8s %-13s %8s %9s %11s %7s  %s\n' image command how s ours_MB largest_MB status 'decoded by (examine)'
  for name in lzma-dracut lzma-zeros xz6-zeros xz9-zeros zstd-spoilt; do
    img=$SHM/$name.img
    for command in list unpack; do
      for how in command in-process; do
        args=("$command")
        [ "$how" = in-process ] && args+=(--in-process)
        args+=("$img")
        [ "$command" = unpack ] && args+=("$SHM/out")
        runs=$(for _ in $(seq "$RUNS"); do ours "${args[@]}"; done)
        examine=(examine --json)
        [ "$how" = in-process ] && examine+=(--in-process)
        decoded_by=$("$NODE" bin/initramfs-restore.js "${examine[@]}" "$img" 2>/dev/null |
          "$NODE" -e 'try { console.log(JSON.parse(require("fs").readFileSync(0)).archives.at(-1).decodedBy) } catch { console.log("(fails)") }' || true)
        printf '%-12s %-8s %-13s %8s %9s %11s %7s  %s\n' "$name" "$command" "$how" \
          "$(echo "$runs" | column_median 1)" "$(echo "$runs" | column_median 2 | kib_to_mb)" \
          "$(echo "$runs" | column_median 3 | kib_to_mb)" "$(echo "$runs" | column_median 4)" "$decoded_by"
      done
    done
  done
  if [ -x "$THREECPIO" ]; then
    for command in list unpack; do
      case $command in list) args=(-t "$SHM/lzma-dracut.img") ;; unpack) args=(-x -C "$SHM/out" "$SHM/lzma-dracut.img") ;; esac
      runs=$(for _ in $(seq "$RUNS"); do threecpio "${args[@]}"; done)
      printf '%-12s %-8s %-13s %8s %9s %11s\n' lzma-dracut "$command" 3cpio "$(echo "$runs" | column_median 1)" - \
        "$(echo "$runs" | column_median 2 | kib_to_mb)"
    done
  fi
} | tee bench/results/windows.txt
