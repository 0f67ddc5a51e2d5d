#!/bin/bash
# Build REAL dracut initramfs images on a Debian 12 (bookworm) machine, as CI does.
#
# Usage: test-images/build-real-images.sh [--extra] [--no-install] [OUTDIR]
#   OUTDIR        where images go (default: test-images/real, git-ignored)
#   --extra       also build lz4 (legacy), lzo, bzip2 and uncompressed images
#   --no-install  do not touch apt; use the dracut/kernel already installed
#
# Must run as root. It:
#   1. adds a non-free-firmware sources entry (same mirror and Signed-By as the
#      Debian entries already configured) unless intel-microcode is already available;
#   2. apt-get update; installs dracut-core, linux-image-amd64, intel-microcode and
#      amd64-microcode with --no-install-recommends and INITRD=No in the environment,
#      so that no kernel/initramfs hook builds an initramfs during the install;
#   3. runs dracut --no-hostonly --early-microcode for each compression and reports
#      build time, size, early/main archive sizes and entry counts.
# Images that already exist are skipped (idempotent); images are built to a
# temporary name and renamed, so an interrupted build never looks finished.
# A summary is written to OUTDIR/summary.tsv, logs to OUTDIR/logs/.
set -euo pipefail

EXTRA=0
INSTALL=1
OUT=
for arg in "$@"; do
    case "$arg" in
        --extra) EXTRA=1 ;;
        --no-install) INSTALL=0 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "unknown option: $arg" >&2; exit 2 ;;
        *) OUT=$arg ;;
    esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/real}
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)

log() { printf '[build-real-images] %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

SCRIPT_START=$(now)
if [ "$(id -u)" != 0 ]; then
    echo "must run as root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Every kernel/initramfs hook (initramfs-tools' and dracut's /etc/kernel/postinst.d
# scripts) exits early when INITRD=No. Exported for the whole script so that
# triggers processed by any later apt/dpkg call also see it.
export INITRD=No

PKGS=(dracut-core linux-image-amd64 intel-microcode amd64-microcode)
SUMMARY=$OUT/summary.tsv
printf "# run %s\n" "$(date -u +%FT%TZ)" >>"$OUT/timings.tsv"
timing() { printf '%s\t%s\n' "$1" "$2" >>"$OUT/timings.tsv"; log "$1: $2 s"; }

# --- 1. sources entry for non-free-firmware ----------------------------------
NONFREE_LIST=/etc/apt/sources.list.d/initramfs-restore-non-free-firmware
add_nonfree_firmware() {
    local codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    if [ -e "$NONFREE_LIST.sources" ] || [ -e "$NONFREE_LIST.list" ]; then
        log "non-free-firmware sources entry already present: $(ls "$NONFREE_LIST".*)"
        return
    fi
    # deb822 files (*.sources): copy every stanza that is a Debian archive entry
    # for this codename (suite bookworm, bookworm-updates, bookworm-security),
    # keeping its URIs, Suites and Signed-By, with Components: non-free-firmware.
    local f stanzas="" lines=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        stanzas+=$(awk -v cn="$codename" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && uris != "" && suites != "") {
                    n = split(suites, s, " "); keep = ""
                    for (i = 1; i <= n; i++)
                        if (s[i] == cn || s[i] == cn "-updates" || s[i] == cn "-security")
                            keep = keep (keep == "" ? "" : " ") s[i]
                    if (keep != "" && enabled != "no") {
                        printf "Types: deb\nURIs: %s\nSuites: %s\nComponents: non-free-firmware\n", uris, keep
                        if (signed != "") printf "Signed-By: %s\n", signed
                        printf "\n"
                    }
                }
                types = uris = suites = signed = enabled = ""
            }
            /^[[:space:]]*#/ { next }
            /^[[:space:]]*$/ { flush(); next }
            {
                key = tolower($1); sub(/:$/, "", key)
                val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "signed-by") signed = val
                else if (key == "enabled") enabled = tolower(val)
            }
            END { flush() }' "$f")$'\n\n'
    done
    # one-line format (sources.list, *.list): "deb [opts] URI suite comps..."
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] || continue
        lines+=$(awk -v cn="$codename" '
            $1 != "deb" { next }
            {
                opts = ""; i = 2
                if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts $i " "; i++ } opts = opts $i " "; i++ }
                uri = $i; suite = $(i + 1)
                if (suite == cn || suite == cn "-updates" || suite == cn "-security")
                    printf "deb %s%s %s non-free-firmware\n", opts, uri, suite
            }' "$f")$'\n'
    done
    if [ -n "${stanzas//$'\n'/}" ]; then
        log "adding $NONFREE_LIST.sources (from the configured deb822 Debian entries):"
        printf '%s' "$stanzas" | cat -s | tee "$NONFREE_LIST.sources" >&2
    elif [ -n "${lines//$'\n'/}" ]; then
        log "adding $NONFREE_LIST.list (from the configured one-line Debian entries):"
        printf '%s' "$lines" | sed '/^$/d' | tee "$NONFREE_LIST.list" >&2
    else
        log "no Debian $codename entry found in apt sources; falling back to deb.debian.org"
        printf 'deb http://deb.debian.org/debian %s non-free-firmware\n' "$codename" \
            | tee "$NONFREE_LIST.list" >&2
    fi
}

