import { FormatError } from '../errors.js';
import { hex, readLE32 } from './bytes.js';
import { decodeLzma2 } from './lzma.js';
import type { ByteSource } from './source.js';
import type { Decoder } from './types.js';
const { crc32 } = process.getBuiltinModule('node:zlib');

/*
 * The xz container, read as the kernel's decoder (xz-embedded) reads it: one stream (the kernel
 * goes on with the next member after it), blocks whose filter chain is LZMA2, alone or after one
 * BCJ filter without a start offset, checks none, CRC32 or CRC64. lzma.c decodes each block's
 * LZMA2 data and runs its BCJ filter; everything else is checked here: the headers' CRC32s, the
 * sizes a block header records (as the block decodes), each block's check, the Index
 * against the blocks, and the footer against the Index and the header.
 */

const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const HEADER_SIZE = 12;
const FOOTER_SIZE = 12;
const CHECK_NONE = 0;
const CHECK_CRC32 = 1;
const CHECK_CRC64 = 4;
const CHECK_SIZES: Record<number, number> = { [CHECK_NONE]: 0, [CHECK_CRC32]: 4, [CHECK_CRC64]: 8 };
/** A larger dictionary is refused so that memory stays bounded (xz -9 uses 64 MiB), as in lzma.ts. */
const MAX_DICT = 128 << 20;

const FILTER_NAMES: Record<number, string> = {
  0x03: 'delta', 0x04: 'x86 BCJ', 0x05: 'PowerPC BCJ', 0x06: 'IA-64 BCJ', 0x07: 'ARM BCJ', 0x08: 'ARM-Thumb BCJ',
  0x09: 'SPARC BCJ', 0x0a: 'ARM64 BCJ', 0x0b: 'RISC-V BCJ',
};
/** The BCJ filters of bcj.h (RISC-V's is newer than the xz that tests them here). */
const BCJ_FILTERS = new Set([0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a]);

export const decodeXz: Decoder = async (src, sink) => {
  const [flags0, flags1] = readStreamFlags(src);
  src.skip(HEADER_SIZE);
  const check = flags1 & 0x0f;
  const checkSize = CHECK_SIZES[check];
  // The unpadded and uncompressed size of each block, as the Index must list them.
  const blocks: [number, number][] = [];
  for (;;) {
    const next = src.peek(1);
    if (next.length === 0) throw new FormatError('truncated xz stream: no index before the end of the file', src.offset);
    if (next[0] === 0x00) break;
    const blockAt = src.offset;
    const header = readBlockHeader(src);
    const dataAt = src.offset;
    let size = 0;
    let crc = 0;
    const crc64 = await decodeLzma2(src, (chunk) => {
      size += chunk.length;
      if (header.uncompressedSize >= 0 && size > header.uncompressedSize) {
        throw new FormatError(`xz block decodes to more than the ${header.uncompressedSize} bytes its header gives`, src.offset);
      }
      if (check === CHECK_CRC32) crc = crc32(chunk, crc);
      return sink(chunk);
    }, header.dictSize, header.uncompressedSize, header.compressedSize, header.bcj, check === CHECK_CRC64);
    const compressed = src.offset - dataAt;
    if (header.compressedSize >= 0 && compressed !== header.compressedSize) {
      throw new FormatError(`xz block's LZMA2 data is ${compressed} bytes, its header says ${header.compressedSize}`, src.offset);
    }
    if (header.uncompressedSize >= 0 && size !== header.uncompressedSize) {
      throw new FormatError(`xz block decodes to ${size} bytes, its header says ${header.uncompressedSize}`, src.offset);
    }
    const padding = src.read((4 - (compressed % 4)) % 4, 'xz block padding');
    if (padding.some((b) => b !== 0)) throw new FormatError('xz block padding is not zero', src.offset - padding.length);
    const checkAt = src.offset;
    const stored = src.read(checkSize, 'xz block check');
    const sum = check === CHECK_CRC32 ? [crc] : crc64;
    if (sum?.some((word, i) => readLE32(stored, 4 * i) !== word)) {
      throw new FormatError(`xz block ${check === CHECK_CRC32 ? 'CRC32' : 'CRC64'} mismatch: the data is corrupt`, checkAt);
    }
    blocks.push([dataAt - blockAt + compressed + checkSize, size]);
  }
  const indexSize = readIndex(src, blocks);
  readFooter(src, indexSize, flags0, flags1);
};

