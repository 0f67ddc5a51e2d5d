#!/bin/bash
# Build small, deterministic initramfs fixtures with the real tools (GNU cpio, gzip,
# bzip2, xz, lz4, lzop, zstd).
#
# Usage: test-images/build-fixtures.sh [OUTDIR]     (default: test-images/build)
#
# OUTDIR is wiped and recreated. It then holds:
#   tree/ early/ extra/ extra2/   the source trees the archives were made from
#   *.img                    the images
#   *.expected.json          one manifest per image (NAME.img -> NAME.expected.json)
#   fixtures.json            tool versions and the list of images
#
# Manifests are computed from the sizes of the pieces this script concatenated, never
# by parsing the result. Offsets are byte offsets, `end` is exclusive.
#   {
#     "image": "dracut-zstd.img", "size": N, "description": "...",
#     "segments": [                                  members of the image, in order
#       {"start", "end", "format": "cpio", "magic": "070701"|"070702", "content": "early"},
#       {"start", "end", "format": "gzip"|"bzip2"|"xz"|"lzma"|"lz4"|"lzop"|"zstd",
#        "variant": "legacy"|"frame"|"long" (lz4 and zstd --long only), "command": "...",
#        "decompressed_size": N,
#        "inner": [ {"start", "end", "format": "cpio", "magic", "content"} ],   in decompressed bytes
#        "inner_padding": [ {"start", "end"} ]}                                 zeros, decompressed
#     ],
#     "padding": [ {"start", "end"} ]                zero bytes between/after members
#   }
# A cpio segment ends right after its TRAILER!!! entry (aligned to 4); zeros that
# follow (GNU cpio's 512-byte block padding included) are listed in "padding".
# "content" names the directory under OUTDIR the archive was made from.
set -euo pipefail
export LC_ALL=C
umask 022

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/build}
START=$(date +%s)

if [ "$(id -u)" != 0 ]; then
    echo "build-fixtures.sh: warning: not root; device nodes and chown will be skipped" >&2
fi
for t in cpio gzip bzip2 xz lz4 lzop zstd; do
    command -v "$t" >/dev/null || { echo "build-fixtures.sh: $t is required" >&2; exit 1; }
done

rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
P=$(mktemp -d)
trap 'rm -rf "$P"' EXIT

log() { printf '[build-fixtures] %s\n' "$*" >&2; }

MTIME=@1600000000             # fixed mtime for every entry
CPIO_REPRO=()
case $(cpio --help 2>&1) in *--reproducible*) CPIO_REPRO=(--reproducible) ;; esac

# Deterministic, incompressible bytes: a Park-Miller generator (x * 16807 mod 2^31-1;
# exact in any awk's doubles), bits 23..30 of each step, hex-decoded by basenc.
if command -v basenc >/dev/null; then unhex() { basenc --base16 -d -i; }
else unhex() { xxd -r -p; }; fi
pseudo_random() { # N SEED
    awk -v n="$1" -v seed="$2" 'BEGIN {
        x = seed * 7919 + 1
        for (i = 0; i < n; i++) {
            x = (x * 16807) % 2147483647
            printf "%02X", int(x / 8388608) % 256
            if (i % 32 == 31) printf "\n"
        }
        printf "\n"
    }' | unhex
}

