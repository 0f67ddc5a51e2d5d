#!/usr/bin/env bash
# npm run setup: everything the tests need on a fresh Debian 12 machine, then nothing else to do
# but `npm test`. As root: the packages, the real images (built by Debian's own dracut) and
# Debian's later dracut and 3cpio need it, and so does the suite (device nodes in the
# fixtures, dracut's scripts in a mount namespace). With sudo: sudo sh -c 'npm run setup && npm test'.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "setup: run as root: sudo sh -c 'npm run setup && npm test'" >&2; exit 1; }

# The real tools the tests compare against (systemd-boot-efi and binutils: the stub and objcopy
# that unified kernel images are made of), GNU time, python3 and hyperfine for the
# measurements, and clang and lld, with which a test rebuilds our lz4 WebAssembly from its C
# source (src/decode/wasm/build.sh) to check the committed module.
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  cpio gzip bzip2 lbzip2 xz-utils zstd lz4 lzop time python3 hyperfine ca-certificates \
  systemd-boot-efi binutils clang lld

npm ci
npm run build

# Real images from Debian's own dracut 059 (dracut-core, linux-image-amd64, microcode), in every
# compression dracut offers; the script skips images that already exist.
bash test-images/build-real-images.sh --extra test-images/real

# Debian's later dracut restore scripts (trixie 106, forky 112) and 3cpio, unpacked beside the
# project without touching the system.
bash test-images/get-dracut-ng.sh test-images/dracut-ng

