import { FormatError } from '../errors.js';
import { hex, readLE32 } from './bytes.js';
import { type Lz4BlockDecoder, withLz4Blocks } from './lz4-block.js';
import type { ByteSource } from './source.js';
import { eventLoopTurn } from './turn.js';
import type { Decoder, Sink } from './types.js';

/*
 * LZ4: the legacy container (`lz4 -l`, what dracut writes and the kernel reads) and the frame
 * format (`lz4` default). Written from the LZ4 block and frame format descriptions.
 */

const LEGACY_MAGIC = 0x184c2102;
const FRAME_MAGIC = 0x184d2204;
/** Every legacy block but the last decodes to exactly this much. */
const LEGACY_BLOCK = 8 << 20;
/** LZ4_COMPRESSBOUND(8 MiB): a larger "size" cannot be a legacy block. */
const LEGACY_BOUND = LEGACY_BLOCK + Math.floor(LEGACY_BLOCK / 255) + 16;
/** LZ4 offsets are 16-bit, so linked blocks need at most this much history. */
const WINDOW = 64 * 1024;
/** Output is pushed to the sink in chunks of at most this size. */
const CHUNK = 8 << 20;

/** One member: a legacy stream or one frame, chosen by the magic at `src.offset`. */
export const decodeLz4: Decoder = async (src, sink) => {
  if (readMagic(src) === LEGACY_MAGIC) await decodeLegacy(src, sink);
  else await decodeFrame(src, sink);
};

/** The legacy or frame magic at `src.offset`, not consumed; anything else is an error. */
function readMagic(src: ByteSource): number {
  const start = src.offset;
  const head = src.peek(4);
  if (head.length < 4) throw new FormatError('truncated lz4 magic', start);
  const magic = readLE32(head, 0);
  if (magic !== LEGACY_MAGIC && magic !== FRAME_MAGIC) {
    throw new FormatError(`not an lz4 stream (magic ${hex(magic, 8)})`, start);
  }
  return magic;
}

// ---------------------------------------------------------------------------------------------
// Legacy format

async function decodeLegacy(src: ByteSource, sink: Sink): Promise<void> {
  await withLz4Blocks(LEGACY_BOUND, LEGACY_BLOCK, async (blocks) => {
    for (const { at, size } of legacyBlocks(src)) {
      src.readTo(blocks.input.subarray(0, size), 'lz4 legacy block');
      const n = blocks.decode(size, 0, LEGACY_BLOCK, 0, at);
      sink(blocks.output.subarray(0, n));
      await eventLoopTurn();
    }
  });
}

/**
 * A legacy stream's blocks: the file offset and size of each, checked to be there. The caller
 * reads or skips each block's bytes before asking for the next.
 */
function* legacyBlocks(src: ByteSource): Generator<{ at: number; size: number }> {
  src.skip(4); // the magic
  for (;;) {
    const at = src.offset;
    const view = src.peek(4);
    // No end marker: EOF, a short tail, a zero size or something too big to be a block size
    // ends the stream, and those bytes belong to whatever follows.
    if (view.length < 4) return;
    const size = readLE32(view, 0);
    if (size === LEGACY_MAGIC) {
      src.skip(4); // concatenated `lz4 -l` outputs: the kernel carries on
      continue;
    }
    if (size === 0 || size > LEGACY_BOUND) return;
    if (src.available(size + 4) - 4 < size) {
      throw new FormatError(
        `truncated lz4 legacy block: needs ${size} bytes, file ends after ${Math.max(0, src.available(size + 4) - 4)}`,
        at + 4,
      );
    }
    src.skip(4);
    yield { at: at + 4, size };
  }
}

/** Where the lz4 member at `src.offset` ends, from its headers and block sizes alone. */
export function lz4MemberEnd(src: ByteSource): number {
  const magic = readMagic(src);
  if (magic === LEGACY_MAGIC) {
    for (const { size } of legacyBlocks(src)) src.skip(size);
  } else {
    const frame = readFrameHeader(src);
    for (let block = nextFrameBlock(src, frame); block; block = nextFrameBlock(src, frame)) src.skip(block.need);
    if (frame.contentChecksum) src.read(4, 'lz4 content checksum');
  }
  return src.offset;
}

// ---------------------------------------------------------------------------------------------
// Frame format

const BLOCK_MAX = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

interface FrameHeader {
  independent: boolean;
  blockChecksum: boolean;
  contentChecksum: boolean;
  blockMax: number;
  /** -1: not declared. */
  contentSize: number;
}

