import type { ByteSource } from './source.js';

/**
 * Receives decompressed bytes in order. The chunk is only valid during the call: a sink that
 * keeps bytes must copy them. It is synchronous so that a decoder's output is consumed before
 * the decoder produces more, which keeps memory bounded without any other backpressure. A sink
 * may throw (bad cpio data, size limit): the decoder must let that error through unchanged.
 */
export type Sink = (chunk: Uint8Array) => void;

/**
 * Decodes one compressed member that starts at `src.offset` (at its magic), pushing its output
 * to `sink`. It must verify every checksum the format carries, leave `src.offset` exactly after
 * the member's last byte (no trailing zero padding, nothing of the next member), and throw a
 * FormatError naming the absolute file offset when the input is bad or truncated. It runs on
 * its thread's event loop: between blocks it awaits `eventLoopTurn()` (turn.ts), so that a
 * signal is handled while it works.
 */
export type Decoder = (src: ByteSource, sink: Sink) => Promise<void>;
