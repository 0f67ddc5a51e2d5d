# What the bench scripts share. Sourced from the checkout's root, with NODE set.

# The median of the numbers on standard input, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# The median of column $1 (space-separated) of the lines on standard input.
column_median() { cut -d' ' -f"$1" | median; }

# KiB on standard input as MB (10^6 bytes), one decimal.
kib_to_mb() { awk '{ printf "%.1f", $1 * 1.024 / 1000 }'; }

# Writes to file $1 a module for `node --import` that, as the process exits, writes its peak RSS
# (VmHWM, KiB) to the file named by OURS_TO: our process alone, where getrusage's maxRSS would
# keep the peak of the shell that forked it.
write_peak_hook() {
  echo "process.on('exit', () => { const fs = process.getBuiltinModule('node:fs'); fs.writeFileSync(process.env.OURS_TO, /VmHWM:\\s*(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'latin1'))[1]); });" > "$1"
}

# Prints "FORMAT START END" of image $1's main (last) member and copies its bytes to file $2;
# fails where the copy does.
copy_main_member() {
  local format start end
  read -r format start end < <("$NODE" bin/initramfs-restore.js examine --json "$1" | "$NODE" -e '
    const s = JSON.parse(require("fs").readFileSync(0)).archives.at(-1); console.log(s.format, s.start, s.end)')
  echo "$format $start $end"
  dd if="$1" of="$2" bs=1M iflag=skip_bytes,count_bytes skip="$start" count=$((end - start)) status=none
}
