import { writeSync } from 'node:fs';

/**
 * Writes all of `buf` to `fd` synchronously. Output is produced inside the synchronous walk,
 * so it cannot wait for 'drain'; a non-blocking pipe that is full is retried after a pause.
 */
export function writeAllSync(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(PAUSE, 0, 0, 1);
    }
  }
}

/** Something to wait on for a millisecond while a full pipe drains. */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
