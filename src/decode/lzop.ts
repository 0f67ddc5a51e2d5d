import { FormatError } from '../errors.js';
import { hex, readBE16, readBE32 } from './bytes.js';
import { adler32, withLzo1x } from './lzo1x.js';
import type { ByteSource } from './source.js';
import { eventLoopTurn } from './turn.js';
import type { Decoder } from './types.js';

/*
 * The lzop file format: a big-endian header, then blocks of
 *   dst_len, src_len, [checksums of the uncompressed data], [checksums of the compressed data,
 *   only when src_len < dst_len], data (stored when src_len == dst_len, else LZO1X)
 * ended by dst_len == 0.
 */

const MAGIC = [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a];

const F_ADLER32_D = 0x1;
const F_ADLER32_C = 0x2;
const F_H_EXTRA_FIELD = 0x40;
const F_CRC32_D = 0x100;
const F_CRC32_C = 0x200;
const F_H_FILTER = 0x800;
const F_H_CRC32 = 0x1000;

/** lzop's own limit (MAX_BLOCK_SIZE); dracut's lzop writes 256 KiB blocks. */
const MAX_BLOCK = 64 << 20;
/** Output is pushed in pieces of at most this size. */
const CHUNK = 8 << 20;

/**
 * node:zlib's CRC32, taken at its first use: lzop writes Adler-32 unless told --crc32, and
 * node:zlib adds to the peak RSS (bench/startup.sh).
 */
function crc(b: Uint8Array, value = 0): number {
  return process.getBuiltinModule('node:zlib').crc32(b, value) >>> 0;
}

/** Reads header fields, keeping a copy of their bytes for the header checksum. */
class HeaderReader {
  readonly bytes = new Uint8Array(512);
  length = 0;
  constructor(private readonly src: ByteSource) {}

  take(n: number, what: string): Uint8Array {
    const view = this.src.read(n, `lzop header ${what}`);
    this.bytes.set(view, this.length);
    this.length += n;
    return this.bytes.subarray(this.length - n, this.length);
  }
  u8(what: string): number {
    return this.take(1, what)[0];
  }
  u16(what: string): number {
    return readBE16(this.take(2, what), 0);
  }
  u32(what: string): number {
    return readBE32(this.take(4, what), 0);
  }
}

/** Reads the header at `src.offset` (checked as lzop checks it) and returns its flags. */
function readHeader(src: ByteSource): number {
  const start = src.offset;
  const magic = src.read(MAGIC.length, 'lzop magic');
  for (let i = 0; i < MAGIC.length; i++) {
    if (magic[i] !== MAGIC[i]) throw new FormatError('not an lzop file (bad magic)', start);
  }

  // --- header
  const h = new HeaderReader(src);
  const version = h.u16('version');
  h.u16('library version');
  if (version >= 0x0940) h.u16('version needed to extract');
  const methodAt = src.offset;
  const method = h.u8('method');
  if (version >= 0x0940) h.u8('level');
  const flags = h.u32('flags');
  if (flags & F_H_FILTER) {
    const filterAt = src.offset;
    const filter = h.u32('filter');
    // The kernel ignores the filter and would hand on filtered bytes; refuse instead.
    if (filter !== 0) throw new FormatError(`lzop filter ${filter} is not supported`, filterAt);
  }
  h.u32('mode');
  h.u32('mtime');
  if (version >= 0x0940) h.u32('mtime high');
  const nameLen = h.u8('name length');
  if (nameLen > 0) h.take(nameLen, 'name');
  const useCrc = (flags & F_H_CRC32) !== 0;
  const covered = h.bytes.subarray(0, h.length);
  const computed = useCrc ? crc(covered) : adler32(covered);
  const sumAt = src.offset;
  const stored = readBE32(src.read(4, 'lzop header checksum'), 0);
  if (stored !== computed) {
    throw new FormatError(
      `lzop header checksum mismatch (${useCrc ? 'CRC32' : 'Adler-32'} stored ${hex(stored, 8)}, computed ${hex(computed, 8)})`,
      sumAt,
    );
  }
  // Checked after the checksum so that a corrupt method byte is reported as corruption.
  if (method < 1 || method > 3) {
    throw new FormatError(`lzop method ${method} is not LZO1X (only methods 1, 2 and 3 are)`, methodAt);
  }
  if (flags & F_H_EXTRA_FIELD) skipExtraField(src, useCrc);
  return flags;
}