all_installed() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null || return 1
    done
}

if [ "$INSTALL" = 1 ]; then
    if all_installed "${PKGS[@]}"; then
        log "packages already installed: ${PKGS[*]} (skipping apt)"
    else
        before_boot=$(ls /boot 2>/dev/null | LC_ALL=C sort || true)
        if ! apt-cache policy intel-microcode 2>/dev/null | grep 'Candidate: [0-9]' >/dev/null; then
            add_nonfree_firmware
        fi
        t=$(now)
        log "apt-get update"
        apt-get update 2>&1 | tee "$OUT/logs/apt-update.log" | tail -n 3 >&2
        timing apt-update "$(elapsed "$t")"

        t=$(now)
        log "INITRD=No apt-get install --no-install-recommends ${PKGS[*]}"
        apt-get install -y --no-install-recommends "${PKGS[@]}" 2>&1 \
            | tee "$OUT/logs/apt-install.log" \
            | grep -E '^(Setting up|The following NEW|[0-9]+ upgraded)|initramfs|dracut|[Gg]enerating|^[EW]:' >&2 || true
        [ "${PIPESTATUS[0]}" = 0 ] || { log "apt-get install failed, see $OUT/logs/apt-install.log"; exit 1; }
        timing apt-install "$(elapsed "$t")"

        after_boot=$(ls /boot 2>/dev/null | LC_ALL=C sort || true)
        log "/boot before: $(echo $before_boot)"
        log "/boot after:  $(echo $after_boot)"
        new_initrds=$(LC_ALL=C comm -13 <(printf '%s\n' "$before_boot") <(printf '%s\n' "$after_boot") \
            | grep -E '^(initrd|initramfs)' || true)
        if [ -n "$new_initrds" ]; then
            log "WARNING: an initramfs appeared in /boot during the install (a hook ran): $new_initrds"
        else
            log "no initramfs was generated by package hooks (INITRD=No honoured)"
        fi
        if grep -E 'update-initramfs: Generating|dracut: Generating' "$OUT/logs/apt-install.log" >&2; then
            log "WARNING: the install log shows an initramfs being generated"
        fi
    fi
fi

command -v dracut >/dev/null || { echo "dracut not installed" >&2; exit 1; }
SKIPCPIO=/usr/lib/dracut/skipcpio
[ -x "$SKIPCPIO" ] || { echo "$SKIPCPIO missing" >&2; exit 1; }

# --- 2. kernel version ---------------------------------------------------------
KVER=
dep=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null || true)
dep=${dep%%[ ,]*}
if [ -n "$dep" ] && [ -d "/lib/modules/${dep#linux-image-}" ]; then
    KVER=${dep#linux-image-}
else
    KVER=$(ls /lib/modules 2>/dev/null | sort -V | tail -n 1)
fi
[ -n "$KVER" ] || { echo "no kernel modules found in /lib/modules" >&2; exit 1; }
DRACUT_VERSION=$(dpkg-query -W -f='${Version}' dracut-core 2>/dev/null || dracut --version)
log "kernel: $KVER  (linux-image-amd64 $(dpkg-query -W -f='${Version}' linux-image-amd64 2>/dev/null || echo '?'))"
log "dracut: $DRACUT_VERSION"
log "microcode: intel $(dpkg-query -W -f='${Version}' intel-microcode 2>/dev/null || echo none)," \
    "amd $(dpkg-query -W -f='${Version}' amd64-microcode 2>/dev/null || echo none)"

# --- 3. build images -----------------------------------------------------------
VARIANTS=("fedora-like-zstd:--zstd" "fedora-like-gzip:--gzip" "fedora-like-xz:--xz")
if [ "$EXTRA" = 1 ]; then
    VARIANTS+=("fedora-like-lz4:--lz4" "fedora-like-lzo:--lzo" "fedora-like-bzip2:--bzip2"
               "fedora-like-none:--no-compress")
fi

decompressor_for() { # by magic of the member after the early archive
    local magic
    magic=$(head -c 6 "$1" | od -An -tx1 | tr -d ' \n')
    case "$magic" in
        28b52ffd*) echo "zstd -dc" ;;
        1f8b*) echo "gzip -dc" ;;
        fd377a585a00) echo "xz -dc" ;;
        5d00*) echo "xz -dc --format=lzma" ;;
        02214c18*) echo "lz4 -dc" ;;
        894c5a4f*) echo "lzop -dc" ;;
        425a68*) echo "bzip2 -dc" ;;
        3037303730*) echo "cat" ;;  # "07070" (uncompressed newc)
        *) echo "unknown magic $magic" >&2; echo "false" ;;
    esac
}

