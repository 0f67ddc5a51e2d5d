import { FormatError } from '../errors.js';
import { readLE16, readLE24, readLE32 } from './bytes.js';
import { type ByteSource, truncated } from './source.js';
import type { Decoder } from './types.js';
import { pumpZlib } from './zlib-pump.js';

const ZSTD_MAGIC = 0xfd2fb528;
const MAX_BLOCK = 128 * 1024;
/** 2^27 = 128 MiB, what `zstd --long` uses and zstd's own default decoding limit. */
const WINDOW_LOG_MAX = 27;

/**
 * One zstd frame: the kernel's unzstd stops after a frame, and the next frame is a new member
 * to it. The engine does not report how much input it used, so the frame is walked here
 * (headers and block sizes only) over each window of input before the engine is given it, and
 * exactly its bytes are fed to node:zlib. The walk reads the bytes the engine is about to take,
 * so the member is read from the image once.
 *
 * The engine is given every byte before a block header the walk refuses, and the walk's error
 * comes only then: which error a member gives, the engine's or the walk's, depends on its bytes
 * alone, not on how far a window reached.
 */
export const decodeZstd: Decoder = async (src, sink, { overlap, saveMemory } = {}) => {
  const start = src.offset;
  expectFrame(src);
  const walk = new FrameWalk(readFrameHeader(src).hasChecksum, src.offset);
  src.seek(start);
  // Here, not at the top: zstdMemberEnd runs before a co-process that needs no node:zlib.
  const { constants, createZstdDecompress } = process.getBuiltinModule('node:zlib');
  const engine = createZstdDecompress({ params: { [constants.ZSTD_d_windowLogMax]: WINDOW_LOG_MAX } });
  const limit = (): number => {
    const at = src.offset;
    const view = src.peek(3);
    const known = walk.over(view, at);
    if (known === at && at < walk.frameEnd) throw walk.stoppedAt(at + view.length);
    return known - start;
  };
  await pumpZlib(src, engine, sink, 'zstd', { limit, overlap, saveMemory });
  if (src.offset !== walk.frameEnd) throw new FormatError('zstd frames end before their last block', src.offset);
};

/**
 * The blocks of one frame, walked over the windows of input as they come: each block header
 * read from the window that holds it, each block's content stepped over, in this window or
 * in later ones.
 */
class FrameWalk {
  /** Where the next block header is, or, after the last block, the end of its content. */
  next: number;
  /** The last block's header has been read. */
  private lastBlock = false;
  /** Why the block header at `next` was refused. */
  private refused: FormatError | undefined;
  /** The content of the block last read: where it starts, and its size in the frame. */
  private contentAt = 0;
  private contentSize = 0;

  constructor(
    /** Whether a checksum of 4 bytes follows the last block. */
    private readonly hasChecksum: boolean,
    /** Where the first block header is. */
    firstBlock: number,
  ) {
    this.next = firstBlock;
  }

  /** Where the frame ends, once its last block header has been read; Infinity before. */
  get frameEnd(): number {
    return this.lastBlock ? this.next + (this.hasChecksum ? 4 : 0) : Infinity;
  }

  /**
   * Reads the block headers in `view`, the image's bytes from `at` (where the next block header
   * is, or inside the content before it), and returns how far from `at` the frame's bytes are
   * known to go: to the next header not yet read or refused, or the frame's end.
   */
  over(view: Uint8Array, at: number): number {
    const viewEnd = at + view.length;
    while (!this.lastBlock && !this.refused && this.next + 3 <= viewEnd) {
      const blockAt = this.next;
      const header = readLE24(view, blockAt - at);
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) this.refused = new FormatError('zstd block of the reserved type', blockAt);
      else if (size > MAX_BLOCK) this.refused = new FormatError(`zstd block of ${size} bytes exceeds 128 KiB`, blockAt);
      if (this.refused) break;
      this.contentAt = blockAt + 3;
      // An RLE block's content is one byte, repeated `size` times.
      this.contentSize = type === 1 ? 1 : size;
      this.next = this.contentAt + this.contentSize;
      this.lastBlock = (header & 1) === 1;
    }
    return Math.min(viewEnd, this.lastBlock ? this.frameEnd : this.next);
  }

  /**
   * Why the walk stops short of the frame's end where the image's bytes end at `end`: the block
   * header it refused, or what of the frame the image cuts.
   */
  stoppedAt(end: number): FormatError {
    if (this.refused) return this.refused;
    if (end < this.next) return truncated('zstd block', this.contentSize, end - this.contentAt, this.contentAt);
    if (this.lastBlock) return truncated('zstd frame checksum', 4, end - this.next, this.next);
    return truncated('zstd block header', 3, end - this.next, this.next);
  }
}

