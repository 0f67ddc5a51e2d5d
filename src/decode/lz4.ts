import { FormatError } from '../errors.js';
import { hex, hexBytes, readLE32 } from './bytes.js';
import { type Lz4BlockDecoder, withLz4Blocks, xxh32 } from './lz4-block.js';
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
/** LZ4 offsets are 16-bit: a match reaches back at most this far. */
const WINDOW = 64 * 1024;
/** Output is pushed to the sink whenever this much is pending (see BlockOutput). */
const ROOM = 1 << 20;
/**
 * A block is read this much at a time, a part decoded before the next is read: a legacy block,
 * and a frame's without a block checksum (lz4's default), which need not be whole to be checked.
 */
const INPUT_PART = 256 << 10;

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
  await withLz4Blocks(INPUT_PART, WINDOW + ROOM, async (blocks) => {
    const output = new BlockOutput(blocks, sink, false);
    for (const { at, size } of legacyBlocks(src)) {
      await output.decode(size, LEGACY_BLOCK, true, at, (target) => src.readTo(target, 'lz4 legacy block', { start: at, size }));
      await eventLoopTurn();
    }
    await output.flush();
  });
}

/**
 * A legacy stream's blocks: the file offset and size of each. The caller reads or skips each
 * block's bytes, checking they are there, before asking for the next.
 */
function* legacyBlocks(src: ByteSource): Generator<{ at: number; size: number }> {
  src.skip(4); // the magic
  for (;;) {
    const at = src.offset;
    const view = src.peek(4);
    // No end marker: as the kernel's unlz4, EOF, a short tail or a zero size ends the stream,
    // and those bytes belong to whatever follows; any other word is a block's size.
    if (view.length < 4) return;
    const size = readLE32(view, 0);
    if (size === LEGACY_MAGIC) {
      src.skip(4); // concatenated `lz4 -l` outputs: the kernel carries on
      continue;
    }
    if (size === 0) return;
    if (size > LEGACY_BOUND) {
      throw new FormatError(`lz4 legacy block size ${size} (bytes ${hexBytes(view.subarray(0, 4))}) is over LZ4_COMPRESSBOUND(8 MiB): the kernel's unlz4 ends a stream only at a zero word, the magic or the image's last 3 bytes`, at);
    }
    src.skip(4);
    yield { at: at + 4, size };
  }
}

/** Where the lz4 member at `src.offset` ends, from its headers and block sizes alone. */
export function lz4MemberEnd(src: ByteSource): number {
  const magic = readMagic(src);
  if (magic === LEGACY_MAGIC) {
    for (const { size } of legacyBlocks(src)) src.skipExactly(size, 'lz4 legacy block');
  } else {
    const frame = readFrameHeader(src);
    for (let block = nextFrameBlock(src, frame); block; block = nextFrameBlock(src, frame)) src.skipExactly(block.need, 'lz4 frame block');
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
  const hc = (xxh32(desc.subarray(0, descLen)) >>> 8) & 0xff;
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
 * checksum included); undefined at the EndMark.
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
  return { at, size, stored, need: size + (frame.blockChecksum ? 4 : 0) };
}

async function decodeFrame(src: ByteSource, sink: Sink): Promise<void> {
  const frame = readFrameHeader(src);
  // A block checksum is checked before the block decodes: its block is read whole (4 MiB at most).
  const input = frame.blockChecksum ? frame.blockMax + 4 : Math.min(frame.blockMax, INPUT_PART);
  await withLz4Blocks(input, WINDOW + ROOM, (blocks) => decodeFrameBlocks(src, sink, frame, blocks));
}

