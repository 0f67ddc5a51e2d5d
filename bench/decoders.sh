#!/usr/bin/env bash
# Each of our in-process decoders against its format's CLI, on the main (compressed) member
# of each real image, output to /dev/null: the figures docs/dependencies.md quotes.
# Not a test: nothing is asserted.
#
#   bash bench/decoders.sh [IMAGE...]     (default: test-images/real/fedora-like-*.img but none,
#                                          and an lzma member made here from the zstd one's archive)
#
# ours = node bench/decode-member.mjs IMG OFFSET (the decoder alone, in the main thread, no
# cpio parsing); "−node" subtracts `node -e 0`, timed in the same run. The CLI reads the member
# from a copy on /dev/shm. Results: bench/results/decoders.{txt,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
command -v hyperfine >/dev/null || { echo "decoders: hyperfine is required (apt-get install hyperfine)" >&2; exit 1; }
npm run build >/dev/null
NODE=$PWD/node_modules/.bin/node
. bench/lib.sh
OUT=bench/results
mkdir -p "$OUT"
SHM=$(mktemp -d /dev/shm/decoders.XXXXXX)
trap 'rm -rf "$SHM"' EXIT
images=("$@")
if [ ${#images[@]} -eq 0 ]; then
  images=($(ls test-images/real/fedora-like-*.img | grep -v none))
  # dracut offers lzma too; the image of one lzma member holds the zstd image's main archive.
  zstd_img=test-images/real/fedora-like-zstd.img
  start=$($NODE bin/initramfs-restore.js examine --json "$zstd_img" | "$NODE" -e 'console.log(JSON.parse(require("fs").readFileSync(0)).archives.at(-1).start)')
  tail -c +$((start + 1)) "$zstd_img" | zstd -dcq | xz --format=lzma -c > "$SHM/fedora-like-lzma.img"
  images+=("$SHM/fedora-like-lzma.img")
fi
declare -A CLI=([gzip]='gzip -dc' [bzip2]='bzip2 -dc' [xz]='xz -dc' [lzma]='xz -dc --format=lzma'
                [lz4]='lz4 -dc' [lzop]='lzop -dc' [zstd]='zstd -dc')

{
  echo "# bench/decoders.sh, $(date -u +%F): $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); medians of $RUNS hyperfine runs"
  echo "# the main member of each image to /dev/null; ÷: ours divided by the CLI"
  printf '%-10s %10s %10s %8s %10s %8s %12s\n' format member_MB cli_s ours_s ÷cli ours−node_s ÷cli
} > "$OUT/decoders.txt"
echo '[' > "$OUT/decoders.json"
first=1
for img in "${images[@]}"; do
  member=$(copy_main_member "$img" "$SHM/member")
  read -r format start end <<< "$member"
  hyperfine --style none --warmup 1 --runs "$RUNS" --output null \
    --command-name cli "${CLI[$format]} < $SHM/member" \
    --command-name ours "$NODE bench/decode-member.mjs $img $start" \
    --command-name node-e-0 "$NODE -e 0" \
    --export-json "$SHM/h.json" >/dev/null 2>"$SHM/hyperfine.log" || { cat "$SHM/hyperfine.log" >&2; exit 1; }
  TXT=$OUT/decoders.txt JSON_OUT=$OUT/decoders.json "$NODE" -e '
    const [file, format, size, first] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(file)).results;
    const m = (n) => r.find((x) => x.command === n).median;
    const row = { format, memberBytes: Number(size), cliS: m("cli"), oursS: m("ours"), nodeS: m("node-e-0") };
    row.oursLessNodeS = row.oursS - row.nodeS;
    const line = [format.padEnd(10), (size / 1e6).toFixed(1).padStart(10), row.cliS.toFixed(3).padStart(10), row.oursS.toFixed(3).padStart(10),
      (row.oursS / row.cliS).toFixed(2).padStart(8), row.oursLessNodeS.toFixed(3).padStart(10), (row.oursLessNodeS / row.cliS).toFixed(2).padStart(8)].join(" ");
    require("fs").appendFileSync(process.env.TXT, line + "\n");
    require("fs").appendFileSync(process.env.JSON_OUT, (first === "1" ? "" : ",\n") + JSON.stringify(row));
  ' "$SHM/h.json" "$format" $((end - start)) "$first"
  first=0
done
echo ']' >> "$OUT/decoders.json"
cat "$OUT/decoders.txt"