# ---------------------------------------------------------------- source trees
DEVICES=true
make_tree() {
    local d=$OUT/tree
    mkdir -p "$d"
    cd "$d"
    : >empty
    printf 'hello, initramfs\n' >hello.txt                      # 17 bytes, not a multiple of 4
    mkdir -p etc usr/bin usr/lib/data usr/share/big deep/a/b/c/d/e emptydir links/sub dev \
        "dir with spaces"
    printf 'NAME="fixture"\nID=fixture\n' >etc/os-release
    printf 'top secret\n' >etc/secret
    chmod 0600 etc/secret
    printf '#!/bin/sh\necho tool\n' >usr/bin/tool
    chmod 4755 usr/bin/tool                                      # setuid
    pseudo_random 131072 1 >usr/lib/data/random.bin              # 128 KiB
    pseudo_random 10001 7 >usr/lib/data/odd-size.bin             # odd size
    # 9 MiB: zeros with a numbered marker every 64 KiB, so the content differs across
    # lz4-legacy's 8 MiB blocks but every format compresses it to almost nothing.
    local i
    for i in $(seq 0 143); do
        printf 'block %06d\n' "$i"
        head -c $((65536 - 13)) /dev/zero
    done >usr/share/big/nine-mib.bin
    printf 'leaf\n' >deep/a/b/c/d/e/leaf.txt
    ln -s usr/bin bin                                            # relative symlinks
    ln -s ../lib/data/random.bin usr/bin/random-link
    ln -s ../../hello.txt usr/lib/hello-link
    ln -s does/not/exist dangling
    printf 'pair\n' >links/pair-a
    ln links/pair-a links/pair-b                                 # hard-link pair
    printf 'triple data\n' >links/triple-1
    ln links/triple-1 links/triple-2                             # hard-link triple
    ln links/triple-1 links/sub/triple-3
    printf 'spaces\n' >"dir with spaces/file name with spaces.txt"
    printf 'not utf-8\n' >"$(printf 'name-\x85\xff.bin')"        # non-UTF-8 name
    mkfifo dev/fifo
    if ! { mknod dev/char-1-3 c 1 3 && mknod dev/block-7-0 b 7 0; } 2>/dev/null; then
        log "warning: mknod failed, the tree has no device nodes"
        DEVICES=false
        rm -f dev/char-1-3 dev/block-7-0
    fi
    printf 'owned by 1000:1000\n' >owned
    chown 1000:1000 owned 2>/dev/null || true
    cd - >/dev/null
}

make_early() { # dracut's early microcode archive
    local d=$OUT/early
    mkdir -p "$d/kernel/x86/microcode"
    printf '1\n' >"$d/early_cpio"
    pseudo_random 10245 1000 >"$d/kernel/x86/microcode/GenuineIntel.bin"
    pseudo_random 3077 2000 >"$d/kernel/x86/microcode/AuthenticAMD.bin"
}

# Two small trees of the same shape: with --reproducible, cpio numbers inodes in
# archive order, so their hard-link pairs get the same (0, 0, ino) key. Unpacking
# extra2's archive after extra's is right only if the trailer resets the link table.
make_extra() { # DIR PREFIX
    local d=$OUT/$1 p=$2
    mkdir -p "$d/sub"
    printf '%s archive\n' "$p" >"$d/$p.txt"
    printf '%s pair\n' "$p" >"$d/$p-pair-1"
    ln "$d/$p-pair-1" "$d/sub/$p-pair-2"
    ln -s "../$p.txt" "$d/sub/$p-link"
}

make_tree
make_early
make_extra extra x
make_extra extra2 y
for d in tree early extra extra2; do # fixed times for everything, directories last
    find "$OUT/$d" -depth -exec touch -h -d "$MTIME" {} +
done

# ---------------------------------------------------------------- cpio pieces
# exact archive (no block padding) of OUT/DIR: a newc archive is a multiple of 4 bytes,
# so with 4-byte I/O blocks (-C 4) GNU cpio adds no trailing zeros
cpio_exact() { # DIR FORMAT(newc|crc) OUTFILE
    (cd "$OUT/$1" && find . -print0 | sort -z |
        cpio --null -o -H "$2" "${CPIO_REPRO[@]}" --quiet -C 4) >"$3"
}
for d in tree early extra extra2; do
    cpio_exact "$d" newc "$P/$d.newc"
done
cpio_exact tree crc "$P/tree.crc"

