import { FormatError } from '../errors.js';
import { readLE16, readLE24, readLE32 } from './bytes.js';
import type { ByteSource } from './source.js';
import type { Decoder } from './types.js';
import { pumpZlib } from './zlib-pump.js';

const ZSTD_MAGIC = 0xfd2fb528;
const MAX_BLOCK = 128 * 1024;
/** 2^27 = 128 MiB, what `zstd --long` uses and zstd's own default decoding limit. */
const WINDOW_LOG_MAX = 27;
/** How far the frame's walk runs ahead of the engine: a stream keeps this much to go back over. */
const WALK_AHEAD = 1 << 20;

/**
 * One zstd frame: the kernel's unzstd stops after a frame, and the next frame is a new member
 * to it. The engine does not report how much input it used, so the frame is walked here
 * (headers and block sizes only), a step ahead of the engine, and exactly its bytes are fed to
 * node:zlib: the walk never runs more than WALK_AHEAD and a block ahead of what was fed.
 */
export const decodeZstd: Decoder = async (src, sink, { overlap } = {}) => {
  const start = src.offset;
  expectFrame(src);
  // The walk reads a block and its header past WALK_AHEAD before it goes back to what was fed.
  src.keepBehind(WALK_AHEAD + 2 * MAX_BLOCK);
  try {
    const blocks = frameBlocks(src);
    let walked = start;
    let done = false;
    // Here, not at the top: zstdMemberEnd runs before a co-process that needs no node:zlib.
    const { constants, createZstdDecompress } = process.getBuiltinModule('node:zlib');
    const engine = createZstdDecompress({ params: { [constants.ZSTD_d_windowLogMax]: WINDOW_LOG_MAX } });
    const limit = (): number => {
      const fed = src.offset;
      src.seek(walked);
      while (!done && src.offset - fed < WALK_AHEAD) done = blocks.next().done === true;
      walked = src.offset;
      src.seek(fed);
      return walked - start;
    };
    await pumpZlib(src, engine, sink, 'zstd', { limit, overlap });
    if (src.offset !== walked) throw new FormatError('zstd frames end before their last block', src.offset);
  } finally {
    src.resetBehind();
  }
};

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

/** Where the zstd frame at `src.offset` ends, from its headers and block sizes alone. */
export function zstdMemberEnd(src: ByteSource): number {
  expectFrame(src);
  for (const _ of frameBlocks(src));
  return src.offset;
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

/** Walks the frame at `src.offset`, one step per block, the header with the first, the checksum with the last. */
function* frameBlocks(src: ByteSource): Generator<void> {
  const { hasChecksum } = readFrameHeader(src);
  for (;;) {
    const blockAt = src.offset;
    const header = readLE24(src.read(3, 'zstd block header'), 0);
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw new FormatError('zstd block of the reserved type', blockAt);
    if (size > MAX_BLOCK) throw new FormatError(`zstd block of ${size} bytes exceeds 128 KiB`, blockAt);
    src.skipExactly(type === 1 ? 1 : size, 'zstd block');
    if (last) break;
    yield;
  }
  if (hasChecksum) src.read(4, 'zstd frame checksum');
}