/** The frame's blocks, after its header, to its end and content checksum. */
async function decodeFrameBlocks(src: ByteSource, sink: Sink, frame: FrameHeader, blocks: Lz4BlockDecoder): Promise<void> {
  const { independent, blockChecksum, contentChecksum, blockMax, contentSize } = frame;
  const { input } = blocks;
  const output = new BlockOutput(blocks, sink, contentChecksum);
  for (let block = nextFrameBlock(src, frame); block; block = nextFrameBlock(src, frame)) {
    const { at, size, stored, need } = block;
    if (blockChecksum) {
      src.readTo(input.subarray(0, need), 'lz4 frame block');
      if (readLE32(input, size) !== blocks.checksum(input, 0, size)) {
        throw new FormatError(`lz4 block checksum mismatch (block at byte ${at})`, at + 4 + size);
      }
      let copied = 0;
      const copy = (target: Uint8Array) => {
        target.set(input.subarray(copied, copied + target.length));
        copied += target.length;
      };
      if (stored) await output.store(size, copy);
      else await output.decode(size, blockMax, independent, at + 4);
    } else {
      const read = (target: Uint8Array) => src.readTo(target, 'lz4 frame block', { start: at + 4, size });
      if (stored) await output.store(size, read);
      else await output.decode(size, blockMax, independent, at + 4, read);
    }
    if (contentSize >= 0 && output.total > contentSize) {
      throw new FormatError(`lz4 frame holds more than its declared content size of ${contentSize}`, at);
    }
    await eventLoopTurn();
  }
  await output.flush();
  if (contentSize >= 0 && output.total !== contentSize) {
    throw new FormatError(`lz4 frame content is ${output.total} bytes, its header declares ${contentSize}`, src.offset - 4);
  }
  if (contentChecksum) {
    const at = src.offset;
    if (readLE32(src.read(4, 'lz4 content checksum'), 0) !== blocks.contentHash()) {
      throw new FormatError('lz4 frame content checksum mismatch', at);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Output

/**
 * A stream's output, in its decoder's output area: the WINDOW bytes a match may reach back to,
 * then up to ROOM bytes not yet pushed. A block decodes into it in as many runs as the room
 * needs: when it is full, its output is pushed to the sink and only the history kept.
 */
class BlockOutput {
  /** How many bytes the stream has decoded. */
  total = 0;
  /** The end of the output in the area. */
  private op = 0;
  /** The start of the output not yet pushed. */
  private flushed = 0;

  constructor(
    private readonly blocks: Lz4BlockDecoder,
    private readonly sink: Sink,
    /** Whether the content is hashed as it is pushed (blocks.contentHash). */
    private readonly hashed: boolean,
  ) {
    if (hashed) blocks.startContentHash();
  }

  /**
   * Decodes the block of `size` bytes at file offset `at`, which may give at most `limit` bytes
   * and, when `independent`, refers back only into itself. `read` gives its bytes a part at a
   * time; without it, they are all in `input`.
   */
  async decode(size: number, limit: number, independent: boolean, at: number, read?: (target: Uint8Array) => void): Promise<void> {
    const { blocks } = this;
    const first = this.total;
    blocks.start(size, limit, at, read ? 0 : size);
    if (read) blocks.refill(read);
    for (;;) {
      const wstart = independent ? Math.max(0, this.op - (this.total - first)) : 0;
      const op = blocks.run(this.op, blocks.output.length, wstart);
      this.total += op - this.op;
      this.op = op;
      if (blocks.done) return;
      if (!blocks.needsInput) await this.makeRoom();
      else if (read) blocks.refill(read);
      else throw new Error('BlockOutput.decode: a whole block needs more input');
    }
  }

  /** Copies a stored block of `size` bytes, which `fill` gives a part at a time, in order. */
  async store(size: number, fill: (target: Uint8Array) => void): Promise<void> {
    const { output } = this.blocks;
    for (let done = 0; done < size; ) {
      if (this.op === output.length) await this.makeRoom();
      const k = Math.min(size - done, output.length - this.op);
      fill(output.subarray(this.op, this.op + k));
      this.op += k;
      this.total += k;
      done += k;
    }
  }

  /** Pushes the output not yet pushed. */
  async flush(): Promise<void> {
    if (this.op === this.flushed) return;
    if (this.hashed) this.blocks.addToContentHash(this.flushed, this.op);
    await this.sink(this.blocks.output.subarray(this.flushed, this.op));
    this.flushed = this.op;
  }

  /** Pushes the output and keeps only the history before the end, at the area's start. */
  private async makeRoom(): Promise<void> {
    await this.flush();
    this.blocks.output.copyWithin(0, this.op - WINDOW, this.op);
    this.op = this.flushed = WINDOW;
  }
}
