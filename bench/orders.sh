#!/usr/bin/env bash
# The published decompressor-order benchmark: builds the real image set with Debian's dracut
# (Fedora-like with early microcode: zstd, gzip, xz, lz4, lzo, bzip2, none) plus the
# Debian-installer initrd from debian-installer-12-netboot-amd64, then runs the full matrix
# (every preset order, dracut 112's 3cpio and extractinitrd, x both engines, plus the native
# floor) and writes bench/results/orders.*.
# A second, smaller run puts dracut-056 and dracut-057 behind a 115200-baud serial console.
# Not a test: nothing is asserted. Needs root on Debian 12 (apt, dracut), about 40 minutes.
#
#   bash bench/orders.sh                 RUNS=5 WARMUP=1 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
IMAGES=test-images/real
OUT=bench/results
NODE=$PWD/node_modules/.bin/node
mkdir -p "$OUT"
[ -f dist/cli/main.js ] || npm run build >/dev/null

bash test-images/build-real-images.sh --extra "$IMAGES"

# The installer's initrd: one gzip cpio, no early archive, built by debian-installer, not dracut.
DI=$IMAGES/debian-installer-12-amd64.img
if [ ! -f "$DI" ]; then
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  (cd "$tmp" && apt-get download debian-installer-12-netboot-amd64 >/dev/null)
  dpkg-deb --fsys-tarfile "$tmp"/debian-installer-12-netboot-amd64_*.deb |
    tar -xO ./usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/initrd.gz > "$DI.part"
  mv "$DI.part" "$DI"
  echo "debian-installer-12-netboot-amd64=$(basename "$tmp"/*.deb .deb | cut -d_ -f2)" >> "$IMAGES/versions.txt"
  rm -rf "$tmp"
fi

# dracut 112's extractors: 3cpio (forky's 0.14) on PATH, as forky's dracut-core prefers it,
# and extractinitrd from forky's dracut-core, where $dracutbasedir says.
bash test-images/get-dracut-ng.sh test-images/dracut-ng >/dev/null
export PATH=$PWD/test-images/dracut-ng/3cpio/bin:$PATH dracutbasedir=$PWD/test-images/dracut-ng/basedir-112

images=("$IMAGES"/fedora-like-{zstd,gzip,xz,lz4,lzo,bzip2,none}.img "$DI")
"$NODE" bin/initramfs-restore.js bench "${images[@]}" --runs "$RUNS" --warmup "$WARMUP" \
  --orders dracut-055,dracut-056,dracut-057,zstd-first,initramfs-tools,dracut-112,extractinitrd \
  --json "$OUT/orders.json" --chart "$OUT/orders.svg" | tee "$OUT/orders.txt"

"$NODE" bin/initramfs-restore.js bench "$IMAGES/fedora-like-zstd.img" --orders dracut-056,dracut-057 \
  --engines native --console serial:115200 --runs 1 --warmup 0 \
  --json "$OUT/orders-serial.json" --chart "$OUT/orders-serial.svg" | tee "$OUT/orders-serial.txt"
