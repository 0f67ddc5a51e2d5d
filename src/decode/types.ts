import type { ByteSource } from './source.js';

/**
 * Receives decompressed bytes in order. The chunk is valid until the call returns, or until the
 * promise it returns settles: a sink that keeps bytes longer must copy them. A decoder produces
 * nothing more until then, so memory stays bounded with no queue between the two: the cpio
 * parser takes each chunk as it comes, and a consumer that takes its time (repack's
 * compressor) returns a promise. A sink may throw or reject (bad cpio data, size limit): the
 * decoder must let that error through unchanged.
 */
export type Sink = (chunk: Uint8Array) => void | Promise<void>;

/**
 * Decodes one compressed member that starts at `src.offset` (at its magic), pushing its output
 * to `sink`. It must verify every checksum the format carries, leave `src.offset` exactly after
 * the member's last byte (no trailing zero padding, nothing of the next member), and throw a
 * FormatError naming the absolute file offset when the input is bad or truncated. It runs on
 * its thread's event loop: between blocks it awaits `eventLoopTurn()` (turn.ts), so that a
 * signal is handled while it works.
 */
export type Decoder = (src: ByteSource, sink: Sink, options?: DecodeOptions) => Promise<void>;

export interface DecodeOptions {
  /**
   * The sink works long on each chunk (writes it out): a decoder that can decode the next chunk
   * on another thread meanwhile does (node:zlib's, on libuv's threadpool), where this process
   * has more than one core.
   */
  overlap?: boolean;
  /**
   * The sink holds much memory of its own (a model of a tree): node:zlib's engine decodes into
   * smaller buffers, two of half the size where they overlap, else one of a quarter.
   */
  saveMemory?: boolean;
}