# Self-check: GNU cpio's default output is the exact archive plus zeros up to 512.
(cd "$OUT/tree" && find . -print0 | sort -z | cpio --null -o -H newc "${CPIO_REPRO[@]}" --quiet) \
    >"$P/tree.default"
{ cat "$P/tree.newc"; head -c $(((512 - $(stat -c %s "$P/tree.newc") % 512) % 512)) /dev/zero; } |
    cmp -s - "$P/tree.default" || { echo "unexpected GNU cpio block padding" >&2; exit 1; }

# ---------------------------------------------------------------- streams
# A stream is a byte sequence (raw or to be compressed) with its layout:
#   $P/S.bin, $P/S.segs ("start end magic content" lines), $P/S.pads ("start end")
stream_new() { : >"$P/$1.bin"; : >"$P/$1.segs"; : >"$P/$1.pads"; }
stream_size() { stat -c %s "$P/$1.bin"; }
stream_cpio() { # S DIR [FORMAT]
    local s=$1 f=${3:-newc} off magic
    off=$(stream_size "$s")
    [ $((off % 4)) = 0 ] || { echo "cpio at unaligned offset $off in $s" >&2; exit 1; }
    cat "$P/$2.$f" >>"$P/$s.bin"
    magic=070701; [ "$f" = crc ] && magic=070702
    echo "$off $(stream_size "$s") $magic $2" >>"$P/$s.segs"
}
stream_zeros() { # S N
    local off
    [ "$2" -gt 0 ] || return 0
    off=$(stream_size "$1")
    head -c "$2" /dev/zero >>"$P/$1.bin"
    echo "$off $((off + $2))" >>"$P/$1.pads"
}
stream_pad_to() { # S BLOCK  (like GNU cpio's output blocking)
    local off
    off=$(stream_size "$1")
    stream_zeros "$1" $((($2 - off % $2) % $2))
}

stream_new tree512;  stream_cpio tree512 tree;  stream_pad_to tree512 512
stream_new crc512;   stream_cpio crc512 tree crc; stream_pad_to crc512 512
stream_new early512; stream_cpio early512 early; stream_pad_to early512 512
stream_new extra512; stream_cpio extra512 extra; stream_pad_to extra512 512
stream_new early;    stream_cpio early early
stream_new extra;    stream_cpio extra extra
# several archives in one decompressed stream
stream_new two;      stream_cpio two extra; stream_cpio two extra2; stream_pad_to two 512
stream_new threepad; stream_cpio threepad extra; stream_zeros threepad 12
stream_cpio threepad extra2; stream_zeros threepad 4; stream_cpio threepad tree
stream_pad_to threepad 512

# ---------------------------------------------------------------- compressors
# dracut's own command lines where dracut has one (see the facts page, section 5)
declare -A CMD=(
    [gzip]="gzip -n -9 --rsyncable"
    [bzip2]="bzip2 -9"
    [xz]="xz --check=crc32 --lzma2=dict=1MiB -T0"
    [lzma]="xz --format=lzma"
    [lz4-legacy]="lz4 -l -9"
    [lz4-frame]="lz4 -9"
    [lzop]="lzop -9"
    [zstd]="zstd -15 -q -T0"
    [zstd-long]="zstd -15 -q -T0 --long=27"
)
declare -A DECOMP=(
    [gzip]="gzip -dc" [bzip2]="bzip2 -dc" [xz]="xz -dc" [lzma]="xz -dc --format=lzma"
    [lz4-legacy]="lz4 -dc" [lz4-frame]="lz4 -dc" [lzop]="lzop -dc"
    [zstd]="zstd -dcq" [zstd-long]="zstd -dcq --long=27"
)
FORMATS=(gzip bzip2 xz lzma lz4-legacy lz4-frame lzop zstd zstd-long)

compressed() { # FMT STREAM -> path of the compressed stream (cached)
    local f=$P/$2.$1.z
    if [ ! -e "$f" ]; then
        if [ "$1" = lzop ]; then
            # lzop stores the current time for stdin; from a file it stores the file's
            # mtime and name (here "STREAM.bin"), which keeps the output reproducible
            touch -d "$MTIME" "$P/$2.bin"
            (cd "$P" && ${CMD[$1]} -c "$2.bin") >"$f"
        else
            # stdin -> stdout: no file name, time or size in the headers
            ${CMD[$1]} -c <"$P/$2.bin" >"$f"
        fi
    fi
    echo "$f"
}

