#!/bin/bash
# get-dracut-ng.sh DIR -- fetches Debian's dracut-core from trixie (106-6) and forky (112-7)
# onto a Debian 12 machine without touching the system's apt or dpkg state, so that their
# dracut-initramfs-restore scripts can be read and run side by side with bookworm's 059.
#
#   DIR/apt-trixie, DIR/apt-forky  private apt lists and .debs, one per suite
#   DIR/dracut-106, DIR/dracut-112 `dpkg-deb -x` of each dracut-core .deb
#   DIR/libc-trixie, DIR/libc-forky `dpkg-deb -x` of that suite's libc6 (its ld.so and libc)
#   DIR/bin/NAME-106, NAME-112     wrappers for package programs that need a glibc newer
#                                  than bookworm's 2.36 (skipcpio-106, extractinitrd-112)
#   DIR/basedir-106, basedir-112   what to pass as dracutbasedir= to a restore script:
#                                  skipcpio / extractinitrd there are links to the wrappers
#   DIR/3cpio                      3cpio 0.14 from forky, run through forky's loader (DIR/3cpio/bin/3cpio)
#
# Progress goes to stderr; stdout ends with name=path lines (and version-NNN=VERSION).
# Idempotent: a package is downloaded and unpacked again only when the mirror's version
# differs from the one already unpacked. Run as root (apt's download sandbox).
# MIRROR=http://... overrides the mirror taken from /etc/apt/sources.list*.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
KEY=/usr/share/keyrings/debian-archive-keyring.gpg
BOOKWORM_GLIBC=2.36

say() { echo "get-dracut-ng: $*" >&2; }

# The mirror: the first http(s) URL ending in /debian in the apt sources, as get-3cpio.sh
# does, except that comment lines are skipped (Debian's cloud images carry a commented
# snapshot.debian.org URL in debian.sources, which is often unreachable).
if [[ -z ${MIRROR:-} ]]; then
    MIRROR=$( { grep -rhvE '^[[:space:]]*#' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } \
        | { grep -oE 'https?://[^ ]+/debian/?' || true; } | { grep -v security || true; } | head -1)
fi
[[ -n $MIRROR ]] || { say "no Debian mirror found in the apt sources (set MIRROR=)"; exit 1; }
MIRROR=${MIRROR%/}
say "mirror: $MIRROR"

# apt options for a private list of one suite.
apto() {
    local A=$DIR/apt-$1
    APTO=(-o "Dir::Etc::SourceList=$A/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$A/lists" -o "Dir::Cache::Archives=$A/archives"
          -o "Dir::Cache=$A/cache" -o APT::Sandbox::User=root)
}

setup_suite() {   # SUITE
    local A=$DIR/apt-$1
    mkdir -p "$A/lists/partial" "$A/archives/partial" "$A/cache" "$A/debs"
    echo "deb [signed-by=$KEY] $MIRROR $1 main" > "$A/sources.list"
    apto "$1"
    say "apt-get update ($1)"
    apt-get "${APTO[@]}" update -qq >&2
}

candidate() {     # SUITE PKG -> version the private list offers
    apto "$1"
    apt-cache "${APTO[@]}" policy "$2" | awk '/Candidate:/ {print $2}'
}

# fetch_unpack SUITE PKG WANTED DEST: downloads PKG's candidate from SUITE unless DEST already
# holds that version, and unpacks it into DEST. Sets GOT to the version.
fetch_unpack() {
    local suite=$1 pkg=$2 wanted=$3 dest=$4 A=$DIR/apt-$1 deb
    GOT=$(candidate "$suite" "$pkg")
    [[ -n $GOT && $GOT != "(none)" ]] || { say "$pkg: not in $suite on $MIRROR"; exit 1; }
    if [[ -n $wanted && $GOT != "$wanted" ]]; then
        say "WARNING: $suite has $pkg $GOT, not $wanted; using $GOT"
    fi
    if [[ -f $dest/.unpacked && $(cat "$dest/.unpacked") == "$pkg $GOT" ]]; then
        say "$pkg $GOT from $suite already in $dest"
        return
    fi
    apto "$suite"
    rm -f "$A/debs/${pkg}_"*.deb
    (cd "$A/debs" && apt-get "${APTO[@]}" download "$pkg=$GOT" >&2)
    deb=$(ls "$A/debs/${pkg}_"*.deb)
    rm -rf "$dest"
    mkdir -p "$dest"
    dpkg-deb -x "$deb" "$dest"
    echo "$pkg $GOT" > "$dest/.unpacked"
    say "unpacked $(basename "$deb") into $dest"
}

is_elf() {   # without forking: the package has hundreds of executable shell scripts
    local magic=
    [[ -f $1 && ! -L $1 ]] || return 1
    LC_ALL=C IFS= read -r -d '' -n 4 magic < "$1" || true
    [[ $magic == $'\x7fELF' ]]
}

# Highest GLIBC_x.y symbol version named in an ELF file (no binutils needed).
glibc_needed() { { grep -aoE 'GLIBC_2\.[0-9]+' "$1" || true; } | sed 's/GLIBC_//' | sort -uV | tail -1; }

