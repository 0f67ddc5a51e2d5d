import { Worker } from 'node:worker_threads';
import type { CompressionName } from '../decode/formats.js';
import type { Sink } from '../decode/types.js';
import { FormatError } from '../errors.js';

export const CHUNK_SIZE = 1 << 20;
/** Chunks in the shared ring: how far the decoder may run ahead of the consumer. */
export const SLOTS = 4;

export interface WorkerJob {
  path: string;
  start: number;
  format: CompressionName;
  /** SLOTS chunks of CHUNK_SIZE bytes. */
  ring: SharedArrayBuffer;
  /** One Int32: how many slots the worker may still fill. */
  free: SharedArrayBuffer;
}

export type WorkerMessage =
  | { kind: 'data'; slot: number; length: number; offset: number }
  | { kind: 'end'; offset: number }
  | { kind: 'error'; message: string; offset?: number; where?: string; stack?: string };

/**
 * Decodes the member of `format` at `start` of the file `path` in a worker thread, passing its
 * output to `sink` on this thread. Resolves with the offset just after the member.
 * `progress` hears the compressed offset the worker has reached.
 */
export function decodeInThread(
  path: string,
  start: number,
  format: CompressionName,
  sink: Sink,
  progress?: (offset: number) => void,
): Promise<number> {
  const ring = new SharedArrayBuffer(SLOTS * CHUNK_SIZE);
  const free = new SharedArrayBuffer(4);
  const freeSlots = new Int32Array(free);
  // The worker starts out filling slot 0.
  freeSlots[0] = SLOTS - 1;
  const worker = new Worker(new URL('./decode-worker.js', import.meta.url), {
    workerData: { path, start, format, ring, free } satisfies WorkerJob,
    // Small heaps make the worker collect garbage early (zlib's output chunks) instead of
    // growing: measured 157 → 100 MB peak RSS on a zstd image.
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
  });
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on('message', (message: WorkerMessage) => {
      if (settled) return;
      switch (message.kind) {
        case 'data':
          try {
            sink(new Uint8Array(ring, message.slot * CHUNK_SIZE, message.length));
          } catch (err) {
            finish(() => reject(err));
            return;
          }
          Atomics.add(freeSlots, 0, 1);
          Atomics.notify(freeSlots, 0);
          progress?.(message.offset);
          break;
        case 'end':
          finish(() => resolve(message.offset));
          break;
        case 'error':
          finish(() => reject(message.offset === undefined
            ? Object.assign(new Error(message.message), { stack: message.stack })
            : new FormatError(message.message, message.offset, message.where)));
          break;
      }
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new Error(`the ${format} decoder thread stopped (exit code ${code})`))));
  });
}
