import { COMPRESSION_FORMATS } from '../decode/formats.js';
import { ByteSource } from '../decode/source.js';
import { FormatError } from '../errors.js';
import { CHUNK_SIZE, SLOTS, type WorkerJob, type WorkerMessage, type WorkerSetup } from './decode-thread.js';
const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');

/*
 * The decoder thread (see DecoderThread): decodes the members it is sent, one at a time, into
 * a fixed ring of shared chunks that the main thread reads in place: the ring bounds how far
 * the decoder runs ahead, and the main thread gets no buffer of its own per chunk.
 */
const { path, ring, free } = workerData as WorkerSetup;
const port = parentPort!;
const freeSlots = new Int32Array(free);
const src = ByteSource.open(path);
const post = (message: WorkerMessage): void => port.postMessage(message);

port.on('message', async ({ start, format }: WorkerJob) => {
  let slot = 0;
  let used = 0;
  let chunk = new Uint8Array(ring, 0, CHUNK_SIZE);
  const flush = (): void => {
    post({ kind: 'data', slot, length: used, offset: src.offset });
    // The main thread frees slots in the order they were posted, so the next one in the ring
    // is the one freed first.
    for (;;) {
      const n = Atomics.load(freeSlots, 0);
      if (n === 0) Atomics.wait(freeSlots, 0, 0);
      else if (Atomics.compareExchange(freeSlots, 0, n, n - 1) === n) break;
    }
    slot = (slot + 1) % SLOTS;
    chunk = new Uint8Array(ring, slot * CHUNK_SIZE, CHUNK_SIZE);
    used = 0;
  };
  try {
    src.seek(start);
    const decoder = COMPRESSION_FORMATS.find((f) => f.name === format)!;
    await decoder.decode(src, (data) => {
      for (let off = 0; off < data.length; ) {
        const take = Math.min(data.length - off, CHUNK_SIZE - used);
        chunk.set(data.subarray(off, off + take), used);
        used += take;
        off += take;
        if (used === CHUNK_SIZE) flush();
      }
    });
    // The last chunk needs no free slot after it: the next member starts over.
    if (used > 0) post({ kind: 'data', slot, length: used, offset: src.offset });
    post({ kind: 'end', offset: src.offset });
  } catch (err) {
    const e = err as Error;
    post({
      kind: 'error',
      message: e?.message ?? String(err),
      ...(err instanceof FormatError ? { offset: err.offset, where: err.where } : { stack: e?.stack }),
    });
  }
});