# ---------------------------------------------------------------- images
IMG='' IMG_FILE='' IMG_SEGS='' IMG_PADS='' IMG_DESC=''
IMAGES=()
img_begin() { # NAME DESCRIPTION
    IMG=$1 IMG_DESC=$2 IMG_FILE=$OUT/$1.img IMG_SEGS='' IMG_PADS=''
    : >"$IMG_FILE"
}
img_off() { stat -c %s "$IMG_FILE"; }
SEP=$',\n    '         # between the top-level list items of a manifest
json_ranges() { # FILE SHIFT SEPARATOR -> {"start":..,"end":..} for "start end" lines
    awk -v sh="$2" -v sep="$3" '{ printf "%s{\"start\": %d, \"end\": %d}", (NR > 1 ? sep : ""), $1 + sh, $2 + sh }' "$1"
}
json_cpio_segs() { # FILE SHIFT SEPARATOR
    awk -v sh="$2" -v sep="$3" '{ printf "%s{\"start\": %d, \"end\": %d, \"format\": \"cpio\", \"magic\": \"%s\", \"content\": \"%s\"}",
        (NR > 1 ? sep : ""), $1 + sh, $2 + sh, $3, $4 }' "$1"
}
add_json() { # VAR TEXT  (list joined with SEP)
    local -n v=$1
    [ -n "$2" ] || return 0
    v+=${v:+$SEP}$2
}
img_raw() { # STREAM: append uncompressed
    local off
    off=$(img_off)
    cat "$P/$1.bin" >>"$IMG_FILE"
    add_json IMG_SEGS "$(json_cpio_segs "$P/$1.segs" "$off" "$SEP")"
    add_json IMG_PADS "$(json_ranges "$P/$1.pads" "$off" "$SEP")"
}
img_zeros() { # N
    local off
    off=$(img_off)
    [ "$1" -gt 0 ] || return 0
    head -c "$1" /dev/zero >>"$IMG_FILE"
    add_json IMG_PADS "{\"start\": $off, \"end\": $((off + $1))}"
}
img_comp() { # FMT STREAM: append the stream compressed as one member
    local fmt=$1 s=$2 off z name variant=""
    off=$(img_off)
    z=$(compressed "$fmt" "$s")
    cat "$z" >>"$IMG_FILE"
    name=${fmt%%-*}
    case "$fmt" in
        lz4-legacy) variant=', "variant": "legacy"' ;;
        lz4-frame) variant=', "variant": "frame"' ;;
        zstd-long) variant=', "variant": "long"' ;;
    esac
    add_json IMG_SEGS "{\"start\": $off, \"end\": $(img_off), \"format\": \"$name\"$variant, \"command\": \"${CMD[$fmt]}\", \"decompressed_size\": $(stream_size "$s"), \"inner\": [$(json_cpio_segs "$P/$s.segs" 0 ", ")], \"inner_padding\": [$(json_ranges "$P/$s.pads" 0 ", ")]}"
}
img_comp_joined() { # FMT S1 S2: two compressed streams back to back that the kernel reads as ONE
    # member (unlz4 takes a repeated legacy magic as a continuation): one segment, both archives
    local fmt=$1 off z1 z2 shift
    off=$(img_off)
    z1=$(compressed "$fmt" "$2"); z2=$(compressed "$fmt" "$3")
    cat "$z1" "$z2" >>"$IMG_FILE"
    shift=$(stream_size "$2")
    add_json IMG_SEGS "{\"start\": $off, \"end\": $(img_off), \"format\": \"${fmt%%-*}\", \"variant\": \"legacy\", \"command\": \"${CMD[$fmt]} (twice, concatenated)\", \"decompressed_size\": $((shift + $(stream_size "$3"))), \"inner\": [$(json_cpio_segs "$P/$2.segs" 0 ", "), $(json_cpio_segs "$P/$3.segs" "$shift" ", ")], \"inner_padding\": [$(json_ranges "$P/$2.pads" 0 ", ")${2:+, }$(json_ranges "$P/$3.pads" "$shift" ", ")]}"
}
img_end() {
    local size
    size=$(img_off)
    {
        printf '{\n  "image": "%s.img",\n  "size": %d,\n  "description": "%s",\n' "$IMG" "$size" "$IMG_DESC"
        printf '  "segments": [\n    %s\n  ],\n' "$IMG_SEGS"
        if [ -n "$IMG_PADS" ]; then printf '  "padding": [\n    %s\n  ]\n}\n' "$IMG_PADS"
        else printf '  "padding": []\n}\n'; fi
    } >"$OUT/$IMG.expected.json"
    IMAGES+=("$IMG.img")
}

