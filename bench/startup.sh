#!/usr/bin/env bash
# Node's start is part of every command: `node -e 0` against our shortest commands, and what
# loading a built-in module (node:util, node:fs) costs through its ESM namespace against
# process.getBuiltinModule, which src/ uses for all of them (docs/design.md), and what
# node:child_process, node:zlib and the `performance` global add to the peak RSS. Not a test:
# nothing is asserted.
#
#   bash bench/startup.sh [IMAGE]     (default: test-images/real/fedora-like-none.img)
#
# Medians of RUNS hyperfine runs (default 30). Results: bench/results/startup.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
IMAGE=${1:-test-images/real/fedora-like-none.img}
npm run build >/dev/null
NODE=$PWD/node_modules/.bin/node
THREECPIO=$PWD/test-images/dracut-ng/3cpio/bin/3cpio
[ -x "$THREECPIO" ] || bash test-images/get-dracut-ng.sh test-images/dracut-ng >/dev/null
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "import 'node:util';" > "$TMP/esm-util.mjs"
echo "process.getBuiltinModule('node:util');" > "$TMP/builtin-util.mjs"
echo "import 'node:fs';" > "$TMP/esm-fs.mjs"
echo "process.getBuiltinModule('node:fs');" > "$TMP/builtin-fs.mjs"
echo "process.getBuiltinModule('node:child_process');" > "$TMP/builtin-child-process.mjs"
echo "process.getBuiltinModule('node:zlib');" > "$TMP/builtin-zlib.mjs"
echo "performance.now();" > "$TMP/performance.mjs"
echo "" > "$TMP/empty.mjs"
names=('node -e 0' 'empty ES module' "import 'node:util'" "getBuiltinModule('node:util')" "import 'node:fs'"
  "getBuiltinModule('node:fs')" "getBuiltinModule('node:child_process')" "getBuiltinModule('node:zlib')" 'performance.now()'
  'initramfs-restore --help' "list $(basename "$IMAGE")" "examine $(basename "$IMAGE")" "3cpio -t $(basename "$IMAGE")")
commands=("$NODE -e 0" "$NODE $TMP/empty.mjs" "$NODE $TMP/esm-util.mjs" "$NODE $TMP/builtin-util.mjs" "$NODE $TMP/esm-fs.mjs"
  "$NODE $TMP/builtin-fs.mjs" "$NODE $TMP/builtin-child-process.mjs" "$NODE $TMP/builtin-zlib.mjs" "$NODE $TMP/performance.mjs"
  "$NODE bin/initramfs-restore.js --help" "$NODE bin/initramfs-restore.js list $IMAGE"
  "$NODE bin/initramfs-restore.js examine $IMAGE" "$THREECPIO -t $IMAGE")
args=()
for i in "${!names[@]}"; do args+=(--command-name "${names[$i]}" "${commands[$i]}"); done
hyperfine --style none -N --warmup 3 --runs "$RUNS" --output null "${args[@]}" \
  --export-json "$TMP/h.json" >/dev/null 2>"$TMP/log" || { cat "$TMP/log" >&2; exit 1; }
# Peak RSS by GNU time, the median of 3 runs of each, output to /dev/null as hyperfine's.
for i in "${!commands[@]}"; do
  for _ in 1 2 3; do /usr/bin/time -f %M ${commands[$i]} 2>&1 >/dev/null | tail -1; done | sort -n | sed -n 2p
done > "$TMP/rss"
{
  echo "# bench/startup.sh, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); medians of $RUNS hyperfine runs, ms; peak RSS, MB (GNU time, median of 3)"
  "$NODE" -e '
    const rss = require("fs").readFileSync(process.argv[2], "latin1").trim().split("\n");
    require(process.argv[1]).results.forEach((r, i) => console.log((r.median * 1000).toFixed(1).padStart(7), (rss[i] / 1024).toFixed(1).padStart(6), r.command));
  ' "$TMP/h.json" "$TMP/rss"
} | tee bench/results/startup.txt
