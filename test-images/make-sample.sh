#!/bin/bash
# Regenerate test-images/sample.img: a small initramfs laid out the way dracut writes
# one, made with the real tools.
#   1. an uncompressed newc archive holding early_cpio and
#      kernel/x86/microcode/GenuineIntel.bin, padded with zeros to 512 bytes
#      (GNU cpio's default block size, which is how dracut's early archive gets padded);
#   2. the main archive (a tiny dracut-like tree), `cpio -H newc` piped through
#      dracut's `zstd -15 -q -T0`.
# Deterministic: fixed mtimes, owner forced to 0:0, inode numbers from
# cpio --reproducible, sorted names. Needs no root (no device nodes).
# It also writes sample.expected.json in the format of build-fixtures.sh's manifests;
# test/oracle.test.ts checks examine, list and unpack of the image against it.
#
# Usage: test-images/make-sample.sh [OUT.img]      (default: test-images/sample.img)
set -euo pipefail
export LC_ALL=C
umask 022

HERE=$(cd "$(dirname "$0")" && pwd)
IMG=${1:-$HERE/sample.img}
MANIFEST=${IMG%.img}.expected.json
MTIME=@1600000000
CPIO_REPRO=()
case $(cpio --help 2>&1) in *--reproducible*) CPIO_REPRO=(--reproducible) ;; esac

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# --- early microcode tree
E=$W/early
mkdir -p "$E/kernel/x86/microcode"
printf '1\n' >"$E/early_cpio"
# 6 KiB of deterministic stand-in "microcode" (Park-Miller generator, hex-decoded)
awk 'BEGIN { x = 20220414; for (i = 0; i < 6144; i++) { x = (x * 16807) % 2147483647
    printf "%02X", int(x / 8388608) % 256; if (i % 32 == 31) printf "\n" } }' |
    { if command -v basenc >/dev/null; then basenc --base16 -d -i; else xxd -r -p; fi } \
    >"$E/kernel/x86/microcode/GenuineIntel.bin"

# --- main tree, shaped like a (very) small dracut image
M=$W/main
mkdir -p "$M"/{dev,proc,sys,run,sysroot,tmp,root,etc/cmdline.d,etc/udev/rules.d} \
    "$M"/usr/{bin,sbin,lib/dracut/hooks/pre-udev,lib/dracut/hooks/shutdown,lib/modules/6.1.0-sample-amd64}
chmod 1777 "$M/tmp"
chmod 0700 "$M/root"
ln -s usr/bin "$M/bin"
ln -s usr/sbin "$M/sbin"
ln -s usr/lib "$M/lib"
cat >"$M/init" <<'EOF'
#!/bin/sh
# sample initramfs init
export PATH=/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /lib/dracut-lib.sh
info "sample init: switching to /sysroot"
exec switch_root /sysroot /sbin/init
EOF
cat >"$M/shutdown" <<'EOF'
#!/bin/sh
# runs from /run/initramfs after systemd-shutdown pivots back into it
export PATH=/usr/sbin:/usr/bin
umount -a -r 2>/dev/null
case "$1" in
    reboot|poweroff|halt) exec "$1" -f ;;
    *) exec reboot -f ;;
esac
EOF
chmod 0755 "$M/init" "$M/shutdown"
cat >"$M/usr/lib/dracut-lib.sh" <<'EOF'
#!/bin/sh
info() { echo "dracut: $*" >/dev/kmsg; }
warn() { echo "dracut Warning: $*" >/dev/kmsg; }
getarg() { for o in $(cat /proc/cmdline); do case "$o" in "$1"=*) echo "${o#*=}"; return 0 ;; esac; done; return 1; }
EOF
printf 'echo pre-udev hook\n' >"$M/usr/lib/dracut/hooks/pre-udev/30-sample.sh"
printf 'echo shutdown hook\n' >"$M/usr/lib/dracut/hooks/shutdown/50-sample.sh"
printf 'base\nshutdown\nkernel-modules\n' >"$M/usr/lib/dracut/modules.txt"
printf '059-4\n' >"$M/usr/lib/dracut/dracut-059-4"                  # lsinitrd shows it as Version
printf ' --no-hostonly --early-microcode --zstd\n' >"$M/usr/lib/dracut/build-parameter.txt"
printf 'NAME="Sample Linux"\nID=sample\nVERSION_ID=1\nPRETTY_NAME="Sample Linux 1 dracut-059 (Initramfs)"\n' \
    >"$M/usr/lib/initrd-release"
