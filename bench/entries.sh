#!/usr/bin/env bash
# Peak RSS against the number of entries: issue 10's 64 MB is for any image, and an image of
# many small entries is compressed into next to nothing. Not a test: nothing is asserted. The
# images, each one gzip member (`gzip -1`) of a newc archive that GNU cpio writes from a tree
# made in tmpfs:
#   files    ENTRIES empty files, in directories of 1,000
#   dirs     ENTRIES empty directories, in directories of 1,000
#   links    ENTRIES files of one byte, each pair hard links of one file, in directories of 1,000
#   real     the uncompressed real image (test-images/real/fedora-like-none.img), for scale,
#            where test-images/build-real-images.sh has made it
#
#   bash bench/entries.sh      (ENTRIES, default 300000; RUNS, default 1)
#
# Peak RSS is our process's VmHWM at its exit (through `node --import`), MB = 10^6 bytes; the
# seconds are GNU time's. Every command that reads the whole image, `unpack` and `restore`
# into tmpfs. Results: bench/results/entries-ENTRIES.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${ENTRIES:-300000}
RUNS=${RUNS:-1}
npm run build >/dev/null
NODE=$PWD/node_modules/.bin/node
. bench/lib.sh
SHM=$(mktemp -d /dev/shm/entries.XXXXXX)
trap 'rm -rf "$SHM"' EXIT

# The tree of image $2 (files, dirs or links) at $1: directory d$i holds names n0..n999 (fewer
# in the last); for links each file n$j has a second name l$j.
make_tree() {
  "$NODE" -e '
    const fs = require("fs"); const [root, kind, count] = process.argv.slice(1);
    const items = kind === "links" ? count / 2 : +count;
    fs.mkdirSync(root);
    for (let d = 0; d * 1000 < items; d++) {
      fs.mkdirSync(`${root}/d${d}`);
      for (let n = 0; n < 1000 && d * 1000 + n < items; n++) {
        const path = `${root}/d${d}/n${n}`;
        if (kind === "dirs") fs.mkdirSync(path);
        else fs.writeFileSync(path, kind === "links" ? "x" : "");
        if (kind === "links") fs.linkSync(path, `${root}/d${d}/l${n}`);
      }
    }' "$1" "$2" "$ENTRIES"
}
pack() { (cd "$1" && find . -mindepth 1 | cpio -o -H newc --quiet) | gzip -1 > "$2"; }

for name in files dirs links; do
  make_tree "$SHM/$name" "$name"
  pack "$SHM/$name" "$SHM/$name.img"
  rm -rf "${SHM:?}/$name"
done
images="files dirs links"
if [ -f test-images/real/fedora-like-none.img ]; then
  cp test-images/real/fedora-like-none.img "$SHM/real.img"
  images+=" real"
fi
write_peak_hook "$SHM/hook.mjs"

# "seconds ours_KiB status" of one run of our CLI with arguments "$@".
ours() {
  rm -rf "$SHM/out" "$SHM/root"
  mkdir -p "$SHM/root/run/initramfs"
  touch "$SHM/root/run/initramfs/.need_shutdown"
  set +e
  OURS_TO=$SHM/ours /usr/bin/time -f '%e' -o "$SHM/time" "$NODE" --import "$SHM/hook.mjs" bin/initramfs-restore.js "$@" >/dev/null 2>"$SHM/stderr"
  local status=$?
  set -e
  echo "$(tail -1 "$SHM/time") $(cat "$SHM/ours") $status"
}

{
  echo "# bench/entries.sh, $(date -u +%F), at $(git rev-parse --short HEAD): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); medians of $RUNS runs; unpack and restore into tmpfs (/dev/shm)"
  echo "# ours: VmHWM of our process at exit, MB = 10^6 bytes"
  printf '%-6s %9s %9s  %-12s %8s %8s %7s\n' image entries bytes command s ours_MB status
  for name in $images; do
    img=$SHM/$name.img
    entries=$("$NODE" bin/initramfs-restore.js examine --json "$img" | "$NODE" -e '
      console.log(JSON.parse(require("fs").readFileSync(0)).archives.reduce((n, a) => n + a.entries, 0))')
    last=$("$NODE" bin/initramfs-restore.js list "$img" | tail -1)
    for command in list 'list -v' 'list --json' examine unpack du diff cat restore; do
      read -ra args <<< "$command"
      case $command in
        unpack) args+=("$img" "$SHM/out") ;;
        diff) args+=("$img" "$img") ;;
        cat) args+=("$img" "$last") ;;
        restore) args+=(--root "$SHM/root" --kver 0 --image "$img") ;;
        *) args+=("$img") ;;
      esac
      runs=$(for _ in $(seq "$RUNS"); do ours "${args[@]}"; done)
      printf '%-6s %9s %9s  %-12s %8s %8s %7s\n' "$name" "$entries" "$(stat -c %s "$img")" "$command" \
        "$(echo "$runs" | column_median 1)" "$(echo "$runs" | column_median 2 | kib_to_mb)" "$(echo "$runs" | column_median 3)"
    done
  done
} | tee "bench/results/entries-$ENTRIES.txt"
