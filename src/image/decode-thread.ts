import { Worker } from 'node:worker_threads';
import type { CompressionName } from '../decode/formats.js';
import type { Sink } from '../decode/types.js';
import { FormatError } from '../errors.js';

export const CHUNK_SIZE = 1 << 20;
/** Chunks in the shared ring: how far the decoder may run ahead of the consumer. */
export const SLOTS = 4;

export interface WorkerSetup {
  path: string;
  /** SLOTS chunks of CHUNK_SIZE bytes. */
  ring: SharedArrayBuffer;
  /** One Int32: how many slots the worker may still fill. */
  free: SharedArrayBuffer;
}

export interface WorkerJob {
  start: number;
  format: CompressionName;
}

export type WorkerMessage =
  | { kind: 'data'; slot: number; length: number; offset: number }
  | { kind: 'end'; offset: number }
  | { kind: 'error'; message: string; offset?: number; where?: string; stack?: string };

/**
 * Decodes the compressed members of one image in a worker thread, so that decompression
 * overlaps with parsing and file writing on this thread, as `zstd -d | cpio -i` overlaps in a
 * shell. One worker serves every member of the walk: starting one costs about 30 ms.
 */
export class DecoderThread {
  private worker: Worker | undefined;
  private readonly ring = new SharedArrayBuffer(SLOTS * CHUNK_SIZE);
  private readonly free = new SharedArrayBuffer(4);
  private readonly freeSlots = new Int32Array(this.free);

  constructor(private readonly path: string) {}

  /**
   * Decodes the member of `format` at `start`, passing its output to `sink` here. Resolves
   * with the offset just after the member. `progress` hears the compressed offset reached.
   */
  decode(start: number, format: CompressionName, sink: Sink, progress?: (offset: number) => void): Promise<number> {
    // The worker starts each member filling slot 0.
    this.freeSlots[0] = SLOTS - 1;
    const worker = (this.worker ??= this.spawn());
    // Only a worker with a job keeps the process alive.
    worker.ref();
    return new Promise<number>((resolve, reject) => {
      const done = (fn: () => void): void => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        worker.unref();
        fn();
      };
      const onMessage = (message: WorkerMessage): void => {
        switch (message.kind) {
          case 'data':
            try {
              sink(new Uint8Array(this.ring, message.slot * CHUNK_SIZE, message.length));
            } catch (err) {
              // The worker may be waiting for a slot: it cannot be told to stop, only ended.
              this.close();
              done(() => reject(err));
              return;
            }
            Atomics.add(this.freeSlots, 0, 1);
            Atomics.notify(this.freeSlots, 0);
            progress?.(message.offset);
            break;
          case 'end':
            done(() => resolve(message.offset));
            break;
          case 'error':
            done(() => reject(message.offset === undefined
              ? Object.assign(new Error(message.message), { stack: message.stack })
              : new FormatError(message.message, message.offset, message.where)));
            break;
        }
      };
      const onError = (err: Error): void => {
        this.worker = undefined;
        done(() => reject(err));
      };
      const onExit = (code: number): void => {
        this.worker = undefined;
        done(() => reject(new Error(`the ${format} decoder thread stopped (exit code ${code})`)));
      };
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      worker.postMessage({ start, format } satisfies WorkerJob);
    });
  }

  close(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private spawn(): Worker {
    const worker = new Worker(new URL('./decode-worker.js', import.meta.url), {
      workerData: { path: this.path, ring: this.ring, free: this.free } satisfies WorkerSetup,
      // Small heaps make the worker collect garbage early (zlib's output chunks) instead of
      // growing: measured 157 → 100 MB peak RSS on a zstd image.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    return worker;
  }
}
