#!/usr/bin/env bash
# Runs every case of the hostile corpus (make-hostile.ts) through our `unpack` and through the
# extractors people actually type, as root, each in a fresh sandbox, and records what each did:
# exit status, anything written outside the target, crashes, hangs. Not a test: nothing is
# asserted, but the cases where OUR tool disagrees with cases.json are listed at the end.
#
#   sudo bash test-images/hostile/compare.sh [CORPUS_DIR]
#        (default: build the corpus afresh into a scratch directory)
#   ONLY=REGEX   only the cases whose name matches (the summary then covers only those)
#
# Tools (the target is the cwd of the native ones; compressed cases are piped through the
# matching decompressor for GNU cpio and BusyBox, which cannot read them; bsdcpio and ours
# read them themselves):
#   ours             node bin/initramfs-restore.js unpack IMG TARGET
#   gnu-cpio         cpio -idm < IMG                          (what a user typically types)
#   gnu-cpio-noabs   cpio -idm --no-absolute-filenames < IMG  (the flag dracut's scripts pass)
#   bsdcpio          bsdcpio -idm < IMG
#   busybox          busybox cpio -idm < IMG
# 3cpio is not run: it is not packaged for Debian 12.
#
# Sandbox: WORK/run/CASE.TOOL/a/b/c/target, so that ../../.. still lands in the sandbox; the
# sandbox outside the target is listed (type, mode, owner, size, mtime, link) before and after.
# Also checked, and removed after every run: /tmp/escape, /tmp/escape-absolute, /escape,
# /escape-absolute and /etc/x (where `//etc//x` lands without --no-absolute-filenames). The
# script refuses to start if any of them exists already, so it only ever removes what a run made.
#
# Bombs (cases named *bomb*): every tool runs under `ulimit -f` of 1 GiB (bash counts 1024-byte
# blocks) and a watchdog that kills the run's process group when the sandbox holds more than
# 1 GiB + 64 MiB; they run only with 4 GiB free on the sandbox's filesystem.
#
# Output: bench/results/hostile-compare.tsv (case, tool, exit, escaped, crashed, hung, note)
# and bench/results/hostile-compare.txt (summary, also printed).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
NODE=$ROOT/node_modules/.bin/node
OUT=$ROOT/bench/results
TSV=$OUT/hostile-compare.tsv
TXT=$OUT/hostile-compare.txt
TIMEOUT=60
FSIZE_KB=$((1024 * 1024))                  # ulimit -f: 1 GiB in 1024-byte blocks
CAP_KB=$((1024 * 1024 + 64 * 1024))        # watchdog: the whole sandbox
MIN_FREE_KB=$((4 * 1024 * 1024))
MARKERS=(/tmp/escape /tmp/escape-absolute /escape /escape-absolute /etc/x)
TOOLS=(ours gnu-cpio gnu-cpio-noabs bsdcpio busybox)

