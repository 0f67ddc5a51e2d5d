// The least a Node program does to list or unpack an initramfs, reading it as ours does, timed by
// bench/floor.sh beside ours and 3cpio. It is not a tool and does less than one must: it checks
// nothing (no header, name or bounds checks, names taken as they come), applies no owner, mode or
// time, and gives each member of a hard-link group its own file. An uncompressed archive is read
// from the image; a zstd member, which must end the image (dracut's main archive), by node:zlib's
// engine driven synchronously, as ours decodes it, straight into the buffer the headers are read
// from. Other formats are refused.
//   node bench/floor.mjs list IMAGE
//   node bench/floor.mjs unpack IMAGE DIR
import fs from 'node:fs';

const [verb, image, dir] = process.argv.slice(2);
if (!['list', 'unpack'].includes(verb) || !image || (verb === 'unpack' && !dir)) {
  console.error('usage: node bench/floor.mjs list IMAGE | unpack IMAGE DIR');
  process.exit(2);
}
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const buf = Buffer.allocUnsafe(1 << 20);
/**
 * `buf[at, len)` holds the input from offset `pos` on (of the file, or of the decoded member);
 * `positional`: the file read by offset, else `more(into, offset, room)` gives what comes next.
 */
let input = { fd: fs.openSync(image, 'r'), positional: true, pos: 0, at: 0, len: 0, more: undefined };

/** At least `n` bytes in the buffer from `at`, or false at the end of the input. */
function fill(n) {
  if (input.len - input.at >= n) return true;
  buf.copy(buf, 0, input.at, input.len);
  input.len -= input.at;
  input.at = 0;
  while (input.len < n) {
    const got = input.positional ? fs.readSync(input.fd, buf, input.len, buf.length - input.len, input.pos + input.len) : input.more(buf, input.len, buf.length - input.len);
    if (got === 0) return false;
    input.len += got;
  }
  return true;
}

function consume(n) {
  input.at += n;
  input.pos += n;
}

function skip(n) {
  const held = Math.min(n, input.len - input.at);
  consume(held);
  n -= held;
  if (n === 0) return;
  input.at = input.len = 0;
  if (input.positional) input.pos += n;
  else for (let got; n > 0; n -= got) if ((got = input.more(buf, 0, Math.min(n, buf.length))) === 0) return;
}

function startZstd() {
  const zlib = process.getBuiltinModule('node:zlib');
  const engine = zlib.createZstdDecompress();
  engine.on('error', () => {});
  const { fd } = input;
  const packed = Buffer.allocUnsafe(1 << 20);
  let readAt = input.pos;
  let at = 0;
  let len = 0;
  /** Decodes into `into[offset, offset + room)`; how many bytes it wrote, 0 at the member's end. */
  const more = (into, offset, room) => {
    for (;;) {
      if (at === len) {
        len = fs.readSync(fd, packed, 0, packed.length, readAt);
        readAt += len;
        at = 0;
      }
      engine._handle.writeSync(len === 0 ? zlib.constants.ZSTD_e_end : zlib.constants.ZSTD_e_continue, packed, at, len - at, into, offset, room);
      if (engine.errored) throw engine.errored;
      const [roomLeft, inputLeft] = engine._writeState;
      at = len - inputLeft;
      if (roomLeft < room) return room - roomLeft;
      if (len === 0 || inputLeft > 0) return 0;
    }
  };
  input = { fd, positional: false, pos: 0, at: 0, len: 0, more };
}

const names = [];
if (verb === 'unpack') {
  fs.mkdirSync(dir, { recursive: true });
  process.chdir(dir);
}
while (fill(4)) {
  if (buf[input.at] === 0) {
    consume(4);
    continue;
  }
  if (buf.compare(ZSTD_MAGIC, 0, 4, input.at, input.at + 4) === 0 && input.positional) {
    startZstd();
    continue;
  }
  if (!fill(110) || buf.latin1Slice(input.at, input.at + 6) !== '070701') throw new Error(`neither a newc header nor a zstd member at byte ${input.pos}`);
  const field = (at) => parseInt(buf.latin1Slice(input.at + at, input.at + at + 8), 16);
  const mode = field(14);
  const size = field(54);
  const nameSize = field(94);
  consume(110);
  const namePadded = nameSize + ((4 - ((110 + nameSize) & 3)) & 3);
  fill(namePadded);
  const name = buf.latin1Slice(input.at, input.at + nameSize - 1);
  consume(namePadded);
  const dataPadded = size + ((4 - (size & 3)) & 3);
  if (name === 'TRAILER!!!' || verb === 'list') {
    if (name !== 'TRAILER!!!') names.push(name);
    skip(dataPadded);
    continue;
  }
  const at = Buffer.from(name, 'latin1');
  const type = mode & 0o170000;
  if (type === 0o100000) {
    const out = fs.openSync(at, 'w');
    for (let left = size; left > 0 && fill(1); ) {
      const n = Math.min(left, input.len - input.at);
      fs.writeSync(out, buf, input.at, n);
      consume(n);
      left -= n;
    }
    fs.closeSync(out);
    skip(dataPadded - size);
  } else if (type === 0o120000) {
    fill(dataPadded);
    fs.symlinkSync(buf.subarray(input.at, input.at + size), at);
    consume(dataPadded);
  } else {
    if (type === 0o040000) fs.mkdirSync(at, { recursive: true });
    skip(dataPadded);
  }
}
if (verb === 'list') fs.writeSync(1, Buffer.from(`${names.join('\n')}\n`, 'latin1'));