/**
 * How many bytes of its output the decoder of the zstd frame at `src.offset` keeps to copy
 * matches from: the frame's window, or its content where the header gives a smaller size
 * (RFC 8878, 3.1.1.1). Reads the header: give a reader of its own.
 */
export function zstdWindowBytes(src: ByteSource): number {
  expectFrame(src);
  const { windowBytes, contentBytes } = readFrameHeader(src);
  return Math.min(windowBytes, contentBytes ?? Infinity);
}

/**
 * Where the zstd frame at `src.offset` ends, from its headers and block sizes alone: the
 * blocks' content is stepped over, not read. Only a file's image: it seeks.
 */
export function zstdMemberEnd(src: ByteSource): number {
  expectFrame(src);
  const walk = new FrameWalk(readFrameHeader(src).hasChecksum, src.offset);
  for (let at = src.offset; ; ) {
    src.seek(at);
    const view = src.peek(4);
    const known = walk.over(view, at);
    if (walk.frameEnd <= src.size) return walk.frameEnd;
    if (known === at) throw walk.stoppedAt(at + view.length);
    at = Math.min(Math.max(known, walk.next), src.size);
  }
}

function expectFrame(src: ByteSource): void {
  const view = src.peek(4);
  if (view.length < 4 || readLE32(view, 0) !== ZSTD_MAGIC) throw new FormatError('not a zstd frame', src.offset);
}

/** A zstd frame header's window size, its content size where given, and whether a checksum ends the frame. */
interface FrameHeader {
  windowBytes: number;
  contentBytes: number | undefined;
  hasChecksum: boolean;
}

/** Consumes the header of the frame at `src.offset`, its magic first. */
function readFrameHeader(src: ByteSource): FrameHeader {
  const frameStart = src.offset;
  const descriptor = src.read(5, 'zstd frame header')[4];
  if (descriptor & 0x08) throw new FormatError('zstd frame header has the reserved bit set', frameStart + 4);
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictIdSize = [0, 1, 2, 4][descriptor & 3];
  const fcsSize = [singleSegment, 2, 4, 8][fcsFlag];
  const fcsAt = (singleSegment ? 0 : 1) + dictIdSize;
  const rest = src.read(fcsAt + fcsSize, 'zstd frame header');
  const contentBytes = contentSizeField(rest.subarray(fcsAt), fcsSize);
  // A single segment's window is its content; a window descriptor's, 2^(10 + exponent) and eighths of it.
  const windowBytes = singleSegment ? contentBytes! : 2 ** (10 + (rest[0] >> 3)) * (1 + (rest[0] & 7) / 8);
  return { windowBytes, contentBytes, hasChecksum: ((descriptor >> 2) & 1) === 1 };
}

/** The frame content size field of `size` bytes at the start of `b`; one of 2 bytes counts from 256. */
function contentSizeField(b: Uint8Array, size: number): number | undefined {
  switch (size) {
    case 0:
      return undefined;
    case 1:
      return b[0];
    case 2:
      return readLE16(b, 0) + 256;
    case 4:
      return readLE32(b, 0);
    default:
      return readLE32(b, 0) + readLE32(b, 4) * 2 ** 32;
  }
}
