#!/usr/bin/env bash
# When the decompressor runs, in ours and in 3cpio: where a format's CLI decodes the main member
# (as a co-process of ours; 3cpio runs it the same way), how long after the command's start it
# is started, how long it runs, and how long the command goes on after it exits. Not a test:
# nothing is asserted.
#
#   bash bench/timeline.sh [IMAGE...]    (default: the real images of xz and bzip2, whose CLI
#                                          ours runs for list; zstd's runs only for diff and repack)
#   COMMAND=examine bash bench/timeline.sh    (list by default: `list IMG`, `3cpio -t IMG`)
#
# Each command runs under strace, which stops it only at execve and exit (seccomp-bpf), so the
# rest runs at full speed; each exec still costs more than without it: compare the rows with
# each other, not with bench/peers.sh. `node -e 0` runs the same way, for Node's own start and
# exit. Without strace, the decompressor alone on the member (from a copy on /dev/shm) into a
# pipe read by cat, with the machine's other cores idle and then each busy with a shell loop:
# what a process beside it costs the decompressor. Milliseconds, medians of RUNS runs (default
# 5). Results: bench/results/timeline.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
COMMAND=${COMMAND:-list}
command -v strace >/dev/null || { echo "timeline: strace is required (apt-get install strace)" >&2; exit 1; }
npm run build >/dev/null
NODE=$PWD/node_modules/.bin/node
. bench/lib.sh
THREECPIO=$PWD/test-images/dracut-ng/3cpio/bin/3cpio
[ -x "$THREECPIO" ] || bash test-images/get-dracut-ng.sh test-images/dracut-ng >/dev/null
declare -A THREECPIO_FLAG=([list]=-t [examine]=-e)
[ -n "${THREECPIO_FLAG[$COMMAND]:-}" ] || { echo "timeline: COMMAND is list or examine" >&2; exit 2; }
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(test-images/real/fedora-like-{xz,bzip2}.img)
TMP=$(mktemp -d)
SHM=$(mktemp -d /dev/shm/timeline.XXXXXX)
busy=()
trap 'kill "${busy[@]}" 2>/dev/null; rm -rf "$TMP" "$SHM"' EXIT

# "start run after total" in ms for one traced run of the command "$@": the decompressor's exec
# after the command's, the decompressor's exec to its exit, its exit to the command's, the whole.
traced() {
  strace -f --seccomp-bpf -ttt -q -e trace=execve,exit_group -o "$TMP/trace" "$@" >/dev/null
  "$NODE" -e '
    const lines = require("fs").readFileSync(process.argv[1], "latin1").split("\n");
    const at = (line) => Number(line.split(/\s+/)[1]) * 1000;
    const first = lines[0].split(/\s+/)[0];
    const start = at(lines[0]);
    const end = at(lines.find((l) => l.startsWith(first + " ") && l.includes("+++ exited")));
    const decoder = /execve\("[^"]*\/(zstd|xz|lbzip2|bzip2|gzip|pigz|lz4|lzop)",.*\) = 0$/;
    const exec = lines.find((l) => decoder.test(l));
    if (!exec) { console.log(`- - - ${(end - start).toFixed(1)}`); process.exit(0); }
    const pid = exec.split(/\s+/)[0];
    const exit = at(lines.find((l) => l.startsWith(pid + " ") && l.includes("+++ exited")));
    console.log([at(exec) - start, exit - at(exec), end - exit, end - start].map((v) => v.toFixed(1)).join(" "));
  ' "$TMP/trace"
}
runs_median() { column_median "$1" < "$TMP/runs"; }
# ms of one run of the shell command $1, by GNU time.
wall() {
  /usr/bin/time -f '%e' -o "$TMP/time" sh -c "$1" >/dev/null
  awk '{ print $1 * 1000 }' "$TMP/time"
}

{
  echo "# bench/timeline.sh, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $COMMAND; ms, medians of $RUNS runs"
  echo "# ours, 3cpio, node -e 0: under strace. start: the decompressor's exec after the command's; run: its exec to its exit;"
  echo "# after: its exit to the command's; total. DECODER, idle|busy: the member into cat, the other cores idle or busy, no strace"
  printf '%-20s %-10s %8s %8s %8s %8s\n' image who start run after total
} > bench/results/timeline.txt
: > "$TMP/runs"
for _ in $(seq "$RUNS"); do traced "$NODE" -e 0 >> "$TMP/runs"; done
printf '%-20s %-10s %8s %8s %8s %8s\n' - 'node -e 0' - - - "$(runs_median 4)" >> bench/results/timeline.txt
for img in "${images[@]}"; do
  name=$(basename "$img" .img)
  for who in ours 3cpio; do
    : > "$TMP/runs"
    for _ in $(seq "$RUNS"); do
      if [ "$who" = ours ]; then traced "$NODE" bin/initramfs-restore.js "$COMMAND" "$img"
      else traced "$THREECPIO" "${THREECPIO_FLAG[$COMMAND]}" "$img"; fi >> "$TMP/runs"
    done
    printf '%-20s %-10s %8s %8s %8s %8s\n' "$name" "$who" "$(runs_median 1)" "$(runs_median 2)" "$(runs_median 3)" "$(runs_median 4)" >> bench/results/timeline.txt
  done
  member=$(copy_main_member "$img" "$SHM/member")
  format=${member%% *}
  decoder="$format -dc"
  [ "$format" = bzip2 ] && command -v lbzip2 >/dev/null && decoder="lbzip2 -dc"
  for other in idle busy; do
    if [ "$other" = busy ]; then
      for _ in $(seq $(($(nproc) - 1))); do sh -c 'while :; do :; done' & busy+=($!); done
    fi
    for _ in $(seq "$RUNS"); do wall "$decoder < $SHM/member | cat"; done > "$TMP/runs"
    printf '%-20s %-10s %8s %8s %8s %8s\n' "$name" "${decoder%% *}, $other" - "$(runs_median 1)" - - >> bench/results/timeline.txt
  done
  kill "${busy[@]}" 2>/dev/null || true
  busy=()
done
cat bench/results/timeline.txt
