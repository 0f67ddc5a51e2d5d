import type { Transform } from 'node:stream';
import { FormatError } from '../errors.js';
import type { ByteSource } from './source.js';
import type { Sink } from './types.js';

const INPUT_CHUNK = 1 << 20;
/** Output held back from the sink at most: the engine pauses beyond it. */
const QUEUE_LIMIT = 4 << 20;

/**
 * Feeds a node:zlib decompression stream from `src` and passes its output to `sink`.
 * With `limit`, exactly that many input bytes are fed (the caller knows where the member ends).
 * Without it, input is fed until the engine stops taking it: zlib's `bytesWritten` counts what
 * the engine really consumed, so after the end `src` is moved back to the first unused byte.
 *
 * Output reaches the sink one tick after the engine emits it, so that the engine's next chunk
 * is decompressed on the thread pool while the sink writes this one, as a shell pipeline
 * overlaps `zstd -d` and `cpio`. Returns the number of input bytes consumed.
 */
export async function pumpZlib(
  src: ByteSource,
  engine: Transform & { bytesWritten: number },
  sink: Sink,
  format: string,
  limit = Infinity,
): Promise<number> {
  const start = src.offset;
  let engineFailure: unknown;
  let sinkFailure: unknown;
  let ended = false;
  const queue: Buffer[] = [];
  let queued = 0;
  let draining = false;
  let settle!: () => void;
  const finished = new Promise<void>((resolve) => (settle = resolve));

  const drain = (): void => {
    draining = false;
    while (queue.length > 0 && !sinkFailure) {
      const chunk = queue.shift()!;
      queued -= chunk.length;
      try {
        sink(chunk);
      } catch (err) {
        sinkFailure = err;
        engine.destroy();
        settle();
        return;
      }
    }
    if (engine.isPaused()) engine.resume();
    if (ended) settle();
  };
  engine.on('data', (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= QUEUE_LIMIT) engine.pause();
    if (!draining) {
      draining = true;
      setImmediate(drain);
    }
  });
  engine.on('end', () => {
    ended = true;
    if (!draining) settle();
  });
  engine.on('error', (err) => {
    engineFailure ??= err;
    settle();
  });

  let fed = 0;
  while (!engineFailure && !sinkFailure && !ended) {
    const view = src.peek(1);
    const take = Math.min(view.length, INPUT_CHUNK, limit - fed);
    if (take <= 0) {
      engine.end();
      break;
    }
    const chunk = Buffer.from(view.subarray(0, take));
    src.skip(take);
    fed += take;
    await new Promise<void>((resolve) => engine.write(chunk, () => resolve()));
    // The engine consumed less than it was given: its stream ended inside this chunk.
    if (engine.bytesWritten < fed) {
      engine.end();
      break;
    }
  }
  await finished;
  if (sinkFailure) throw sinkFailure;
  if (engineFailure) {
    const { code, message } = engineFailure as NodeJS.ErrnoException;
    if (code === 'Z_BUF_ERROR') {
      throw new FormatError(`truncated ${format} stream: the input ends inside the compressed data`, src.offset);
    }
    throw new FormatError(`corrupt ${format} data: ${message}`, start + engine.bytesWritten);
  }
  const consumed = engine.bytesWritten;
  src.seek(start + consumed);
  return consumed;
}
