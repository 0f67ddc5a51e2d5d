import type { Transform as NodeTransform, TransformCallback } from 'node:stream';
import { readBE16, readBE32 } from '../decode/bytes.js';
import { adler32 } from '../decode/lzo1x.js';
const { Transform } = process.getBuiltinModule('node:stream');
const { crc32 } = process.getBuiltinModule('node:zlib');

const MAGIC_SIZE = 9;
const F_H_FILTER = 0x800;
const F_H_CRC32 = 0x1000;

/**
 * lzop stamps the time of the run into the header of what it compresses from stdin, and has no
 * option to leave it out: this stream sets that mtime to 0 and recomputes the header checksum,
 * so that the same input gives the same bytes. The rest passes through untouched.
 */
export function zeroLzopMtime(): NodeTransform {
  let head: Buffer | undefined = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      if (!head) return done(null, chunk);
      head = Buffer.concat([head, chunk]);
      const layout = headerLayout(head);
      if (!layout) return done();
      const { mtimeAt, mtimeSize, sumAt } = layout;
      head.fill(0, mtimeAt, mtimeAt + mtimeSize);
      const flags = readBE32(head, flagsAt(readBE16(head, MAGIC_SIZE)));
      const covered = head.subarray(MAGIC_SIZE, sumAt);
      head.writeUInt32BE((flags & F_H_CRC32 ? crc32(covered) : adler32(covered)) >>> 0, sumAt);
      const out = head;
      head = undefined;
      done(null, out);
    },
    flush(done: TransformCallback) {
      done(head && head.length ? new Error('lzop wrote a truncated header') : null);
    },
  });
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
