#!/usr/bin/env bash
# npm run setup: everything the tests need on a fresh Debian 12 machine, then nothing else to do
# but `npm test`. Run it as root, or as a user who may sudo: the packages, the real images
# (built by Debian's own dracut) and Debian's later dracut and 3cpio need root; `npm ci` runs
# as you, and what root made in the checkout is handed back to you.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
  as_root() { "$@"; }
else
  command -v sudo >/dev/null || { echo "setup: run as root, or install sudo" >&2; exit 1; }
  as_root() { sudo "$@"; }
fi

# The real tools the tests compare against, and GNU time, python3 and hyperfine for the
# measurements.
as_root apt-get update
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  cpio gzip bzip2 xz-utils zstd lz4 lzop time python3 hyperfine ca-certificates

npm ci
npm run build

# Real images from Debian's own dracut 059 (dracut-core, linux-image-amd64, microcode), in every
# compression dracut offers; the script skips images that already exist.
as_root bash test-images/build-real-images.sh --extra test-images/real

# Debian's later dracut restore scripts (trixie 106, forky 112) and 3cpio, unpacked beside the
# project without touching the system.
as_root bash test-images/get-dracut-ng.sh test-images/dracut-ng

if [ "$(id -u)" != 0 ]; then
  as_root chown -R "$(id -u):$(id -g)" test-images/real test-images/dracut-ng
fi
