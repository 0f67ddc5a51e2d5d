import { parentPort, workerData } from 'node:worker_threads';
import { COMPRESSION_FORMATS } from '../decode/formats.js';
import { ByteSource } from '../decode/source.js';
import { FormatError } from '../errors.js';
import { CHUNK_SIZE, SLOTS, type WorkerJob, type WorkerMessage } from './decode-thread.js';

/*
 * Decodes one compressed member in a worker thread, so that decompression overlaps with the
 * main thread's parsing and file writing, as `zstd -d | cpio -i` overlaps in a shell. Output
 * goes through a fixed ring of shared chunks: nothing is allocated per chunk on either side.
 */
const { path, start, format, ring, free } = workerData as WorkerJob;
const port = parentPort!;
const freeSlots = new Int32Array(free);
const post = (message: WorkerMessage): void => port.postMessage(message);

let slot = 0;
let chunk = new Uint8Array(ring, 0, CHUNK_SIZE);
let used = 0;
let src: ByteSource | undefined;

function flush(): void {
  if (used === 0) return;
  post({ kind: 'data', slot, length: used, offset: src!.offset });
  // The main thread frees slots in the order they were posted, so the next one in the ring is
  // the one to be freed first.
  for (;;) {
    const free = Atomics.load(freeSlots, 0);
    if (free === 0) Atomics.wait(freeSlots, 0, 0);
    else if (Atomics.compareExchange(freeSlots, 0, free, free - 1) === free) break;
  }
  slot = (slot + 1) % SLOTS;
  chunk = new Uint8Array(ring, slot * CHUNK_SIZE, CHUNK_SIZE);
  used = 0;
}

try {
  const decoder = COMPRESSION_FORMATS.find((f) => f.name === format)!;
  src = ByteSource.open(path);
  src.seek(start);
  await decoder.decode(src, (data) => {
    for (let off = 0; off < data.length; ) {
      const take = Math.min(data.length - off, CHUNK_SIZE - used);
      chunk.set(data.subarray(off, off + take), used);
      used += take;
      off += take;
      if (used === CHUNK_SIZE) flush();
    }
  });
  flush();
  post({ kind: 'end', offset: src.offset });
} catch (err) {
  const e = err as Error;
  post({
    kind: 'error',
    message: e?.message ?? String(err),
    ...(err instanceof FormatError ? { offset: err.offset, where: err.where } : { stack: e?.stack }),
  });
} finally {
  src?.close();
}
