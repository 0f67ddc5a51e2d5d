#!/usr/bin/env bash
# Node's start is part of every command: `node -e 0` against our shortest commands, and what
# loading a built-in module (node:util, node:fs) costs through its ESM namespace against
# process.getBuiltinModule, which src/ uses for all of them (docs/design.md). Not a test:
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
echo "" > "$TMP/empty.mjs"
hyperfine --style none -N --warmup 3 --runs "$RUNS" --output null \
  --command-name 'node -e 0' "$NODE -e 0" \
  --command-name 'empty ES module' "$NODE $TMP/empty.mjs" \
  --command-name "import 'node:util'" "$NODE $TMP/esm-util.mjs" \
  --command-name "getBuiltinModule('node:util')" "$NODE $TMP/builtin-util.mjs" \
  --command-name "import 'node:fs'" "$NODE $TMP/esm-fs.mjs" \
  --command-name "getBuiltinModule('node:fs')" "$NODE $TMP/builtin-fs.mjs" \
  --command-name 'initramfs-restore --help' "$NODE bin/initramfs-restore.js --help" \
  --command-name "list $(basename "$IMAGE")" "$NODE bin/initramfs-restore.js list $IMAGE" \
  --command-name "examine $(basename "$IMAGE")" "$NODE bin/initramfs-restore.js examine $IMAGE" \
  --command-name "3cpio -t $(basename "$IMAGE")" "$THREECPIO -t $IMAGE" \
  --export-json "$TMP/h.json" >/dev/null 2>"$TMP/log" || { cat "$TMP/log" >&2; exit 1; }
{
  echo "# bench/startup.sh, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); medians of $RUNS hyperfine runs, ms"
  "$NODE" -e 'for (const r of require(process.argv[1]).results) console.log((r.median * 1000).toFixed(1).padStart(7), r.command)' "$TMP/h.json"
} | tee bench/results/startup.txt
