const { writeSync } = process.getBuiltinModule('node:fs');

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

/** A byte count for people: 512 B, 1.5 KiB, 20.3 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