newer_than_bookworm() { [[ -n $1 && $(printf '%s\n%s\n' "$BOOKWORM_GLIBC" "$1" | sort -V | tail -1) != "$BOOKWORM_GLIBC" ]]; }

# wrap PKGDIR LIBCDIR TAG: a wrapper DIR/bin/NAME-TAG for each ELF program of the package
# that needs a newer glibc, run through that suite's own dynamic loader. Sets WRAPPERS.
wrap() {
    local pkgdir=$1 libcdir=$2 tag=$3 f name need L=$2/usr/lib/x86_64-linux-gnu
    WRAPPERS=()
    while IFS= read -r -d '' f; do
        is_elf "$f" || continue
        need=$(glibc_needed "$f")
        newer_than_bookworm "$need" || continue
        name=$(basename "$f")-$tag
        cat > "$DIR/bin/$name.tmp" <<WRAP
#!/bin/sh
# $(basename "$f") from $(cat "$pkgdir/.unpacked") (needs glibc $need), run with its suite's loader
exec "$L/ld-linux-x86-64.so.2" --library-path "$L" "$f" "\$@"
WRAP
        chmod +x "$DIR/bin/$name.tmp"
        mv -f "$DIR/bin/$name.tmp" "$DIR/bin/$name"
        WRAPPERS+=("$name")
    done < <(find "$pkgdir/usr" -type f -perm -u+x -print0 | sort -z)
}

mkdir -p "$DIR/bin"
declare -A VERSION WRAPPED
for spec in "trixie 106 106-6" "forky 112 112-7"; do
    read -r suite tag want <<< "$spec"
    setup_suite "$suite"
    fetch_unpack "$suite" dracut-core "$want" "$DIR/dracut-$tag"
    VERSION[$tag]=$GOT
    fetch_unpack "$suite" libc6 "" "$DIR/libc-$suite"
    wrap "$DIR/dracut-$tag" "$DIR/libc-$suite" "$tag"
    WRAPPED[$tag]="${WRAPPERS[*]}"
    # A directory to pass as dracutbasedir=: the restore script runs $dracutbasedir/skipcpio
    # (059/106) or $dracutbasedir/extractinitrd (112); here they are links to the wrappers.
    rm -rf "$DIR/basedir-$tag"
    mkdir -p "$DIR/basedir-$tag"
    for w in ${WRAPPED[$tag]}; do
        ln -s "../bin/$w" "$DIR/basedir-$tag/${w%-"$tag"}"
    done
done

# 3cpio 0.14 from forky, as ../shared/tools/get-3cpio.sh lays it out (DIR/3cpio/bin/3cpio, run
# through forky's own loader), built here so that a fresh clone needs nothing beside it.
if ! "$DIR/3cpio/bin/3cpio" --version >/dev/null 2>&1; then
    R=$DIR/3cpio/root
    mkdir -p "$R" "$DIR/3cpio/bin" "$DIR/3cpio/debs"
    apto forky
    rm -f "$DIR/3cpio/debs/"*.deb
    (cd "$DIR/3cpio/debs" && apt-get "${APTO[@]}" download 3cpio libc6 libgcc-s1 >&2)
    for deb in "$DIR/3cpio/debs/"*.deb; do dpkg-deb -x "$deb" "$R"; done
    L=$R/usr/lib/x86_64-linux-gnu
    cat > "$DIR/3cpio/bin/3cpio" <<WRAP
#!/bin/sh
exec "$L/ld-linux-x86-64.so.2" --library-path "$L" "$R/usr/bin/3cpio" "\$@"
WRAP
    chmod +x "$DIR/3cpio/bin/3cpio"
fi
"$DIR/3cpio/bin/3cpio" --version >&2

# Smoke test: every wrapper must at least start.
for tag in 106 112; do
    for w in ${WRAPPED[$tag]}; do
        # skipcpio prints usage and exits 1; what matters is that the loader found its glibc.
        if "$DIR/bin/$w" --help 2>&1 | grep -q 'GLIBC_\|error while loading'; then
            say "wrapper $w does not start"; exit 1
        fi
    done
done

for tag in 106 112; do
    echo "version-$tag=${VERSION[$tag]}"
    echo "restore-$tag=$DIR/dracut-$tag/usr/lib/dracut/dracut-initramfs-restore"
    echo "dracutbasedir-$tag=$DIR/dracut-$tag/usr/lib/dracut"
    echo "run-dracutbasedir-$tag=$DIR/basedir-$tag"
    for w in ${WRAPPED[$tag]}; do echo "$w=$DIR/bin/$w"; done
done
# bookworm's own, when dracut-core 059 is installed (apt-get install dracut-core).
if [[ $(dpkg-query -W -f '${Version}' dracut-core 2>/dev/null || true) == 059* ]]; then
    echo "restore-059=/usr/lib/dracut/dracut-initramfs-restore"
fi
echo "3cpio=$DIR/3cpio/bin/3cpio"