interface BlockHeader {
  dictSize: number;
  /** -1 where the header does not say. */
  compressedSize: number;
  uncompressedSize: number;
  /** The xz ID of the BCJ filter before LZMA2, 0 if none. */
  bcj: number;
}

/** The block header at `src.offset`, whose filter chain must be [BCJ,] LZMA2; `src` is left after it. */
function readBlockHeader(src: ByteSource): BlockHeader {
  const at = src.offset;
  const size = (src.peek(1)[0] + 1) * 4;
  const h = src.read(size, 'xz block header');
  if (crc32(h.subarray(0, size - 4)) !== readLE32(h, size - 4)) throw new FormatError('xz block header CRC32 mismatch', at + size - 4);
  let pos = 2;
  const next = (): number => (pos < size - 4 ? h[pos++] : -1);
  const field = (what: string): number => {
    const from = pos;
    const value = readVli(next);
    if (value < 0) throw new FormatError(`xz block header's ${what} is no valid integer, or the header too short for it`, at + from);
    return value;
  };
  const flags = h[1];
  if (flags & 0x3c) throw new FormatError(`unsupported xz block flags 0x${hex(flags, 2)} (reserved bits set)`, at + 1);
  const compressedSize = flags & 0x40 ? field('compressed size') : -1;
  const uncompressedSize = flags & 0x80 ? field('uncompressed size') : -1;
  if (compressedSize === 0) throw new FormatError('xz block header gives a compressed size of 0', at);
  const filters = (flags & 0x03) + 1;
  let bcj = 0;
  for (let i = 0; i < filters; i++) {
    const filterAt = at + pos;
    const id = field('filter ID');
    const propsSize = field('filter properties size');
    if (i === 0 && filters === 2 && BCJ_FILTERS.has(id)) {
      if (propsSize !== 0) throw new FormatError(`xz ${FILTER_NAMES[id]} filter has a start offset, which the kernel's decoder does not read`, filterAt);
      bcj = id;
      continue;
    }
    if (id !== LZMA2_FILTER || i !== filters - 1) {
      const name = FILTER_NAMES[id] ?? (id === LZMA2_FILTER ? 'LZMA2 before the last filter' : 'unknown');
      throw new FormatError(`unsupported xz filter 0x${hex(id, 2)} (${name}): the kernel reads LZMA2, alone or after one BCJ filter`, filterAt);
    }
    if (propsSize !== 1) throw new FormatError(`xz LZMA2 filter properties are ${propsSize} bytes, not 1`, filterAt);
    const props = next();
    if (props < 0) throw new FormatError("xz block header is too short for LZMA2's properties", at + pos);
    if (props > 40) throw new FormatError(`xz LZMA2 dictionary size byte ${props} is out of range (at most 40)`, at + pos - 1);
    const dictSize = dictionarySize(props);
    if (dictSize > MAX_DICT) {
      throw new FormatError(`xz dictionary of ${dictSize} bytes is larger than the supported ${MAX_DICT} bytes`, at + pos - 1);
    }
    for (let p = pos; p < size - 4; p++) {
      if (h[p] !== 0) throw new FormatError('xz block header padding is not zero', at + p);
    }
    return { dictSize, compressedSize, uncompressedSize, bcj };
  }
  throw new Error('unreachable');
}

/** LZMA2's dictionary size from its property byte (at most 40). */
function dictionarySize(props: number): number {
  return props === 40 ? 0xffffffff : (2 | (props & 1)) * 2 ** ((props >> 1) + 11);
}

