#!/usr/bin/env bash
# What a second core gives node:zlib's engine on this machine: where pumpZlib runs it on libuv's
# threadpool (unpack) and where in the main thread (list, examine), docs/performance.md.
# Not a test: nothing is asserted.
#
#   bash bench/cores.sh [IMAGE...]     (default: the zstd and gzip real images)
#
# Each image's main member is decoded by bench/decode-member.mjs (our decoder, into a sink that
# takes nothing), one hyperfine run per load on core 0:
#   main          the engine in the main thread, both cores free (as list runs it)
#   threadpool    the engine on libuv's threadpool (OVERLAP=1, as unpack runs it), the main
#                 thread waiting between its calls: what the hops between threads cost; and with
#                 one pool thread (UV_THREADPOOL_SIZE=1, libuv's default is 4), so that each call
#                 runs on the thread the last one ran on
#   core 1        in the main thread, the process on core 1 alone (taskset), core 0 idle, then
#                 spinning (a shell loop that touches no memory), then writing files (a tree
#                 copied into tmpfs in a loop, as unpack's writer works beside the engine)
# "−node" subtracts `node -e 0`, timed in the first run. Results: bench/results/cores.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
command -v hyperfine >/dev/null || { echo "cores: hyperfine is required (apt-get install hyperfine)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "cores: needs two cores, this process has $(nproc)" >&2; exit 1; }
npm run build >/dev/null
NODE=$PWD/node_modules/.bin/node
OUT=bench/results
mkdir -p "$OUT"
SHM=$(mktemp -d /dev/shm/cores.XXXXXX)
LOAD=
stop_load() { if [ -n "$LOAD" ]; then kill "$LOAD" 2>/dev/null || true; wait "$LOAD" 2>/dev/null || true; LOAD=; fi; }
trap 'stop_load; rm -rf "$SHM"' EXIT
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(test-images/real/fedora-like-zstd.img test-images/real/fedora-like-gzip.img)
# The tree the writing load copies: the uncompressed image's files.
"$NODE" bin/initramfs-restore.js unpack test-images/real/fedora-like-none.img "$SHM/tree" >/dev/null

# Runs hyperfine on the commands "name=command"... into $SHM/NAME-OF-RUN.json.
time_run() {
  local run=$1
  shift
  local args=()
  for c in "$@"; do args+=(--command-name "${c%%=*}" "${c#*=}"); done
  hyperfine --style none --warmup 1 --runs "$RUNS" --output null "${args[@]}" \
    --export-json "$SHM/$run.json" >/dev/null 2>"$SHM/hyperfine.log" || { cat "$SHM/hyperfine.log" >&2; exit 1; }
}

{
  echo "# bench/cores.sh, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); medians of $RUNS hyperfine runs; ms"
  echo "# the main member decoded by bench/decode-member.mjs into nothing, the image read from $(df --output=fstype "$(dirname "${images[0]}")" | tail -1); the writing load copies into tmpfs (/dev/shm)"
  echo "# ÷main: −node divided by main's −node"
  printf '%-22s %-34s %8s %8s %7s\n' image how total −node ÷main
} > "$OUT/cores.txt"
for img in "${images[@]}"; do
  start=$("$NODE" bin/initramfs-restore.js examine --json "$img" | "$NODE" -e 'console.log(JSON.parse(require("fs").readFileSync(0)).archives.at(-1).start)')
  decode="$NODE bench/decode-member.mjs $img $start"
  time_run idle "node-e-0=$NODE -e 0" "main=$decode" "threadpool=env OVERLAP=1 $decode" \
    "threadpool, one thread=env OVERLAP=1 UV_THREADPOOL_SIZE=1 $decode" "core 1, core 0 idle=taskset -c 1 $decode"
  taskset -c 0 sh -c 'while :; do :; done' & LOAD=$!
  time_run spinning "core 1, core 0 spinning=taskset -c 1 $decode"
  stop_load
  taskset -c 0 sh -c 'while :; do rm -rf "$1/copy"; cp -r "$1/tree" "$1/copy"; done' sh "$SHM" & LOAD=$!
  time_run writing "core 1, core 0 writing files=taskset -c 1 $decode"
  stop_load
  "$NODE" -e '
    const fs = require("fs");
    const [dir, image] = process.argv.slice(1);
    const results = ["idle", "spinning", "writing"].flatMap((run) => JSON.parse(fs.readFileSync(`${dir}/${run}.json`)).results);
    const ms = (name) => results.find((r) => r.command === name).median * 1000;
    const node = ms("node-e-0");
    const main = ms("main") - node;
    for (const r of results.filter((r) => r.command !== "node-e-0")) {
      const total = r.median * 1000;
      console.log([image.padEnd(22), r.command.padEnd(34), total.toFixed(1).padStart(8), (total - node).toFixed(1).padStart(8), ((total - node) / main).toFixed(2).padStart(7)].join(" "));
    }
  ' "$SHM" "$(basename "$img")" >> "$OUT/cores.txt"
done
cat "$OUT/cores.txt"