# single members
img_begin plain-newc "one newc archive of tree/, as GNU cpio writes it (zeros to 512)"
img_raw tree512; img_end
img_begin plain-crc "one crc (070702) archive of tree/, zeros to 512"
img_raw crc512; img_end
for f in "${FORMATS[@]}"; do
    img_begin "single-$f" "tree/ archive (512-padded) compressed with ${CMD[$f]}"
    img_comp "$f" tree512; img_end
done

# dracut layout: uncompressed early microcode archive padded to 512, then the main archive
img_begin dracut-none "early archive (512-padded) then uncompressed main archive (dracut --no-compress)"
img_raw early512; img_raw tree512; img_end
for f in "${FORMATS[@]}"; do
    img_begin "dracut-$f" "early archive (512-padded) then main archive compressed with ${CMD[$f]}"
    img_raw early512; img_comp "$f" tree512; img_end
done

# other orders
img_begin order-zstd-newc "compressed main first, then an uncompressed archive right after it"
img_comp zstd tree512; img_zeros $(((4 - $(img_off) % 4) % 4)); img_raw early; img_end
img_begin order-gzip-xz "two compressed members of different formats"
img_comp gzip early512; img_comp xz tree512; img_end
img_begin order-bzip2-lzop-zstd "three compressed members of different formats"
img_comp bzip2 early512; img_comp lzop extra512; img_comp zstd tree512; img_end
img_begin order-xz-zstd-newc "xz, zstd, then an uncompressed archive after 4-alignment zeros"
img_comp xz early512; img_comp zstd tree512; img_zeros $(((4 - $(img_off) % 4) % 4)); img_raw extra512; img_end
img_begin order-newc-newc-zstd "two uncompressed archives before a compressed one (skipcpio skips only the first)"
img_raw early512; img_raw extra512; img_comp zstd tree512; img_end
img_begin order-lz4-legacy-zeros-gzip "lz4 legacy member ended by zero bytes, then gzip"
img_comp lz4-legacy early512; img_zeros 8; img_comp gzip tree512; img_end
img_begin order-lz4-legacy-lz4-legacy "two lz4 legacy streams back to back: the kernel reads the second magic as a continuation, so one member"
img_comp_joined lz4-legacy early512 tree512; img_end