/**
 * xz's variable-length integer from `next` (7 bits a byte, low first, at most 9 bytes, no
 * needless last byte of 0), or -1 where there is none: `next` ran out (it gives -1), the bytes
 * break a rule, or the value is past 2^53.
 */
function readVli(next: () => number): number {
  let value = 0;
  for (let n = 0, scale = 1; n < 9; n++, scale *= 128) {
    const b = next();
    if (b < 0 || (b === 0 && n > 0)) return -1;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return value <= Number.MAX_SAFE_INTEGER ? value : -1;
  }
  return -1;
}

/** Checks the Index at `src.offset` against the blocks decoded, leaves `src` after it and returns its size. */
function readIndex(src: ByteSource, blocks: [number, number][]): number {
  const at = src.offset;
  let crc = 0;
  const byte = (): number => {
    const b = src.read(1, 'xz index');
    crc = crc32(b, crc);
    return b[0];
  };
  const vli = (): number => {
    const from = src.offset;
    const value = readVli(byte);
    if (value < 0) throw new FormatError('xz index field is no valid integer', from);
    return value;
  };
  byte(); // the index indicator, 0
  const count = vli();
  if (count !== blocks.length) throw new FormatError(`xz index lists ${count} blocks, the stream has ${blocks.length}`, at + 1);
  blocks.forEach(([unpadded, uncompressed], i) => {
    const recordAt = src.offset;
    if (vli() !== unpadded || vli() !== uncompressed) {
      throw new FormatError(`xz index record ${i + 1} does not match block ${i + 1} (${unpadded} bytes unpadded, ${uncompressed} decoded)`, recordAt);
    }
  });
  while ((src.offset - at) % 4 !== 0) {
    if (byte() !== 0) throw new FormatError('xz index padding is not zero', src.offset - 1);
  }
  const sumAt = src.offset;
  if (readLE32(src.read(4, 'xz index CRC32'), 0) !== crc) throw new FormatError('xz index CRC32 mismatch', sumAt);
  return src.offset - at;
}

/** Checks the stream footer at `src.offset`, and leaves `src` after it. */
function readFooter(src: ByteSource, indexSize: number, flags0: number, flags1: number): void {
  const at = src.offset;
  const f = src.read(FOOTER_SIZE, 'xz stream footer');
  if (f[10] !== 0x59 || f[11] !== 0x5a) throw new FormatError('xz stream footer magic "YZ" is missing', at + 10);
  if (crc32(f.subarray(4, 10)) !== readLE32(f, 0)) throw new FormatError('xz stream footer CRC32 mismatch', at);
  if ((readLE32(f, 4) + 1) * 4 !== indexSize) {
    throw new FormatError(`xz stream footer says the index is ${(readLE32(f, 4) + 1) * 4} bytes, it is ${indexSize}`, at + 4);
  }
  if (f[8] !== flags0 || f[9] !== flags1) throw new FormatError("xz stream footer's flags differ from the header's", at + 8);
}

/** The stream flags of the header at `src.offset`, checked as the kernel's decoder checks them. */
function readStreamFlags(src: ByteSource): [number, number] {
  const start = src.offset;
  const header = src.peek(HEADER_SIZE);
  if (header.length < HEADER_SIZE) throw new FormatError('truncated xz stream header', start);
  if (HEADER_MAGIC.some((b, i) => header[i] !== b)) throw new FormatError('not an xz stream', start);
  if (crc32(header.subarray(6, 8)) !== readLE32(header, 8)) {
    throw new FormatError('xz stream header CRC32 mismatch', start + 8);
  }
  const flags0 = header[6];
  const flags1 = header[7];
  if (flags0 !== 0 || (flags1 & 0xf0) !== 0) throw new FormatError(`unsupported xz stream flags 0x${hex(flags0, 2)}${hex(flags1, 2)} (reserved bits set)`, start + 6);
  const check = flags1 & 0x0f;
  if (CHECK_SIZES[check] === undefined) {
    throw new FormatError(`xz check type ${check === 10 ? 'SHA-256' : check} is not supported (the kernel's decoder reads none, CRC32 and CRC64)`, start + 7);
  }
  return [flags0, flags1];
}

