import type { Transform } from 'node:stream';
import { FormatError } from '../errors.js';
import { type ByteSource, freeNow, outOfHeap } from './source.js';
import { eventLoopTurn } from './turn.js';
import type { DecodeOptions, Sink } from './types.js';

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
 * What of a node:zlib stream this drives: its native handle, called directly, and the two
 * counts the handle leaves after a call (output room left, input left). Node's own one-shot
 * calls (`zlib.*Sync`) use `writeSync` so; its stream uses `write`, which runs the engine on
 * libuv's threadpool and then calls the stream's callback, which calls the handle's `cb` and
 * nothing else once the stream says it is destroyed. No public API decodes into a buffer of
 * the caller's.
 */
interface ZlibStreamInternals {
  _handle: {
    writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
    write(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
    cb: () => void;
    onerror: (message: string, errno: number, code: string) => void;
    close(): void;
  } | null;
  _writeState: Uint32Array;
  _defaultFlushFlag: number;
  _finishFlushFlag: number;
}

/**
 * Decodes from `src` with a node:zlib decompression stream's engine into buffers of its own,
 * and passes each chunk to `sink` (which, by the Sink contract, is done with it when it returns
 * or its promise settles). node:zlib's own stream decodes into a new buffer per chunk, whose
 * fresh pages, with the stream's machinery, took twice the engine's own time (docs/performance.md,
 * zstd).
 *
 * By default the engine runs in this thread, into one buffer. With `overlap`, on a machine
 * that gives this process more than one core, it runs on libuv's threadpool into the other of
 * two buffers while the sink takes the last chunk: for a sink that works long on each chunk
 * (writes it out). For one that does little, or on one core, the hops between threads cost
 * more than the overlap gains (docs/performance.md).
 *
 * With `limit`, exactly that many input bytes are fed (the caller knows where the member ends):
 * as a function, it is asked each time the bytes it allowed are fed and the engine holds no
 * output back, with `src` where the next would come from, and must leave `src` there (the
 * caller finds the end as it goes); should it throw, the sink has had every chunk first.
 * Without it, input is fed until the engine stops taking it, at its stream's end, and `src`
 * is left at the first byte it did not take.
 * Returns the number of input bytes consumed.
 */
export async function pumpZlib(
  src: ByteSource,
  stream: Transform,
  sink: Sink,
  format: string,
  { limit = Infinity, overlap: wanted = false, saveMemory = false }: { limit?: number | (() => number) } & DecodeOptions = {},
): Promise<number> {
  const { _handle: handle, _writeState: state, _defaultFlushFlag: more, _finishFlushFlag: finish } = stream as unknown as ZlibStreamInternals;
  if (typeof handle?.writeSync !== 'function' || typeof handle.write !== 'function' || !(state instanceof Uint32Array)) {
    throw new Error(`this Node's node:zlib has no engine to decode ${format} with`);
  }
  const overlap = wanted && process.getBuiltinModule('node:os').availableParallelism() > 1;
  // The stream is never used: its callback, told so, only calls `cb`.
  Object.defineProperty(stream, 'destroyed', { value: true });
  let failed: Error | undefined;
  /** Settles the engine's call on the threadpool, whichever way it ended. */
  let settleCall: (() => void) | undefined;
  // An engine error comes here, in place of `cb`: during `writeSync`, or after a `write`.
  handle.onerror = (message, _errno, code) => {
    failed = Object.assign(new Error(message), { code });
    settleCall?.();
  };
  handle.cb = () => settleCall?.();
  // For a sink that saves memory, smaller buffers: two halves where they overlap (diff's real
  // gzip image took 1.3 times as long without the overlap, 1.04 with quarters, for no memory
  // that showed: bench/alternate.sh, by hand), else a quarter.
  const chunkBytes = saveMemory ? OUTPUT_CHUNK / (overlap ? 2 : 4) : OUTPUT_CHUNK;
  const out = saveMemory ? outOfHeap : Buffer.allocUnsafe;
  const outs = overlap ? [out(chunkBytes), out(chunkBytes)] : [out(chunkBytes)];
  let which = 0;
  /** A chunk the sink has yet to take. */
  let pending: Uint8Array | undefined;
  const deliver = async (): Promise<void> => {
    if (!pending) return;
    const chunk = pending;
    pending = undefined;
    const taken = sink(chunk);
    if (taken) await taken;
  };
  /** The engine's call running on the threadpool, with `overlap`. */
  let running: Promise<void> | undefined;
  const start = src.offset;
  let fed = 0;
  let allowed = typeof limit === 'number' ? limit : 0;
  /** Output room the engine's last call left: none, and it may hold back more. */
  let roomLeft = chunkBytes;
  try {
    for (;;) {
      // Asked only once the engine has given all it holds: the sink has every byte before the limit's error.
      if (fed === allowed && typeof limit === 'function' && roomLeft > 0) {
        try {
          allowed = limit();
        } catch (err) {
          await deliver();
          throw err;
        }
      }
      const view = src.peek(1);
      const take = Math.min(view.length, INPUT_CHUNK, allowed - fed);
      // With no input left to give and nothing held back, the engine is told the stream ends: it fails if its stream does not.
      const finishing = take === 0 && roomLeft > 0;
      const out = outs[which];
      if (overlap) {
        running = new Promise<void>((resolve) => (settleCall = resolve));
        handle.write(finishing ? finish : more, view, 0, take, out, 0, chunkBytes);
        await deliver();
        await running;
        running = undefined;
      } else {
        handle.writeSync(finishing ? finish : more, view, 0, take, out, 0, chunkBytes);
      }
      if (failed) throw engineFailure(failed, format, start + fed, src.offset);
      roomLeft = state[0];
      const inputLeft = state[1];
      src.skip(take - inputLeft);
      fed += take - inputLeft;
      if (roomLeft < chunkBytes) {
        pending = out.subarray(0, chunkBytes - roomLeft);
        which = (which + 1) % outs.length;
      }
      if (!overlap) {
        await deliver();
        const turn = eventLoopTurn();
        if (turn) await turn;
      }
      // A full buffer may hold back more output: the engine is called again before anything ends.
      if (roomLeft === 0) continue;
      // Room left with input not taken, or nothing left to give: the engine's stream has ended.
      if (finishing || inputLeft > 0) {
        await deliver();
        return fed;
      }
    }
  } finally {
    // The engine may still be writing into a buffer, or reading `src`'s, when the sink failed.
    if (running) await running;
    handle.close();
    for (const out of outs) freeNow(out.buffer);
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
