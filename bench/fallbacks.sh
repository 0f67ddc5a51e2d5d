#!/usr/bin/env bash
# The paths bench/peers.sh does not take, on each real image: peak RSS and time. Not a test:
# nothing is asserted.
#   in-process  our own decoders in this process (`--in-process`, as where a format's CLI is not
#               installed): unpack (into tmpfs), list, examine
#   pipe        the image on a pipe (`cat IMG | initramfs-restore COMMAND -`, where no co-process
#               can read the file): unpack, list, examine
#   trial       dracut's chain, as `bench` and `validate` run our CLI for the builtin engine
#               (`unpack IMG DIR --order ORDER --engine builtin --json`) for the orders of
#               dracut 056, 057 and 112; and `restore`, the drop-in (its defaults: dracut 112's
#               flavor, by magic), into a root made for it in the same shell command
#   repack      `repack IMG OUT --compress C` into tmpfs, C zstd (node:zlib), lz4 (its CLI)
#               and none (the decoded archive): each member decoded as the walk decodes it
#               (by its command where the format has one, else ours in this thread), each
#               chunk taken by the compressor before the next is decoded
#   diff        `diff IMG IMG --stat`: both images walked in turn, every file's content hashed
#   others      the commands that read an image and no path above or bench/peers.sh runs: `du`,
#               `cat` of the main archive's largest file (the image read twice), `skipcpio`
#
#   bash bench/fallbacks.sh [IMAGE...]     (default: test-images/real/fedora-like-*.img)
#   PATHS='trial repack' bash bench/fallbacks.sh   (some of the paths; default all six)
#   BASE=/path/to/other/checkout bash bench/fallbacks.sh    (its dist/ measured as well, built
#                                                            there: before and after a change)
#   STDERR=pipe bash bench/fallbacks.sh    (each command's stderr a pipe, as in a pipeline or a
#                                           CI log; else it is this script's)
#
# Each figure is the median of RUNS runs (default 3) by GNU time, whose peak RSS is the largest
# process of the command's tree (node, not cat); with BASE both alternate, so the machine's load
# falls on both. --in-process is not run on the uncompressed image: nothing is decoded there.
# Results: bench/results/fallbacks.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
PATHS=${PATHS:-in-process pipe trial repack diff others}
npm run build >/dev/null
NODE=$PWD/node_modules/.bin/node
. bench/lib.sh
SHM=$(mktemp -d /dev/shm/fallbacks.XXXXXX)
trap 'rm -rf "$SHM"' EXIT
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(test-images/real/fedora-like-*.img)
trees=("$PWD")
if [ -n "${BASE:-}" ]; then
  TSC=$PWD/node_modules/typescript/bin/tsc
  (cd "$BASE" && "$NODE" "$TSC" -p tsconfig.json)
  trees+=("$BASE")
fi

# "seconds KiB" of one run of the shell command $1, stdout dropped.
measure() {
  rm -rf "$SHM/out"
  /usr/bin/time -f '%e %M' -o "$SHM/time" bash -c "$1" >/dev/null
  cat "$SHM/time"
}

{
  echo "# bench/fallbacks.sh, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); medians of $RUNS runs; unpack into tmpfs${STDERR:+; stderr a $STDERR}"
  [ -n "${BASE:-}" ] && echo "# base: $BASE at $(git -C "$BASE" rev-parse --short HEAD); this tree at $(git rev-parse --short HEAD)"
  printf '%-20s %-11s %-10s %8s %8s' image path command MB s
  [ -n "${BASE:-}" ] && printf ' %8s %8s' base_MB base_s
  echo
} | tee bench/results/fallbacks.txt
for img in "${images[@]}"; do
  name=$(basename "$img" .img)
  for path in $PATHS; do
    [ "$path" = in-process ] && [[ "$name" == *none ]] && continue
    commands="unpack list examine"
    [ "$path" = trial ] && commands="dracut-056 dracut-057 dracut-112 restore"
    [ "$path" = repack ] && commands="zstd lz4 none"
    [ "$path" = diff ] && commands="itself"
    if [ "$path" = others ]; then
      commands="du cat skipcpio"
      largest=$("$NODE" bin/initramfs-restore.js list --json "$img" | "$NODE" -e '
        const { entries } = JSON.parse(require("fs").readFileSync(0));
        const last = Math.max(...entries.map((e) => e.archive));
        const files = entries.filter((e) => e.archive === last && e.type === "file");
        console.log(files.reduce((a, b) => (b.size > a.size ? b : a)).name)')
    fi
    for command in $commands; do
      target=""
      [ "$command" = unpack ] && target="$SHM/out"
      for t in "${!trees[@]}"; do : > "$SHM/runs-$t"; done
      for _ in $(seq "$RUNS"); do
        for t in "${!trees[@]}"; do
          cli="$NODE ${trees[$t]}/bin/initramfs-restore.js"
          case "$path/$command" in
            in-process/*) line="$cli $command --in-process $img $target" ;;
            pipe/*) line="cat $img | $cli $command - $target" ;;
            trial/restore) line="mkdir -p $SHM/out/run/initramfs && : > $SHM/out/run/initramfs/.need_shutdown && $cli restore --root $SHM/out --image $img" ;;
            trial/*) line="$cli unpack $img $SHM/out --order $command --engine builtin --json" ;;
            repack/*) line="$cli repack $img $SHM/out --compress $command" ;;
            diff/*) line="$cli diff $img $img --stat" ;;
            others/cat) line="$cli cat $img $largest" ;;
            others/*) line="$cli $command $img" ;;
            *) echo "fallbacks: no path $path (in-process, pipe, trial, repack, diff, others)" >&2; exit 2 ;;
          esac
          [ "${STDERR:-}" = pipe ] && line="$line 2> >(cat >&2)"
          measure "$line" >> "$SHM/runs-$t"
        done
      done
      printf '%-20s %-11s %-10s' "$name" "$path" "$command"
      for t in "${!trees[@]}"; do
        printf ' %8.1f %8.3f' "$(cut -d' ' -f2 "$SHM/runs-$t" | median | awk '{ print $1 / 1024 }')" "$(cut -d' ' -f1 "$SHM/runs-$t" | median)"
      done
      echo
    done
  done
done | tee -a bench/results/fallbacks.txt
