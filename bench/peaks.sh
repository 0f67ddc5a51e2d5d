#!/usr/bin/env bash
# Peak RSS of every command on each real image: issue 10's 64 MB is for any command. Not a
# test: nothing is asserted. The images are test-images/build-real-images.sh's (one per
# compression); each command runs as a user would run it:
#   list, list -v, examine, du, cat (the last file), skipcpio    the image
#   unpack, restore                                              into tmpfs (restore: a root
#                                                                with /run/initramfs, --kver 0)
#   diff                                                         the image with itself, and
#                                                                with the tree unpack left
#   repack                                                       every member into zstd
#   create, create --format crc                                  the tree unpack left, in the
#                                                                image's compression
#   validate --runs 1, bench --runs 1                            the image (the native engine
#                                                                where dracut's tools are)
#
#   bash bench/peaks.sh      (IMAGES, default: none gzip bzip2 xz lz4 lzo zstd; RUNS, default 1)
#
# Peak RSS is our process's VmHWM at its exit (through `node --import`), MB = 10^6 bytes: the
# processes we start (a co-process decoder, the native engine's pipelines) are not counted.
# Results: bench/results/peaks.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=${IMAGES:-none gzip bzip2 xz lz4 lzo zstd}
RUNS=${RUNS:-1}
npm run build >/dev/null
NODE=$PWD/node_modules/.bin/node
. bench/lib.sh
SHM=$(mktemp -d /dev/shm/peaks.XXXXXX)
trap 'rm -rf "$SHM"' EXIT
write_peak_hook "$SHM/hook.mjs"

# "ours_KiB status" of one run of our CLI with arguments "$@".
ours() {
  set +e
  OURS_TO=$SHM/ours "$NODE" --import "$SHM/hook.mjs" bin/initramfs-restore.js "$@" >/dev/null 2>"$SHM/stderr"
  local status=$?
  set -e
  echo "$(cat "$SHM/ours") $status"
}

{
  echo "# bench/peaks.sh, $(date -u +%F), at $(git rev-parse --short HEAD): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); medians of $RUNS runs; tmpfs (/dev/shm)"
  echo "# ours: VmHWM of our process at exit, MB = 10^6 bytes"
  printf '%-6s %-22s %8s %7s\n' image command ours_MB status
  for name in $IMAGES; do
    img=test-images/real/fedora-like-$name.img
    [ -f "$img" ] || { echo "$img: not built (bash test-images/build-real-images.sh)" >&2; exit 1; }
    compress=${name/lzo/lzop}
    tree=$SHM/tree
    rm -rf "$tree"
    "$NODE" bin/initramfs-restore.js unpack "$img" "$tree" >/dev/null
    last=$("$NODE" bin/initramfs-restore.js list --json "$img" | "$NODE" -e '
      console.log(JSON.parse(require("fs").readFileSync(0)).entries.filter((e) => e.type === "file").at(-1).name)')
    for command in list 'list -v' examine du cat skipcpio unpack restore 'diff image' 'diff tree' repack create 'create crc' validate bench; do
      case $command in
        cat) args=(cat "$img" "$last") ;;
        unpack) args=(unpack "$img" "$SHM/out") ;;
        restore) args=(restore --root "$SHM/root" --kver 0 --image "$img") ;;
        'diff image') args=(diff "$img" "$img") ;;
        'diff tree') args=(diff "$img" "$tree") ;;
        repack) args=(repack "$img" "$SHM/out.img" --compress zstd) ;;
        create) args=(create "$SHM/out.img" --compress "$compress" "$tree") ;;
        'create crc') args=(create "$SHM/out.img" --format crc --compress "$compress" "$tree") ;;
        validate) args=(validate --runs 1 "$img") ;;
        bench) args=(bench --runs 1 --warmup 0 --tmp "$SHM" "$img") ;;
        *) read -ra args <<< "$command"; args+=("$img") ;;
      esac
      runs=$(for _ in $(seq "$RUNS"); do
        rm -rf "$SHM/out" "$SHM/out.img" "$SHM/root"
        mkdir -p "$SHM/root/run/initramfs"
        touch "$SHM/root/run/initramfs/.need_shutdown"
        ours "${args[@]}"
      done)
      printf '%-6s %-22s %8s %7s\n' "$name" "$command" "$(echo "$runs" | column_median 1 | kib_to_mb)" "$(echo "$runs" | column_median 2)"
    done
  done
} | tee bench/results/peaks.txt
