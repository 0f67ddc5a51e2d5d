import { FormatError } from '../errors.js';
import { hex, readLE32 } from './bytes.js';
import type { ByteSource } from './source.js';
import type { Decoder } from './types.js';
import { pumpZlib } from './zlib-pump.js';

const FTEXT = 1;
const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;
/**
 * Header fields gzip skips and the kernel's gunzip does not: it skips the 10 bytes and a file
 * name, and inflates what follows.
 */
const SKIPPED_BY_GZIP_ONLY: readonly [number, string][] = [[FEXTRA, 'an extra field'], [FCOMMENT, 'a comment'], [FHCRC, 'a header CRC']];

/**
 * One gzip member (RFC 1952). The header and trailer are parsed here and the deflate body goes
 * through raw inflate, so the member's exact end is known: Node's gunzip would run on into a
 * following member or stop silently at junk, and the kernel treats each member on its own.
 */
export const decodeGzip: Decoder = async (src, sink, options) => {
  const start = src.offset;
  const header = src.read(10, 'gzip header');
  if (header[0] === 0x1f && header[1] === 0x9e) {
    // decompress_method() takes it for gzip, and gunzip then refuses it.
    throw new FormatError("gzip magic 1f 9e: the kernel's gunzip reads 1f 8b only", start + 1);
  }
  if (header[0] !== 0x1f || header[1] !== 0x8b) throw new FormatError('not a gzip member', start);
  if (header[2] !== 8) throw new FormatError(`gzip compression method ${header[2]} is not deflate`, start + 2);
  const flags = header[3];
  if (flags & ~(FTEXT | FHCRC | FEXTRA | FNAME | FCOMMENT)) {
    throw new FormatError(`gzip header has reserved flag bits set (0x${hex(flags)})`, start + 3);
  }
  for (const [flag, what] of SKIPPED_BY_GZIP_ONLY) {
    if (flags & flag) throw new FormatError(`gzip header has ${what} (flag 0x${hex(flag, 2)}), which the kernel would inflate as data: it skips only a file name`, start + 3);
  }
  if (flags & FNAME) skipZeroTerminated(src, 'gzip file name');

  // Here, not at the top: a trial's gzip stage that meets another format stops at the header.
  const { createInflateRaw, crc32 } = process.getBuiltinModule('node:zlib');
  let crc = 0;
  let size = 0;
  await pumpZlib(src, createInflateRaw(), (chunk) => {
    crc = crc32(chunk, crc);
    size += chunk.length;
    return sink(chunk);
  }, 'gzip', options);

  const trailerAt = src.offset;
  const trailer = src.read(8, 'gzip trailer');
  const storedCrc = readLE32(trailer, 0);
  const storedSize = readLE32(trailer, 4);
  if (storedCrc !== crc >>> 0) {
    throw new FormatError(`gzip CRC32 mismatch: stored 0x${hex(storedCrc, 8)}, data has 0x${hex(crc >>> 0, 8)}`, trailerAt);
  }
  if (storedSize !== size % 2 ** 32) {
    throw new FormatError(`gzip size mismatch: stored ${storedSize}, data has ${size % 2 ** 32}`, trailerAt + 4);
  }
};

function skipZeroTerminated(src: ByteSource, what: string): void {
  for (;;) {
    const view = src.peek(1);
    if (view.length === 0) throw new FormatError(`truncated ${what}`, src.offset);
    const nul = view.indexOf(0);
    if (nul >= 0) {
      src.skip(nul + 1);
      return;
    }
    src.skip(view.length);
  }
}
