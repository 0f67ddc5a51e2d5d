# What the bench scripts share. Sourced from the checkout's root, with NODE set.

# The median of the numbers on standard input, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Prints "FORMAT START END" of image $1's main (last) member and copies its bytes to file $2;
# fails where the copy does.
copy_main_member() {
  local format start end
  read -r format start end < <("$NODE" bin/initramfs-restore.js examine --json "$1" | "$NODE" -e '
    const s = JSON.parse(require("fs").readFileSync(0)).archives.at(-1); console.log(s.format, s.start, s.end)')
  echo "$format $start $end"
  dd if="$1" of="$2" bs=1M iflag=skip_bytes,count_bytes skip="$start" count=$((end - start)) status=none
}
