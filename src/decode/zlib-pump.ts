import type { Transform } from 'node:stream';
import { FormatError } from '../errors.js';
import { type ByteSource, freeNow } from './source.js';
import type { Sink } from './types.js';

const INPUT_CHUNK = 1 << 20;
/**
 * The output chunk size node:zlib's decompressors are made with: its default is 16 KiB, too
 * many calls (docs/design.md).
 */
export const OUTPUT_CHUNK = 1 << 20;
/**
 * The output chunk size of node:zlib's compressors (create, repack): their output comes three
 * to four times slower than the input they take, and a buffer is freed only once full, so a
 * smaller one stays resident for less (by hand, GNU time, 3 runs each, repack of the gzip image
 * into zstd: peak RSS 64.2–64.6 MB with 1 MiB, 63.7–63.8 with 256 KiB, in the same time).
 */
export const COMPRESSOR_OUTPUT_CHUNK = 256 << 10;
/**
 * Output chunks the engine may decode ahead of the sink before it pauses. One: two cost repack
 * of the gzip image into zstd 1 MB more peak RSS, whose sink waits for the compressor, and
 * made unpack no faster (by hand, GNU time, 5 runs each, into tmpfs: gzip 0.48–0.50 s both
 * ways; zstd in process 0.35–0.40 s with one, 0.39–0.46 with two).
 */
const READ_AHEAD = 1;

/**
 * Feeds a node:zlib decompression stream from `src` and passes its output to `sink`.
 * The engine decodes on libuv's threadpool while the sink works on this thread, up to
 * READ_AHEAD chunks ahead: no decoder thread of our own is needed for the overlap.
 * With `limit`, exactly that many input bytes are fed (the caller knows where the member ends):
 * as a function, it is asked each time the bytes it allowed are fed, with `src` where the
 * next would come from, and must leave `src` there (the caller finds the end as it goes).
 * Without it, input is fed until the engine stops taking it: zlib's `bytesWritten` counts what
 * the engine really consumed, so after the end `src` is moved back to the first unused byte.
 * Returns the number of input bytes consumed.
 */
export async function pumpZlib(
  src: ByteSource,
  engine: Transform & { bytesWritten: number },
  sink: Sink,
  format: string,
  limit: number | (() => number) = Infinity,
): Promise<number> {
  const start = src.offset;
  let failure: unknown;
  let sinkFailure: unknown;
  let ended = false;
  const waiting: Buffer[] = [];
  let wake: (() => void) | undefined;
  const nudge = (): void => {
    wake?.();
    wake = undefined;
  };
  const finished = new Promise<void>((resolve) => {
    const settle = (): void => {
      resolve();
      nudge();
    };
    engine.on('end', () => {
      ended = true;
      settle();
    });
    engine.on('error', (err) => {
      failure ??= err;
      settle();
    });
    // A destroyed engine (the sink failed) ends or errs no more.
    engine.on('close', settle);
  });
  // A chunk is a slice of zlib's output buffer, which zlib replaces once it is full (releaseOutputChunk).
  engine.on('data', (chunk: Buffer) => {
    waiting.push(chunk);
    if (waiting.length >= READ_AHEAD) engine.pause();
    nudge();
  });
  const drained = (async () => {
    for (;;) {
      const chunk = waiting.shift();
      if (chunk === undefined) {
        if (ended || failure !== undefined) return;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (engine.isPaused()) engine.resume();
      try {
        await sink(chunk);
      } catch (err) {
        failure = sinkFailure = err;
        engine.destroy();
        return;
      }
      releaseOutputChunk(chunk);
    }
  })();

  let fed = 0;
  let allowed = typeof limit === 'number' ? limit : 0;
  while (!failure && !ended) {
    if (fed === allowed && typeof limit === 'function') allowed = limit();
    const view = src.peek(1);
    const take = Math.min(view.length, INPUT_CHUNK, allowed - fed);
    if (take <= 0) {
      engine.end();
      break;
    }
    // No copy: the engine is done with the chunk when its callback runs, before the next peek
    // can reuse the source's buffer.
    const chunk = view.subarray(0, take);
    src.skip(take);
    fed += take;
    // An engine error never calls the write callback: `finished` settles then.
    await Promise.race([new Promise<void>((resolve) => engine.write(chunk, () => resolve())), finished]);
    // The engine consumed less than it was given: its stream ended inside this chunk.
    if (engine.bytesWritten < fed) {
      engine.end();
      break;
    }
  }
  await finished;
  await drained;
  if (sinkFailure) throw sinkFailure;
  if (failure) {
    const { code, message } = failure as NodeJS.ErrnoException;
    if (code === 'Z_BUF_ERROR') {
      throw new FormatError(`truncated ${format} stream: the input ends inside the compressed data`, src.offset);
    }
    throw new FormatError(`corrupt ${format} data: ${message}`, start + engine.bytesWritten);
  }
  const consumed = engine.bytesWritten;
  src.seek(start + consumed);
  return consumed;
}

/**
 * Frees the buffer of an engine's output chunk that reaches its end (the engine made with
 * `chunkSize`), once the chunk has been used, and every chunk before it: node:zlib has a new
 * one for its next output. Left to V8, such buffers are freed only by a collection, which comes
 * by what JavaScript allocates, not by buffer bytes: dozens pile up, each written on pages
 * fresh from the kernel.
 */
export function releaseOutputChunk(chunk: Buffer, chunkSize = OUTPUT_CHUNK): void {
  if (chunk.buffer.byteLength === chunkSize && chunk.byteOffset + chunk.length === chunkSize) freeNow(chunk.buffer);
}
