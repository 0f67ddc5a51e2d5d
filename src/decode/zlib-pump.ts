import type { Transform } from 'node:stream';
import { FormatError } from '../errors.js';
import { type ByteSource, freeNow } from './source.js';
import { eventLoopTurn } from './turn.js';
import type { Sink } from './types.js';

const INPUT_CHUNK = 1 << 20;
/** The output buffer each decode reuses for every chunk it gives the sink. */
const OUTPUT_CHUNK = 1 << 20;
/**
 * The output chunk size of node:zlib's compressors (create, repack): their output comes three
 * to four times slower than the input they take, and a buffer is freed only once full, so a
 * smaller one stays resident for less (by hand, GNU time, 3 runs each, repack of the gzip image
 * into zstd: peak RSS 64.2–64.6 MB with 1 MiB, 63.7–63.8 with 256 KiB, in the same time).
 */
export const COMPRESSOR_OUTPUT_CHUNK = 256 << 10;

/**
 * What of a node:zlib stream this drives: its native handle and the two counts the handle
 * leaves after a call (output room left, input left). Node's own one-shot calls
 * (`zlib.*Sync`) use them the same way; no public API decodes a stream synchronously into a
 * buffer of the caller's.
 */
interface ZlibEngine {
  _handle: {
    writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  } | null;
  _writeState: Uint32Array;
  _defaultFlushFlag: number;
  _finishFlushFlag: number;
}

/**
 * Decodes from `src` with a node:zlib decompression stream's engine, synchronously in this
 * thread, into one output buffer that every chunk reuses, and passes each chunk to `sink`
 * (which, by the Sink contract, is done with it when it returns or its promise settles).
 * node:zlib's own stream decodes on libuv's threadpool into a new buffer per chunk: the hops
 * between threads and the fresh pages took twice the engine's own time (docs/performance.md, zstd).
 * With `limit`, exactly that many input bytes are fed (the caller knows where the member ends):
 * as a function, it is asked each time the bytes it allowed are fed, with `src` where the
 * next would come from, and must leave `src` there (the caller finds the end as it goes).
 * Without it, input is fed until the engine stops taking it, at its stream's end, and `src`
 * is left at the first byte it did not take.
 * Returns the number of input bytes consumed.
 */
export async function pumpZlib(
  src: ByteSource,
  stream: Transform,
  sink: Sink,
  format: string,
  limit: number | (() => number) = Infinity,
): Promise<number> {
  const engine = stream as unknown as ZlibEngine;
  const handle = engine._handle;
  const state = engine._writeState;
  if (typeof handle?.writeSync !== 'function' || !(state instanceof Uint32Array)) {
    throw new Error(`this Node's node:zlib has no synchronous engine to decode ${format} with`);
  }
  // An engine error is read from `errored` as the call returns; the stream emits it too, later.
  stream.on('error', () => {});
  const out = Buffer.allocUnsafe(OUTPUT_CHUNK);
  const start = src.offset;
  let fed = 0;
  let allowed = typeof limit === 'number' ? limit : 0;
  try {
    for (;;) {
      if (fed === allowed && typeof limit === 'function') allowed = limit();
      const view = src.peek(1);
      const take = Math.min(view.length, INPUT_CHUNK, allowed - fed);
      // With no input left to give, the engine is told the stream ends: it fails if its stream does not.
      const finishing = take === 0;
      handle.writeSync(finishing ? engine._finishFlushFlag : engine._defaultFlushFlag, view, 0, take, out, 0, OUTPUT_CHUNK);
      if (stream.errored) throw engineFailure(stream.errored, format, start + fed, src.offset);
      const roomLeft = state[0];
      const inputLeft = state[1];
      src.skip(take - inputLeft);
      fed += take - inputLeft;
      if (roomLeft < OUTPUT_CHUNK) {
        const taken = sink(out.subarray(0, OUTPUT_CHUNK - roomLeft));
        if (taken) await taken;
      }
      const turn = eventLoopTurn();
      if (turn) await turn;
      // A full buffer may hold back more output: the engine is called again before anything ends.
      if (roomLeft === 0) continue;
      // Room left with input not taken, or nothing left to give: the engine's stream has ended.
      if (finishing || inputLeft > 0) return fed;
    }
  } finally {
    stream.destroy();
    freeNow(out.buffer);
  }
}

function engineFailure(err: Error, format: string, at: number, inputEnd: number): FormatError {
  const { code, message } = err as NodeJS.ErrnoException;
  if (code === 'Z_BUF_ERROR') {
    return new FormatError(`truncated ${format} stream: the input ends inside the compressed data`, inputEnd);
  }
  return new FormatError(`corrupt ${format} data: ${message}`, at);
}

/**
 * Frees the buffer of a compressor's output chunk that reaches its end, once the chunk has been
 * used, and every chunk before it: node:zlib has a new one for its next output. Left to V8,
 * such buffers are freed only by a collection, which comes by what JavaScript allocates, not by
 * buffer bytes: dozens pile up, each written on pages fresh from the kernel.
 */
export function releaseOutputChunk(chunk: Buffer): void {
  const size = COMPRESSOR_OUTPUT_CHUNK;
  if (chunk.buffer.byteLength === size && chunk.byteOffset + chunk.length === size) freeNow(chunk.buffer);
}