/** Reads and checks a frame's magic and descriptor. */
function readFrameHeader(src: ByteSource): FrameHeader {
  const start = src.offset;
  src.skip(4);
  const fd = src.read(2, 'lz4 frame descriptor');
  const flg = fd[0];
  const bd = fd[1];
  if (flg >> 6 !== 1) throw new FormatError(`unsupported lz4 frame version ${flg >> 6}`, start + 4);
  if (flg & 0x02) throw new FormatError('lz4 frame descriptor has a reserved FLG bit set', start + 4);
  if (bd & 0x8f) throw new FormatError('lz4 frame descriptor has a reserved BD bit set', start + 5);
  const independent = (flg & 0x20) !== 0;
  const blockChecksum = (flg & 0x10) !== 0;
  const hasContentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const hasDictId = (flg & 0x01) !== 0;
  const blockMax = BLOCK_MAX[(bd >> 4) & 7];
  if (!blockMax) throw new FormatError(`invalid lz4 block maximum size code ${(bd >> 4) & 7}`, start + 5);

  const descLen = 2 + (hasContentSize ? 8 : 0) + (hasDictId ? 4 : 0);
  src.seek(start + 4);
  const desc = src.read(descLen + 1, 'lz4 frame descriptor');
  const hc = (xxh32(desc, 0, descLen, 0) >>> 8) & 0xff;
  if (hc !== desc[descLen]) {
    throw new FormatError(
      `lz4 frame header checksum mismatch (stored ${desc[descLen]}, computed ${hc})`,
      start + 4 + descLen,
    );
  }
  let contentSize = -1;
  if (hasContentSize) {
    const lo = readLE32(desc, 2);
    const hi = readLE32(desc, 6);
    // Above 2^53 nothing could ever match it; treat it as a mismatch at the end.
    contentSize = hi >= 0x200000 ? Number.MAX_VALUE : hi * 0x100000000 + lo;
  }
  if (hasDictId) {
    throw new FormatError('lz4 frame needs a dictionary (dictionary ID set), which is not available', start + 4 + 2 + (hasContentSize ? 8 : 0));
  }
  return { independent, blockChecksum, contentChecksum, blockMax, contentSize };
}

/**
 * The next block's size, whether it is stored, and how many bytes follow its size field (its
 * checksum included), checked to be there; undefined at the EndMark.
 */
function nextFrameBlock(src: ByteSource, frame: FrameHeader): { at: number; size: number; stored: boolean; need: number } | undefined {
  const at = src.offset;
  const raw = readLE32(src.read(4, 'lz4 frame block size'), 0);
  if (raw === 0) return undefined;
  const stored = (raw & 0x80000000) !== 0;
  const size = raw & 0x7fffffff;
  if (size > frame.blockMax) {
    throw new FormatError(`lz4 frame block of ${size} bytes exceeds the frame's maximum of ${frame.blockMax}`, at);
  }
  const need = size + (frame.blockChecksum ? 4 : 0);
  if (src.available(need) < need) {
    throw new FormatError(`truncated lz4 frame block: needs ${need} bytes, file ends after ${src.available(need)}`, at + 4);
  }
  return { at, size, stored, need };
}

async function decodeFrame(src: ByteSource, sink: Sink): Promise<void> {
  const frame = readFrameHeader(src);
  const window = frame.independent ? 0 : WINDOW;
  // Room for at least one block; a declared content size below a chunk caps the buffer.
  const { blockMax, contentSize } = frame;
  const room = contentSize >= 0 ? Math.max(blockMax, Math.min(CHUNK, contentSize)) : CHUNK;
  await withLz4Blocks(blockMax, window + room, (blocks) => decodeFrameBlocks(src, sink, frame, window, blocks));
}