const LZMA2_FILTER = 0x21;

/** An xz stream that `xz -d` may decode. */
export interface XzMember {
  /** Where the stream ends. */
  end: number;
  /**
   * Our estimate of what one of xz's decoder threads (xz 5.4 and later) holds for the stream's
   * largest block that records both its sizes in its header: twice its output, its input and
   * the dictionary, which fits what GNU time measured by hand (about 8 MiB a thread for dracut's
   * 3 MiB blocks). 0 when no block records both: xz then decodes on one thread, whatever -T says.
   */
  threadMemory: number;
}

/**
 * Where the xz stream at `src.offset` ends: at its first footer whose Index fits the stream
 * (findFooter). Where every block header records its compressed size, the blocks are walked
 * as our decoder reads them, a seek each, and the footer is searched for from where they end
 * (`xz -d` checks each block against its header); else from the first block on, through all
 * of their bytes. Only a stream whose every block is LZMA2 alone is handed to `xz -d`
 * (undefined otherwise): xz reads filters the kernel's decoder does not (delta), so any other
 * chain stays with ours, which reads what the kernel reads.
 */
export function xzMemberEnd(src: ByteSource): XzMember | undefined {
  const start = src.offset;
  const [flags0, flags1] = readStreamFlags(src);
  const checkSize = CHECK_SIZES[flags1 & 0x0f];
  let threadMemory = 0;
  let at = start + HEADER_SIZE;
  for (;;) {
    const head = src.readAt(at, BLOCK_HEADER_START);
    if (head.length > 0 && head[0] === 0) {
      src.seek(at);
      const found = searchFooter(src, start, flags0, flags1, at + MAX_INDEX);
      return found && { end: found.footerAt + FOOTER_SIZE, threadMemory };
    }
    const block = head.length > 0 ? lzma2Block(head) : undefined;
    if (head.length > 0 && !block) return undefined;
    // The file ends inside the blocks, or a header does not say where its block ends.
    if (!block || block.compressed < 0) break;
    if (block.uncompressed >= 0) threadMemory = Math.max(threadMemory, 2 * block.uncompressed + block.compressed + block.dictionary);
    at += (head[0] + 1) * 4 + block.compressed + ((4 - (block.compressed % 4)) % 4) + checkSize;
  }
  src.seek(start + HEADER_SIZE);
  const { footerAt, indexAt } = searchFooter(src, start, flags0, flags1)!;
  at = start + HEADER_SIZE;
  let lzma2 = true;
  threadMemory = 0;
  forEachIndexRecord(src, indexAt, footerAt - indexAt, (unpadded) => {
    const block = lzma2Block(src.readAt(at, BLOCK_HEADER_START));
    if (!block) lzma2 = false;
    else if (block.compressed >= 0 && block.uncompressed >= 0) {
      threadMemory = Math.max(threadMemory, 2 * block.uncompressed + block.compressed + block.dictionary);
    }
    at += unpadded + ((4 - (unpadded % 4)) % 4);
  });
  return lzma2 ? { end: footerAt + FOOTER_SIZE, threadMemory } : undefined;
}

/** A block header's first bytes, enough for its size, flags, two sizes and one filter's flags. */
const BLOCK_HEADER_START = 2 + 2 * 10 + 10;

/**
 * The first footer from `src.offset` on whose Index fits the stream at `start` (findFooter),
 * and where that Index starts; undefined where none begins before `limit`.
 */
function searchFooter(src: ByteSource, start: number, flags0: number, flags1: number, limit = Infinity): { footerAt: number; indexAt: number } | undefined {
  for (;;) {
    const view = src.peek(FOOTER_SIZE);
    if (view.length < FOOTER_SIZE) throw new FormatError('truncated xz stream: no stream footer before the end of the file', src.offset);
    const candidates = view.length - FOOTER_SIZE + 1;
    const footer = findFooter(src, view, candidates, start, flags0, flags1);
    if (footer >= 0) {
      const footerAt = src.offset + footer;
      return { footerAt, indexAt: footerAt - (readLE32(view, footer + 4) + 1) * 4 };
    }
    if (src.offset + candidates > limit) return undefined;
    src.skip(candidates);
  }
}