die() { echo "compare: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (an initramfs tool runs as root; device nodes, chown, /tmp/escape)"
[ -x "$NODE" ] || die "$NODE missing: npm install"
for t in cpio bsdcpio busybox timeout setsid zcat zstd xz bzip2 lz4 lzop du df find; do
  command -v "$t" >/dev/null || die "$t is required"
done
for m in "${MARKERS[@]}"; do
  [ -e "$m" ] || [ -L "$m" ] && die "$m exists already: remove it yourself first (this script only removes what its runs made)"
done

# dist/ must be at least as new as src/.
newest() { find "$@" -type f -printf '%T@\n' 2>/dev/null | sort -n | tail -1; }
if [ ! -f dist/cli/main.js ] || [ "$(printf '%s\n%s\n' "$(newest src)" "$(newest dist)" | sort -g | tail -1)" != "$(newest dist)" ]; then
  echo "compare: dist/ is older than src/: building" >&2
  "$NODE" node_modules/typescript/bin/tsc -p . >&2 || echo "compare: tsc reported errors (it still emitted); carrying on" >&2
fi

WORK=$(mktemp -d /var/tmp/irr-compare.XXXXXX)
cleanup() {
  for m in "${MARKERS[@]}"; do rm -rf -- "$m"; done   # none existed at the start
  rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CORPUS=${1:-}
if [ -z "$CORPUS" ]; then
  CORPUS=$WORK/corpus
  "$NODE" test-images/hostile/make-hostile.ts "$CORPUS" >&2 || die "make-hostile.ts failed"
fi
CORPUS=$(cd "$CORPUS" && pwd)
[ -f "$CORPUS/cases.json" ] || die "$CORPUS/cases.json missing"

# name TAB expected-status TAB refused(0/1)
mapfile -t CASES < <("$NODE" -e '
  for (const c of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")))
    console.log([c.name, c.expect.status, c.expect.refused ? 1 : 0].join("\t"));' "$CORPUS/cases.json")
[ ${#CASES[@]} -gt 0 ] || die "no cases in $CORPUS/cases.json"

# The decompressor GNU cpio and BusyBox need, by magic, else by the case name's prefix.
decompressor() {
  local img=$1 name=$2 magic
  magic=$(od -An -tx1 -N6 "$img" | tr -d ' \n')
  case $magic in
    30373037303[12]*) echo cat ;;
    1f8b*) echo 'gzip -dc' ;;
    28b52ffd*) echo 'zstd -dc' ;;
    fd377a585a00*|5d00*) echo 'xz -dc' ;;
    425a68*) echo 'bzip2 -dc' ;;
    02214c18*|04224d18*) echo 'lz4 -dc' ;;
    894c5a4f*) echo 'lzop -dc' ;;
    *) case $name in
         gzip-*|million-*) echo 'gzip -dc' ;; zstd-*) echo 'zstd -dc' ;; xz-*|lzma-*) echo 'xz -dc' ;;
         bzip2-*) echo 'bzip2 -dc' ;; lz4-*) echo 'lz4 -dc' ;; lzop-*) echo 'lzop -dc' ;; *) echo cat ;;
       esac ;;
  esac
}

# One extractor run: the body of a new session (its own process group, for the watchdog).
# Writes "STATUS [DECOMPRESSOR-STATUS]" to $5.
runner() {
  local tool=$1 img=$2 target=$3 dec=$4 statusfile=$5 bomb=$6 node=$7 cli=$8 timeout=$9 fsize=${10}
  cd "$target" || exit 99
  [ "$bomb" = 1 ] && ulimit -f "$fsize"
  local T=(timeout -k 5 "$timeout")
  case $tool in
    ours) "${T[@]}" "$node" "$cli" unpack "$img" "$target"; echo "$?" > "$statusfile"; return ;;
    gnu-cpio) set -- cpio -idm ;;
    gnu-cpio-noabs) set -- cpio -idm --no-absolute-filenames ;;
    bsdcpio) "${T[@]}" bsdcpio -idm < "$img"; echo "$?" > "$statusfile"; return ;;
    busybox) set -- busybox cpio -idm ;;
  esac
  if [ "$dec" = cat ]; then
    "${T[@]}" "$@" < "$img"; echo "$?" > "$statusfile"
  else
    # shellcheck disable=SC2086
    "${T[@]}" $dec < "$img" | "${T[@]}" "$@"; local st=("${PIPESTATUS[@]}")
    echo "${st[1]} ${st[0]}" > "$statusfile"
  fi
}
export -f runner

# The sandbox outside the target, one line per path; names with any byte.
snapshot() { LC_ALL=C find "$1" -path "$1/a/b/c/target" -prune -o -printf '%P\t%y\t%m\t%U:%G\t%s\t%T@\t%l\n' | LC_ALL=C sort; }
clean() { local s; s=$(cat); printf '%s' "$s" | LC_ALL=C tr -c '[:print:]' '?' | cut -c1-"${1:-160}"; }
join() { local out='' x; for x in "$@"; do out+=${out:+; }$x; done; printf '%s' "$out"; }