/** The frame's blocks, after its header, to its end and content checksum. */
async function decodeFrameBlocks(src: ByteSource, sink: Sink, frame: FrameHeader, window: number, blocks: Lz4BlockDecoder): Promise<void> {
  const { independent, contentChecksum, blockMax, contentSize } = frame;
  const out = blocks.output;
  const hasher = contentChecksum ? new Xxh32(0) : undefined;
  let op = 0; // end of output in `out`
  let flushed = 0; // start of the output not yet pushed
  let total = 0;
  for (let block = nextFrameBlock(src, frame); block; block = nextFrameBlock(src, frame)) {
    const { at, size, stored, need } = block;
    const data = src.read(need, 'lz4 frame block');
    if (frame.blockChecksum) {
      const want = readLE32(data, size);
      const got = xxh32(data, 0, size, 0);
      if (want !== got) {
        throw new FormatError(`lz4 block checksum mismatch (block at byte ${at})`, at + 4 + size);
      }
    }
    // Push what is pending before it could outgrow a chunk, and make room for a whole block,
    // keeping the history that linked blocks may refer to.
    const noRoom = out.length - op < blockMax;
    if (noRoom || op - flushed + blockMax > CHUNK) {
      if (op > flushed) sink(out.subarray(flushed, op));
      if (noRoom) {
        if (window) {
          out.copyWithin(0, op - window, op);
          op = window;
        } else {
          op = 0;
        }
      }
      flushed = op;
    }
    const blockStart = op;
    if (stored) {
      out.set(data.subarray(0, size), op);
      op += size;
    } else {
      blocks.input.set(data.subarray(0, size));
      op = blocks.decode(size, op, op + blockMax, independent ? op : 0, at + 4);
    }
    total += op - blockStart;
    if (contentSize >= 0 && total > contentSize) {
      throw new FormatError(`lz4 frame holds more than its declared content size of ${contentSize}`, at);
    }
    hasher?.update(out, blockStart, op);
    await eventLoopTurn();
  }
  if (op > flushed) sink(out.subarray(flushed, op));
  if (contentSize >= 0 && total !== contentSize) {
    throw new FormatError(`lz4 frame content is ${total} bytes, its header declares ${contentSize}`, src.offset - 4);
  }
  if (hasher) {
    const at = src.offset;
    const want = readLE32(src.read(4, 'lz4 content checksum'), 0);
    const got = hasher.digest();
    if (want !== got) throw new FormatError('lz4 frame content checksum mismatch', at);
  }
}

// ---------------------------------------------------------------------------------------------
// xxHash32

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function tail(acc: number, b: Uint8Array, i: number, end: number): number {
  while (end - i >= 4) {
    const w = readLE32(b, i);
    acc = Math.imul(rotl((acc + Math.imul(w, P3)) | 0, 17), P4);
    i += 4;
  }
  while (i < end) {
    acc = Math.imul(rotl((acc + Math.imul(b[i], P5)) | 0, 11), P1);
    i++;
  }
  acc ^= acc >>> 15;
  acc = Math.imul(acc, P2);
  acc ^= acc >>> 13;
  acc = Math.imul(acc, P3);
  acc ^= acc >>> 16;
  return acc >>> 0;
}

/** Streaming xxHash32. */
export class Xxh32 {
  private v1: number;
  private v2: number;
  private v3: number;
  private v4: number;
  private total = 0;
  private readonly pending = new Uint8Array(16);
  private pendingLen = 0;

  constructor(private readonly seed: number) {
    this.v1 = (seed + P1 + P2) | 0;
    this.v2 = (seed + P2) | 0;
    this.v3 = seed | 0;
    this.v4 = (seed - P1) | 0;
  }

  update(b: Uint8Array, start: number, end: number): void {
    this.total += end - start;
    let i = start;
    if (this.pendingLen > 0) {
      while (this.pendingLen < 16 && i < end) this.pending[this.pendingLen++] = b[i++];
      if (this.pendingLen < 16) return;
      this.stripes(this.pending, 0, 16);
      this.pendingLen = 0;
    }
    const full = i + ((end - i) & ~15);
    if (full > i) {
      this.stripes(b, i, full);
      i = full;
    }
    while (i < end) this.pending[this.pendingLen++] = b[i++];
  }

  digest(): number {
    let acc: number;
    if (this.total >= 16) {
      acc = (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0;
    } else {
      acc = (this.seed + P5) | 0;
    }
    acc = (acc + this.total) | 0; // length modulo 2^32
    return tail(acc, this.pending, 0, this.pendingLen);
  }

  private stripes(b: Uint8Array, i: number, end: number): void {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let v1 = this.v1;
    let v2 = this.v2;
    let v3 = this.v3;
    let v4 = this.v4;
    while (i < end) {
      v1 = (v1 + Math.imul(dv.getInt32(i, true), P2)) | 0;
      v1 = Math.imul((v1 << 13) | (v1 >>> 19), P1);
      v2 = (v2 + Math.imul(dv.getInt32(i + 4, true), P2)) | 0;
      v2 = Math.imul((v2 << 13) | (v2 >>> 19), P1);
      v3 = (v3 + Math.imul(dv.getInt32(i + 8, true), P2)) | 0;
      v3 = Math.imul((v3 << 13) | (v3 >>> 19), P1);
      v4 = (v4 + Math.imul(dv.getInt32(i + 12, true), P2)) | 0;
      v4 = Math.imul((v4 << 13) | (v4 >>> 19), P1);
      i += 16;
    }
    this.v1 = v1;
    this.v2 = v2;
    this.v3 = v3;
    this.v4 = v4;
  }
}

/** One-shot xxHash32 of `b[start, end)`. */
export function xxh32(b: Uint8Array, start: number, end: number, seed: number): number {
  const h = new Xxh32(seed);
  h.update(b, start, end);
  return h.digest();
}