export const decodeLzop: Decoder = async (src, sink) => {
  const flags = readHeader(src);
  await withLzo1x(async (lzo) => {
    for (;;) {
      const block = readBlockHeader(src, flags);
      if (!block) return;
      const { dstLen, srcLen, compressed, sumsAt, adlerD, crcD, adlerC, crcC } = block;
      const dataAt = src.offset;
      lzo.layout(srcLen, compressed ? dstLen : 0);
      const data = lzo.input;
      src.readTo(data, 'lzop block');
      if (adlerC !== undefined) checkSum('Adler-32', 'compressed', adlerC, lzo.adler32(data), dataAt, sumsAt);
      if (crcC !== undefined) checkSum('CRC32', 'compressed', crcC, crc(data), dataAt, sumsAt);
      if (compressed) lzo.decode(srcLen, dstLen, dataAt);
      const plain = compressed ? lzo.output : data;
      if (adlerD !== undefined) checkSum('Adler-32', 'uncompressed', adlerD, lzo.adler32(plain), dataAt, sumsAt);
      if (crcD !== undefined) checkSum('CRC32', 'uncompressed', crcD, crc(plain), dataAt, sumsAt);
      for (let i = 0; i < dstLen; i += CHUNK) await sink(plain.subarray(i, Math.min(dstLen, i + CHUNK)));
      await eventLoopTurn();
    }
  });
};

/** Where the lzop member at `src.offset` ends, from its header and block headers alone: the checksums of the blocks are left to what decodes them. */
export function lzopMemberEnd(src: ByteSource): number {
  const flags = readHeader(src);
  for (let block = readBlockHeader(src, flags); block; block = readBlockHeader(src, flags)) src.skipExactly(block.srcLen, 'lzop block');
  return src.offset;
}

interface BlockHeader {
  dstLen: number;
  srcLen: number;
  compressed: boolean;
  sumsAt: number;
  adlerD?: number;
  crcD?: number;
  adlerC?: number;
  crcC?: number;
}

/** The next block's lengths and checksums; undefined at the end. */
function readBlockHeader(src: ByteSource, flags: number): BlockHeader | undefined {
  const at = src.offset;
  const dstLen = readBE32(src.read(4, 'lzop block length'), 0);
  if (dstLen === 0) return undefined;
  if (dstLen > MAX_BLOCK) {
    throw new FormatError(`lzop block of ${dstLen} bytes exceeds lzop's maximum of ${MAX_BLOCK}`, at);
  }
  const srcLen = readBE32(src.read(4, 'lzop block compressed length'), 0);
  if (srcLen === 0 || srcLen > dstLen) {
    throw new FormatError(`lzop block compressed length ${srcLen} is invalid for ${dstLen} bytes`, at + 4);
  }
  const compressed = srcLen < dstLen;
  const sumsAt = src.offset;
  const nSums =
    (flags & F_ADLER32_D ? 1 : 0) +
    (flags & F_CRC32_D ? 1 : 0) +
    (compressed ? (flags & F_ADLER32_C ? 1 : 0) + (flags & F_CRC32_C ? 1 : 0) : 0);
  const sums = src.read(nSums * 4, 'lzop block checksums');
  let k = 0;
  const block: BlockHeader = { dstLen, srcLen, compressed, sumsAt };
  if (flags & F_ADLER32_D) block.adlerD = readBE32(sums, 4 * k++);
  if (flags & F_CRC32_D) block.crcD = readBE32(sums, 4 * k++);
  if (compressed && flags & F_ADLER32_C) block.adlerC = readBE32(sums, 4 * k++);
  if (compressed && flags & F_CRC32_C) block.crcC = readBE32(sums, 4 * k++);
  return block;
}

function skipExtraField(src: ByteSource, useCrc: boolean): void {
  // The extra field's checksum covers its length and its bytes.
  const at = src.offset;
  const lenBytes = src.read(4, 'lzop extra field length');
  const len = readBE32(lenBytes, 0);
  let sum = useCrc ? crc(lenBytes) : adler32(lenBytes);
  if (src.available(len + 4) < len + 4) {
    throw new FormatError(`truncated lzop extra field: needs ${len + 4} bytes, file ends after ${src.available(len + 4)}`, at + 4);
  }
  let left = len;
  while (left > 0) {
    const n = Math.min(left, 1 << 20);
    const view = src.read(n, 'lzop extra field');
    sum = useCrc ? crc(view, sum) : adler32(view, sum);
    left -= n;
  }
  const sumAt = src.offset;
  const stored = readBE32(src.read(4, 'lzop extra field checksum'), 0);
  if (stored !== sum) throw new FormatError('lzop extra field checksum mismatch', sumAt);
}

function checkSum(kind: string, what: string, stored: number, computed: number, dataAt: number, sumsAt: number): void {
  if (stored !== computed) {
    throw new FormatError(
      `lzop ${kind} of the ${what} block data mismatch (stored at byte ${sumsAt}: ${hex(stored, 8)}, computed ${hex(computed, 8)})`,
      dataAt,
    );
  }
}
