#!/usr/bin/env bash
# zstd from npm, as a native build that ships its binary inside the package (no download at
# install, no compiler), against `zstd -dc` and node:zlib's zstd, on the zstd image's main
# member: the figures docs/dependencies.md quotes for keeping the co-process. Not a test:
# nothing is asserted. Needs the npm registry (the package goes into a temporary directory,
# not into the project).
#
#   bash bench/npm-zstd.sh [IMAGE]     (default: test-images/real/fedora-like-zstd.img)
#
# @mongodb-js/zstd 1.2.2 is the last release whose binaries come as per-platform packages
# (napi-rs); from 2.0 its install script downloads them (prebuild-install), as zstd-napi's
# does. Its one decoder takes and returns whole buffers: the member in, 134.6 MB out.
# Medians of RUNS hyperfine runs; peak RSS by GNU time. Results: bench/results/npm-zstd.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
IMAGE=${1:-test-images/real/fedora-like-zstd.img}
command -v hyperfine >/dev/null || { echo "npm-zstd: hyperfine is required (apt-get install hyperfine)" >&2; exit 1; }
npm run build >/dev/null
NODE=$PWD/node_modules/.bin/node
TMP=$(mktemp -d)
SHM=$(mktemp -d /dev/shm/npm-zstd.XXXXXX)
trap 'rm -rf "$TMP" "$SHM"' EXIT
(cd "$TMP" && npm init -y >/dev/null && npm install --no-audit --no-fund --ignore-scripts @mongodb-js/zstd@1.2.2 >/dev/null)
. bench/lib.sh
member=$(copy_main_member "$IMAGE" "$SHM/member")
read -r _ start end <<< "$member"
cat > "$TMP/napi.mjs" <<EOF
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const { decompress } = createRequire('$TMP/')('@mongodb-js/zstd');
const out = await decompress(readFileSync('$SHM/member'));
if (out.length === 0) process.exit(1);
EOF
cat > "$TMP/zlib.mjs" <<EOF
import { createReadStream } from 'node:fs';
import { createZstdDecompress } from 'node:zlib';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
await pipeline(createReadStream('$SHM/member', { highWaterMark: 1 << 20 }), createZstdDecompress({ chunkSize: 1 << 20 }), new Writable({ write(_c, _e, done) { done(); } }));
EOF
hyperfine --style none --warmup 2 --runs "$RUNS" --output null \
  --command-name 'zstd -dc' "zstd -dc -q $SHM/member" \
  --command-name '@mongodb-js/zstd 1.2.2' "$NODE $TMP/napi.mjs" \
  --command-name 'node:zlib zstd stream' "$NODE $TMP/zlib.mjs" \
  --command-name 'node -e 0' "$NODE -e 0" \
  --export-json "$TMP/h.json" >/dev/null 2>"$TMP/log" || { cat "$TMP/log" >&2; exit 1; }
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
{
  echo "# bench/npm-zstd.sh, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(zstd --version | head -1)"
  echo "# $(basename "$IMAGE")'s main member ($((end - start)) bytes) decoded, output dropped; medians of $RUNS hyperfine runs; −node: less node -e 0"
  RSS_CLI=$(rss zstd -dc -q "$SHM/member") RSS_NAPI=$(rss "$NODE" "$TMP/napi.mjs") RSS_ZLIB=$(rss "$NODE" "$TMP/zlib.mjs") \
  "$NODE" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1])).results;
    const m = (n) => r.find((x) => x.command === n).median;
    const node = m("node -e 0"), cli = m("zstd -dc");
    const rss = { "zstd -dc": process.env.RSS_CLI, "@mongodb-js/zstd 1.2.2": process.env.RSS_NAPI, "node:zlib zstd stream": process.env.RSS_ZLIB };
    console.log("decoder                    seconds  −node_s  ÷zstd -dc  peak_RSS_MB");
    for (const name of Object.keys(rss)) {
      const less = name === "zstd -dc" ? m(name) : m(name) - node;
      console.log(name.padEnd(24), m(name).toFixed(3).padStart(9), less.toFixed(3).padStart(8), (less / cli).toFixed(2).padStart(10), (rss[name] / 1024).toFixed(0).padStart(12));
    }' "$TMP/h.json"
} | tee bench/results/npm-zstd.txt
