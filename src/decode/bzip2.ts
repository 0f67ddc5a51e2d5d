import Bunzip from 'seek-bzip';
import { FormatError } from '../errors.js';
import type { ByteSource } from './source.js';
import type { Decoder, Sink } from './types.js';

/*
 * bzip2 through seek-bzip's block decoder, driven one block at a time the way its own
 * `Bunzip.decode` loop does (`_init_block` reads a block, `_read_bunzip` undoes the BWT into
 * the output stream and checks the block CRC), but over our ByteSource and with the output
 * pushed to the sink in chunks. Memory is one block (seek-bzip allocates 4 bytes per byte of
 * block size, at most 3.6 MB) plus one output chunk.
 *
 * One member is one stream: "BZh1".."BZh9", blocks, the end-of-stream marker and the combined
 * CRC, then padding bits to a byte boundary. seek-bzip's bit reader pulls a byte only when it
 * needs one of its bits, so after the stream CRC has been read exactly the stream's bytes have
 * been consumed; a following stream or zero padding is left for the caller.
 */

/** Output is pushed to the sink in chunks of this size. */
const CHUNK = 1 << 20;

/** seek-bzip's input stream over a ByteSource: bytes are consumed only as they are read. */
class SourceInput implements Bunzip.InputStream {
  private buf: Uint8Array;
  private pos = 0;
  private end: number;

  constructor(private readonly src: ByteSource) {
    this.buf = src.peek();
    this.end = this.buf.length;
  }

  /** Absolute offset of the next byte seek-bzip would read. */
  get offset(): number {
    return this.src.offset + this.pos;
  }

  readByte(): number {
    if (this.pos === this.end) this.refill();
    return this.buf[this.pos++];
  }

  read(buffer: Uint8Array, offset: number, length: number): number {
    for (let i = 0; i < length; i++) buffer[offset + i] = this.readByte();
    return length;
  }

  seek(): void {
    throw new Error('seek-bzip asked to seek, which decodeBzip2 never does');
  }

  /** Consumes, in the ByteSource, what seek-bzip has read. */
  commit(): void {
    this.src.skip(this.pos);
    this.pos = 0;
    this.buf = this.buf.subarray(0, 0);
    this.end = 0;
  }

  private refill(): void {
    this.commit();
    this.buf = this.src.peek();
    this.end = this.buf.length;
    // Throwing here (rather than returning -1 for EOF) stops seek-bzip at once.
    if (this.end === 0) throw new FormatError('truncated bzip2 stream', this.src.offset);
  }
}

/** seek-bzip's output stream: bytes go into a reusable chunk that is flushed to the sink. */
class ChunkOutput implements Bunzip.OutputStream {
  private readonly buf = new Uint8Array(CHUNK);
  private pos = 0;
  /** The error the sink threw, which must go through unchanged. */
  sinkError: unknown = undefined;

  constructor(private readonly sink: Sink) {}

  writeByte(byte: number): void {
    this.buf[this.pos++] = byte;
    if (this.pos === CHUNK) this.flush();
  }

  flush(): void {
    if (this.pos === 0) return;
    const n = this.pos;
    this.pos = 0;
    try {
      this.sink(this.buf.subarray(0, n));
    } catch (e) {
      this.sinkError = e;
      throw e;
    }
  }
}

export const decodeBzip2: Decoder = async (src, sink) => {
  const start = src.offset;
  const input = new SourceInput(src);
  const output = new ChunkOutput(sink);
  try {
    const bz = new Bunzip(input, output); // checks "BZh1".."BZh9"
    let block = 0;
    let blockAt = input.offset;
    while (bz._init_block()) {
      block++;
      try {
        bz._read_bunzip();
      } catch (e) {
        // a bad block CRC is only known after the block was read: name the block's start
        if (isSeekBzipError(e)) throw new FormatError(`bzip2 block ${block}: ${messageOf(e)}`, blockAt);
        throw e;
      }
      blockAt = input.offset;
    }
    const stored = bz.reader.read(32) >>> 0;
    if (stored !== bz.streamCRC >>> 0) {
      throw new FormatError(
        `bzip2 stream CRC mismatch: stored ${hex32(stored)}, computed ${hex32(bz.streamCRC >>> 0)}`,
        input.offset - 4,
      );
    }
    output.flush();
  } catch (e) {
    if (e instanceof FormatError || (output.sinkError !== undefined && e === output.sinkError)) throw e;
    if (isSeekBzipError(e) && input.offset === start + 4 && /magic|range/.test(e.message)) {
      throw new FormatError(`not a bzip2 stream: ${e.message}`, start);
    }
    // Anything else seek-bzip throws comes from bad data; name where reading had got to.
    throw new FormatError(`corrupt bzip2 data: ${messageOf(e)}`, Math.max(start, input.offset - 1));
  }
  input.commit();
};

function isSeekBzipError(e: unknown): e is Bunzip.BunzipError {
  return e instanceof TypeError && typeof (e as Bunzip.BunzipError).errorCode === 'number';
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}