mkdir -p "$OUT"
printf 'case\ttool\texit\tescaped\tcrashed\thung\tnote\n' > "$TSV"
declare -A TOOLTIME
t_all=$(date +%s.%N)
ncases=${#CASES[@]}
i=0
for line in "${CASES[@]}"; do
  IFS=$'\t' read -r name want refused <<< "$line"
  [[ $name =~ ${ONLY:-.} ]] || continue
  i=$((i + 1))
  img=$CORPUS/$name.img
  dec=$(decompressor "$img" "$name")
  bomb=0; [[ $name == *bomb* ]] && bomb=1
  for tool in "${TOOLS[@]}"; do
    notes=()
    box=$WORK/run/$name.$tool
    target=$box/a/b/c/target
    if [ "$bomb" = 1 ]; then
      free=$(df -Pk "$WORK" | awk 'NR==2 {print $4}')
      if [ "$free" -lt "$MIN_FREE_KB" ]; then
        printf '%s\t%s\t-\t-\t-\t-\tskipped: only %s KiB free\n' "$name" "$tool" "$free" >> "$TSV"
        continue
      fi
    fi
    mkdir -p "$target"
    before=$(snapshot "$box")
    root_before=$(LC_ALL=C ls -A /)
    d=$dec; case $tool in ours|bsdcpio) d=cat ;; esac
    t0=$(date +%s.%N)
    setsid bash -c 'runner "$@"' _ "$tool" "$img" "$target" "$d" "$box.status" "$bomb" "$NODE" "$ROOT/bin/initramfs-restore.js" "$TIMEOUT" "$FSIZE_KB" \
      > "$box.out" 2> "$box.err" < /dev/null &
    pid=$!
    watchdog=0
    if [ "$bomb" = 1 ]; then
      while kill -0 "$pid" 2>/dev/null; do
        used=$(du -sk "$box" 2>/dev/null | awk '{print $1}')
        if [ "${used:-0}" -gt "$CAP_KB" ]; then
          # The run's own process group, started above; setsid made $pid its leader.
          [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null
          watchdog=1
          sleep 2
          kill -0 "$pid" 2>/dev/null && [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
          break
        fi
        sleep 0.2
      done
    fi
    wait "$pid"
    t1=$(date +%s.%N)
    secs=$(echo "$t1 - $t0" | bc)
    TOOLTIME[$tool]=$(echo "${TOOLTIME[$tool]:-0} + $secs" | bc)
    read -r status decstatus < "$box.status" 2>/dev/null || status=-
    err=$(cat "$box.err")

    # Escapes: the sandbox outside the target, the markers, new names in /.
    escaped=no; esc=(); bumped=()
    after=$(snapshot "$box")
    if [ "$before" != "$after" ]; then
      changes=$(diff <(echo "$before") <(echo "$after") | grep -a '^[<>]')
      while IFS=$'\t' read -r side path type mode owner size mtime link; do
        [ "$side" = '>' ] || continue
        prev=$(echo "$before" | awk -F'\t' -v p="$path" '$1 == p' | head -1)
        shown=${path:-.}
        if [ -z "$prev" ]; then
          escaped=yes; esc+=("created $shown${link:+ -> $link}")
        else
          IFS=$'\t' read -r _ ptype pmode powner psize pmtime plink <<< "$prev"
          if [ "$ptype$pmode$powner$plink" != "$type$mode$owner$link" ] || [ "$type" != d -a "$psize" != "$size" ]; then
            escaped=yes; esc+=("changed $shown ($ptype $pmode $powner -> $type $mode $owner${link:+ -> $link})")
          elif [ "$(echo "$mtime < $t0 - 1" | bc)" = 1 ]; then
            escaped=yes; esc+=("mtime of $shown set to $(date -u -d "@${mtime%.*}" +%F)")
          else
            bumped+=("$shown")
          fi
        fi
      done < <(echo "$changes" | sed 's/^\([<>]\) /\1\t/')
      # Paths that disappeared.
      while IFS= read -r gone; do
        escaped=yes; esc+=("removed ${gone:-.}")
      done < <(LC_ALL=C comm -23 <(echo "$before" | cut -f1) <(echo "$after" | cut -f1))
    fi
    # A directory whose mtime moved to now with nothing created or removed: a temporary entry.
    [ ${#esc[@]} -eq 0 ] && [ ${#bumped[@]} -gt 0 ] && notes+=("mtime of ${bumped[*]} bumped during the run (a temporary entry outside the target?)")
    for m in "${MARKERS[@]}"; do
      if [ -e "$m" ] || [ -L "$m" ]; then
        escaped=yes; esc+=("wrote $m")
        rm -rf -- "$m"
      fi
    done
    newroot=$(LC_ALL=C comm -13 <(echo "$root_before") <(LC_ALL=C ls -A /) | tr '\n' ' ')
    [ -n "$newroot" ] && { escaped=yes; esc+=("new in /: $newroot(left in place: check by hand)"); }

    hung=no; crashed=no
    case $status in
      -) crashed=unknown; notes+=("no exit status recorded") ;;
      124) hung=yes; notes+=("timeout ${TIMEOUT}s") ;;
      137) [ "$(echo "$secs >= $TIMEOUT" | bc)" = 1 ] && { hung=yes; notes+=("timeout ${TIMEOUT}s, then SIGKILL"); } ;;
    esac
    if [ "$watchdog" = 1 ]; then
      notes+=("killed by the disk watchdog (sandbox > $((CAP_KB / 1024)) MiB)")
    fi
    stopped=no
    if [ "$bomb" = 1 ] && { [ "$status" = 153 ] || grep -qaiE 'EFBIG|file too large|File size limit' <<< "$err"; }; then
      stopped=yes; notes+=("stopped by ulimit -f")
    fi
    if [ "$status" != - ] && [ "$hung" = no ] && [ "$status" -ge 128 ] && [ "$stopped" = no ] && [ "$watchdog" = 0 ]; then
      crashed=yes; notes+=("signal $(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))")
    fi
    if grep -qaE 'panicked at|^\s+at .*\(|node:internal|RangeError|TypeError|Segmentation fault|core dumped' <<< "$err"; then
      crashed=yes; notes+=("stack trace on stderr")
    fi
    if [ -n "${decstatus:-}" ] && [ "$decstatus" != 0 ]; then
      notes+=("${d%% *} exit $decstatus")
      [ "$status" = 0 ] && notes+=("EXIT0-DECOMP-FAILED: exit 0 although the decompressor failed")
    fi
    if [ "$status" = 0 ] && [ "$escaped" = yes ]; then notes+=("SILENT: exit 0 although something escaped")
    elif [ "$status" = 0 ] && [ "$refused" = 1 ]; then notes+=("SILENT: exit 0 although the case has entries to refuse")
    fi
    [ "$status" = 0 ] && [ "$want" = 1 ] && [ "$refused" = 0 ] && notes+=("exit 0 on input expected to fail")
    if [ "$tool" = ours ] && [ "$want" != either ] && [ "$status" != "$want" ]; then
      notes+=("OURS-MISMATCH: expected exit $want")
    fi
    [ ${#esc[@]} -gt 0 ] && notes=("$(join "${esc[@]}")" "${notes[@]}")
    first=$(grep -avE '^([0-9]+ blocks?)?$|environment: line [0-9]+:|"\$\{T\[@\]\}"' <<< "$err" | sed -E 's#((a/){3})(a/)+#\1...#g' | head -3 | tr '\n' '|' | sed 's/|$//' | clean 200)
    [ -n "$first" ] && notes+=("stderr: $first")
    notes+=("$(printf '%.1fs' "$secs")")
    note=$(join "${notes[@]}" | clean 700)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$tool" "$status" "$escaped" "$crashed" "$hung" "$note" >> "$TSV"
    printf '[%d/%d] %-26s %-15s exit %-4s escaped %-3s crashed %-3s hung %-3s %ss\n' "$i" "$ncases" "$name" "$tool" "$status" "$escaped" "$crashed" "$hung" "$(printf '%.1f' "$secs")" >&2
    rm -rf -- "$box" "$box.status" "$box.out" "$box.err"
  done
done
t_total=$(echo "$(date +%s.%N) - $t_all" | bc)

{
  echo "Hostile corpus: $ncases cases from $( [ -n "${1:-}" ] && echo "$CORPUS" || echo 'make-hostile.ts, built afresh') ; run as root, each run in a fresh sandbox"
  echo "Generated $(date -u +%FT%TZ) on $(uname -sr); total wall time $(printf '%.0f' "$t_total") s; timeout ${TIMEOUT}s per run"
  echo "Bombs: ulimit -f $FSIZE_KB (1 GiB) and a watchdog on the sandbox (> $((CAP_KB / 1024)) MiB: killed)"
  echo
  echo "Versions:"
  echo "  ours      initramfs-restore $("$NODE" -p 'require("./package.json").version') (git $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo ', src/ has uncommitted changes')), node $("$NODE" --version)"
  echo "  gnu-cpio  $(cpio --version | head -1)"
  echo "  bsdcpio   $(bsdcpio --version)"
  echo "  busybox   $(busybox | head -1)"
  echo "  3cpio:    not run (not packaged for Debian 12)"
  echo
  awk -F'\t' -v tools="${TOOLS[*]}" '
    NR == 1 { next }
    $3 == "-" { skipped[$2]++; next }
    {
      tried[$2]++
      if ($3 == "0") zero[$2]++
      if ($4 == "yes") { esc[$2]++; escl[$2] = escl[$2] (escl[$2] ? " " : "") $1 }
      if ($5 == "yes") { cr[$2]++; crl[$2] = crl[$2] (crl[$2] ? " " : "") $1 }
      if ($6 == "yes") { hg[$2]++; hgl[$2] = hgl[$2] (hgl[$2] ? " " : "") $1 }
      if ($7 ~ /SILENT/) sil[$2]++
      if ($7 ~ /stopped by ulimit/) ul[$2]++
      if ($7 ~ /exit 0 on input expected to fail/) bad0[$2]++
      if ($7 ~ /EXIT0-DECOMP-FAILED/) dec0[$2]++
      if ($7 ~ /OURS-MISMATCH/) mm = mm (mm ? " " : "") $1 "(exit " $3 ")"
    }
    END {
      n = split(tools, T, " ")
      printf "%-15s %6s %7s %8s %8s %6s %8s %11s %15s %13s\n", "tool", "tried", "exit 0", "escapes", "crashes", "hangs", "silent", "ulimit-stop", "exit0-on-broken", "exit0-dec-err"
      for (i = 1; i <= n; i++) { t = T[i]
        printf "%-15s %6d %7d %8d %8d %6d %8d %11d %15d %13d\n", t, tried[t], zero[t], esc[t], cr[t], hg[t], sil[t], ul[t], bad0[t], dec0[t] }
      print ""
      print "silent = exit 0 although the case has entries a careful extractor must refuse (cases.json refused) or something escaped."
      print "exit0-on-broken = exit 0 on a case whose expected status is 1 without refusals (lying headers, truncated/corrupt members, bombs, PATH_MAX)."
      print "exit0-dec-err = exit 0 from cpio although the decompressor in front of it failed (GNU cpio and BusyBox; `zcat IMG | cpio` without pipefail)."
      print "ulimit-stop = a bomb stopped by ulimit -f (1 GiB per file), not by the tool itself."
      print "gnu-cpio is `cpio -idm`, what a user typically types; gnu-cpio-noabs adds --no-absolute-filenames (dracut passes it)."
      print ""
      for (i = 1; i <= n; i++) { t = T[i]
        printf "%s escapes (%d): %s\n", t, esc[t], (escl[t] ? escl[t] : "none") }
      print ""
      for (i = 1; i <= n; i++) { t = T[i]
        if (cr[t]) printf "%s crashes: %s\n", t, crl[t]
        if (hg[t]) printf "%s hangs: %s\n", t, hgl[t]
        if (skipped[t]) printf "%s skipped (disk): %d\n", t, skipped[t] }
      print "ours vs cases.json expect: " (mm ? "MISMATCH " mm : "every exit status as expected")
    }' "$TSV"
  echo
  echo "Wall time per tool (s):"
  for t in "${TOOLS[@]}"; do printf '  %-15s %.1f\n' "$t" "${TOOLTIME[$t]:-0}"; done
  echo
  echo "Per case: bench/results/hostile-compare.tsv (case, tool, exit, escaped, crashed, hung, note)"
} | tee "$TXT"