# zero padding of various lengths before a compressed member
# After a plain archive the kernel's do_reset wants the padding to end 4-aligned; after a
# compressed member it skips zeros byte by byte, with no alignment rule.
for spec in 1:zstd 2:gzip 3:xz 4:zstd 5:bzip2 6:lzop 7:lz4-legacy 9:lzma 13:lz4-frame 511:zstd 4099:gzip; do
    n=${spec%%:*} f=${spec#*:}
    if [ $((n % 4)) = 0 ]; then
        img_begin "pad-$n-$f" "unpadded early archive, $n zero bytes, then extra/ compressed with ${CMD[$f]}"
        img_raw early
    else
        img_begin "pad-$n-$f" "early archive compressed with zstd, $n zero bytes, then extra/ compressed with ${CMD[$f]}"
        img_comp zstd early
    fi
    img_zeros "$n"; img_comp "$f" extra512; img_end
done
img_begin trailing-zeros-zstd "dracut layout followed by 1001 zero bytes at the end"
img_raw early512; img_comp zstd tree512; img_zeros 1001; img_end
img_begin trailing-zeros-xz "xz member followed by 3 zero bytes at the end"
img_comp xz extra512; img_zeros 3; img_end

# several archives inside one decompressed stream
for f in zstd gzip xz; do
    img_begin "stream2-$f" "extra/ and extra2/ archives (colliding hard-link inodes) back to back in one ${CMD[$f]} stream"
    img_comp "$f" two; img_end
    img_begin "stream3-pad-$f" "early archive, then extra/, 12 zeros, extra2/, 4 zeros, tree/ in one ${CMD[$f]} stream"
    img_raw early512; img_comp "$f" threepad; img_end
done

# ---------------------------------------------------------------- verification
# Every member, cut out by its manifest offsets, must decompress to its stream.
verify_member() { # FMT STREAM IMG START END
    tail -c +$(($4 + 1)) "$OUT/$3" | head -c $(($5 - $4)) | ${DECOMP[$1]} | cmp -s - "$P/$2.bin" || {
        echo "verification failed: $3 [$4,$5) is not $1($2)" >&2
        exit 1
    }
}
verify_member zstd tree512 single-zstd.img 0 "$(stat -c %s "$OUT/single-zstd.img")"
for f in "${FORMATS[@]}"; do
    e=$OUT/dracut-$f.expected.json
    s=$(grep -o '"start": [0-9]*, "end": [0-9]*, "format": "'"${f%%-*}"'"' "$e" | head -1 | grep -o '[0-9]*' | head -1)
    en=$(stat -c %s "$OUT/dracut-$f.img")
    verify_member "$f" tree512 "dracut-$f.img" "$s" "$en"
done
if zstd -lv "$OUT/single-zstd-long.img" 2>/dev/null | grep 'Window Size: 128 MiB' >/dev/null; then :; else
    log "warning: single-zstd-long.img does not declare a 128 MiB window"
fi

# ---------------------------------------------------------------- index
{
    printf '{\n  "generator": "test-images/build-fixtures.sh",\n'
    printf '  "mtime": %d,\n  "devices": %s,\n' "${MTIME#@}" "$DEVICES"
    printf '  "tools": {\n'
    printf '    "cpio": "%s",\n' "$(cpio --version | head -1)"
    printf '    "gzip": "%s",\n' "$(gzip --version | head -1)"
    printf '    "bzip2": "%s",\n' "bzip2 $(bzip2 --help 2>&1 | head -1 | sed -n 's/.*Version \([^,]*\),.*/\1/p')"
    printf '    "xz": "%s",\n' "$(xz --version | head -1)"
    printf '    "lz4": "%s",\n' "$(lz4 --version 2>&1 | head -1 | tr -d '*' | sed 's/^ *//; s/ *$//')"
    printf '    "lzop": "%s",\n' "$(lzop --version 2>&1 | head -1)"
    printf '    "zstd": "%s"\n  },\n' "$(zstd --version | tr -d '*' | sed 's/^ *//; s/ *$//')"
    printf '  "trees": ["tree", "early", "extra", "extra2"],\n  "images": [\n'
    for i in "${!IMAGES[@]}"; do
        printf '    "%s"%s\n' "${IMAGES[$i]}" "$([ "$i" -lt $((${#IMAGES[@]} - 1)) ] && echo ,)"
    done
    printf '  ]\n}\n'
} >"$OUT/fixtures.json"

log "${#IMAGES[@]} images in $OUT ($(du -sh --apparent-size "$OUT" | cut -f1) total," \
    "$(($(date +%s) - START)) s)"