/**
 * What a block header (its first bytes) records, if it names one filter, LZMA2: its sizes
 * (-1 where it does not say) and the dictionary's.
 */
function lzma2Block(head: Uint8Array): { compressed: number; uncompressed: number; dictionary: number } | undefined {
  const flags = head[1];
  if ((flags & 0x03) !== 0 || (flags & 0x3c) !== 0) return undefined;
  let pos = 2;
  const vli = (): number => readVli(() => (pos < head.length ? head[pos++] : -1));
  const compressed = flags & 0x40 ? vli() : -1;
  const uncompressed = flags & 0x80 ? vli() : -1;
  if ((flags & 0x40 && compressed < 0) || (flags & 0x80 && uncompressed < 0)) return undefined;
  if (head[pos] !== LZMA2_FILTER || head[pos + 1] !== 1 || head[pos + 2] > 40) return undefined;
  return { compressed, uncompressed, dictionary: dictionarySize(head[pos + 2]) };
}

/**
 * Index in `view` of this stream's footer, starting before `limit`, or -1. A footer is the
 * CRC32 of the next 6 bytes, the backward size, the stream flags repeated from the header,
 * then "YZ". The backward size must point at an Index whose CRC32 holds and whose blocks fill
 * exactly the space from the stream header: an xz file stored inside the data (a compressed
 * module kept verbatim) has a valid footer of its own, but not one that fits this stream.
 */
function findFooter(src: ByteSource, view: Uint8Array, limit: number, streamStart: number, flags0: number, flags1: number): number {
  const last = Math.min(limit, view.length - FOOTER_SIZE + 1);
  for (let i = view.indexOf(0x59, 10) - 10; i >= 0 && i < last; i = view.indexOf(0x59, i + 11) - 10) {
    if (view[i + 11] !== 0x5a || view[i + 8] !== flags0 || view[i + 9] !== flags1) continue;
    if (crc32(view.subarray(i + 4, i + 10)) !== readLE32(view, i)) continue;
    const indexSize = (readLE32(view, i + 4) + 1) * 4;
    const footerAt = src.offset + i;
    if (indexMatches(src, footerAt - indexSize, indexSize, streamStart + HEADER_SIZE)) return i;
  }
  return -1;
}

/** Largest Index read to check a footer candidate; a real one is a few bytes per block. */
const MAX_INDEX = 1 << 24;

function indexMatches(src: ByteSource, indexAt: number, indexSize: number, blocksStart: number): boolean {
  if (indexAt < blocksStart) return false;
  let blocks = 0;
  const valid = forEachIndexRecord(src, indexAt, indexSize, (unpadded) => {
    blocks += unpadded + ((4 - (unpadded % 4)) % 4);
  });
  return valid && blocksStart + blocks === indexAt;
}

/**
 * Calls `visit` with the unpadded size of each block an Index lists, in order; false when it
 * is no Index (its CRC32 or a record does not hold).
 */
function forEachIndexRecord(src: ByteSource, indexAt: number, indexSize: number, visit: (unpadded: number) => void): boolean {
  if (indexSize > MAX_INDEX) return false;
  const index = src.readAt(indexAt, indexSize);
  if (index.length !== indexSize || index[0] !== 0) return false;
  if (crc32(index.subarray(0, indexSize - 4)) !== readLE32(index, indexSize - 4)) return false;
  let pos = 1;
  const vli = (): number => readVli(() => (pos < indexSize - 4 ? index[pos++] : -1));
  const count = vli();
  if (count < 0) return false;
  for (let r = 0; r < count; r++) {
    const unpadded = vli();
    if (unpadded < 0 || vli() < 0) return false;
    visit(unpadded);
  }
  return true;
}