declare -A PREV_BUILD_S=() PREV_CPU_S=()
if [ -f "$SUMMARY" ] && head -n 1 "$SUMMARY" | grep cpu_s >/dev/null; then
    # keep the build times measured by an earlier run
    while IFS=$'\t' read -r i b c _; do PREV_BUILD_S[$i]=$b PREV_CPU_S[$i]=$c; done < <(tail -n +2 "$SUMMARY")
fi
printf 'image\tbuild_s\tcpu_s\tsize\tearly_size\tearly_entries\tmain_format\tmain_compressed\tmain_uncompressed\tmain_entries\n' >"$SUMMARY"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for v in "${VARIANTS[@]}"; do
    name=${v%%:*}
    opt=${v#*:}
    img=$OUT/$name.img
    build_s=${PREV_BUILD_S[$name.img]:--}
    cpu_s=${PREV_CPU_S[$name.img]:--}
    if [ -s "$img" ]; then
        log "$name.img exists, not rebuilding"
    else
        log "dracut --force --no-hostonly --early-microcode $opt --kver $KVER $img"
        TIMEFORMAT='%R %U %S'
        if ! { time dracut --force --no-hostonly --early-microcode "$opt" --kver "$KVER" \
                "$img.tmp" >"$OUT/logs/$name.log" 2>&1; } 2>"$tmp/time"; then
            log "dracut failed for $name, last lines of $OUT/logs/$name.log:"
            tail -n 30 "$OUT/logs/$name.log" >&2
            rm -f "$img.tmp"
            exit 1
        fi
        mv "$img.tmp" "$img"
        read -r build_s u sy <"$tmp/time"
        cpu_s=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.1f", u + s }')
        timing "dracut-$name" "$build_s"
        timing "dracut-$name-cpu(user+sys)" "$cpu_s"
        n=$(grep -cE "will not be installed|[Cc]ould not|[Ww]arn|[Ee]rror|[Ff]ail|[Mm]issing|not found" \
            "$OUT/logs/$name.log" || true)
        log "  $n warning-like lines in logs/$name.log (mostly optional dracut modules skipped" \
            "because their tools are not installed)"
    fi
    size=$(stat -c %s "$img")
    early_entries=$(cpio -t --quiet <"$img" 2>/dev/null | wc -l)
    "$SKIPCPIO" "$img" >"$tmp/main"
    main_c=$(stat -c %s "$tmp/main")
    early_size=$((size - main_c))
    dec=$(decompressor_for "$tmp/main")
    fmt=${dec%% *}
    [ "$dec" = cat ] && fmt=none
    main_u=$($dec <"$tmp/main" | wc -c)
    main_entries=$($dec <"$tmp/main" | cpio -t --quiet 2>/dev/null | wc -l)
    rm -f "$tmp/main"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name.img" "$build_s" "$cpu_s" "$size" "$early_size" \
        "$early_entries" "$fmt" "$main_c" "$main_u" "$main_entries" >>"$SUMMARY"
    log "  $name.img: $size bytes; early archive $early_size bytes, $early_entries entries;" \
        "main ($fmt) $main_c -> $main_u bytes, $main_entries entries"
done

{
    echo "kernel=$KVER"
    echo "dracut=$DRACUT_VERSION"
} >"$OUT/versions.txt"
log "summary ($SUMMARY):"
column -t -s $'\t' "$SUMMARY" >&2 || cat "$SUMMARY" >&2
timing total-script "$(elapsed "$SCRIPT_START")"
log "timings ($OUT/timings.tsv):"
cat "$OUT/timings.tsv" >&2