ln -s ../usr/lib/initrd-release "$M/etc/initrd-release"
ln -s initrd-release "$M/etc/os-release"
ln -s /proc/self/mounts "$M/etc/mtab"
: >"$M/etc/fstab.empty"
printf 'root:x:0:0::/root:/bin/sh\n' >"$M/etc/passwd"
printf 'root:x:0:\n' >"$M/etc/group"
printf 'rd.shell=0\n' >"$M/etc/cmdline.d/00-sample.conf"
printf 'udev_log="info"\n' >"$M/etc/udev/udev.conf"
printf '# sample rule\nSUBSYSTEM=="block", TAG+="systemd"\n' >"$M/etc/udev/rules.d/59-sample.rules"
: >"$M/usr/lib/modules/6.1.0-sample-amd64/modules.dep"
printf 'kernel/drivers/block/loop.ko\n' >"$M/usr/lib/modules/6.1.0-sample-amd64/modules.order"
printf '#!/bin/sh\necho "sample tool: $0"\n' >"$M/usr/bin/kmod"
chmod 0755 "$M/usr/bin/kmod"
ln "$M/usr/bin/kmod" "$M/usr/bin/kmod-hardlink"        # dracut hardlinks identical files
ln -s kmod "$M/usr/bin/lsmod"
ln -s ../bin/kmod "$M/usr/sbin/modprobe"

for d in "$E" "$M"; do
    find "$d" -depth -exec touch -h -d "$MTIME" {} +
done

archive() { # DIR -> newc on stdout, GNU cpio's default 512-byte blocking (like dracut)
    (cd "$1" && find . -print0 | sort -z |
        cpio --null -o -H newc -R 0:0 "${CPIO_REPRO[@]}" --quiet)
}
archive_exact() { # DIR -> newc without the block padding (-C 4: a newc archive is 4-aligned)
    (cd "$1" && find . -print0 | sort -z |
        cpio --null -o -H newc -R 0:0 "${CPIO_REPRO[@]}" --quiet -C 4)
}

archive "$E" >"$W/early.cpio"
archive "$M" >"$W/main.cpio"
zstd -15 -q -T0 -c <"$W/main.cpio" >"$W/main.cpio.zst"
cat "$W/early.cpio" "$W/main.cpio.zst" >"$IMG.tmp"
mv "$IMG.tmp" "$IMG"

early_exact=$(archive_exact "$E" | wc -c)
main_exact=$(archive_exact "$M" | wc -c)
early=$(stat -c %s "$W/early.cpio")
main=$(stat -c %s "$W/main.cpio")
z=$(stat -c %s "$W/main.cpio.zst")
size=$(stat -c %s "$IMG")
cat >"$MANIFEST" <<EOF
{
  "image": "$(basename "$IMG")",
  "size": $size,
  "description": "dracut layout: early microcode archive (512-padded), then a small main archive compressed with zstd -15 -q -T0",
  "segments": [
    {"start": 0, "end": $early_exact, "format": "cpio", "magic": "070701", "content": "early"},
    {"start": $early, "end": $size, "format": "zstd", "command": "zstd -15 -q -T0", "decompressed_size": $main, "inner": [{"start": 0, "end": $main_exact, "format": "cpio", "magic": "070701", "content": "main"}], "inner_padding": [$([ "$main" -gt "$main_exact" ] && echo "{\"start\": $main_exact, \"end\": $main}")]}
  ],
  "padding": [
    {"start": $early_exact, "end": $early}
  ]
}
EOF
printf '%s: %d bytes (early archive %d + %d zeros, zstd member %d -> %d bytes, %d + %d entries)\n' \
    "$IMG" "$size" "$early_exact" $((early - early_exact)) "$z" "$main" \
    "$(cpio -t --quiet <"$W/early.cpio" | wc -l)" "$(cpio -t --quiet <"$W/main.cpio" | wc -l)"
