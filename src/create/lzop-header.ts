import { readBE16, readBE32 } from '../decode/bytes.js';
import { adler32 } from '../decode/lzo1x.js';
const { readSync, writeSync } = process.getBuiltinModule('node:fs');

const MAGIC_SIZE = 9;
const F_H_FILTER = 0x800;
const F_H_CRC32 = 0x1000;
/** More than lzop's longest header: its fields, a name of up to 255 bytes and the checksum. */
const HEADER_ROOM = 512;

/**
 * lzop stamps the time of the run into the header of what it compresses from stdin, and has no
 * option to leave it out: this sets that mtime to 0 in the member of `size` bytes that lzop
 * wrote at `start` of the file `fd`, and recomputes the header checksum, so that the same input
 * gives the same bytes.
 */
export function zeroLzopMtime(fd: number, start: number, size: number): void {
  const head = Buffer.alloc(Math.min(size, HEADER_ROOM));
  if (readSync(fd, head, 0, head.length, start) !== head.length) throw new Error('the lzop member is shorter than the file says');
  const layout = headerLayout(head);
  if (!layout) throw new Error('lzop wrote a truncated header');
  const { mtimeAt, mtimeSize, sumAt } = layout;
  head.fill(0, mtimeAt, mtimeAt + mtimeSize);
  const flags = readBE32(head, flagsAt(readBE16(head, MAGIC_SIZE)));
  const covered = head.subarray(MAGIC_SIZE, sumAt);
  head.writeUInt32BE((flags & F_H_CRC32 ? process.getBuiltinModule('node:zlib').crc32(covered) : adler32(covered)) >>> 0, sumAt);
  writeSync(fd, head, 0, sumAt + 4, start);
}

/** Where the flags are, after magic, version, library version, [version needed], method, [level]. */
const flagsAt = (version: number) => MAGIC_SIZE + (version >= 0x0940 ? 8 : 5);

/** The mtime field and the header checksum of the header `b` starts with, once it holds them. */
function headerLayout(b: Buffer): { mtimeAt: number; mtimeSize: number; sumAt: number } | undefined {
  if (b.length < MAGIC_SIZE + 2) return undefined;
  const version = readBE16(b, MAGIC_SIZE);
  let at = flagsAt(version);
  if (b.length < at + 4) return undefined;
  const flags = readBE32(b, at);
  at += 4 + (flags & F_H_FILTER ? 4 : 0) + 4;
  const mtimeAt = at;
  const mtimeSize = version >= 0x0940 ? 8 : 4;
  at += mtimeSize;
  if (b.length < at + 1) return undefined;
  const sumAt = at + 1 + b[at];
  return b.length >= sumAt + 4 ? { mtimeAt, mtimeSize, sumAt } : undefined;
}
