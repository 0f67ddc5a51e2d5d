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

/**
 * Batches stdout writes: a large listing is one write per 64 KiB, not one per entry. Each line
 * is encoded into the buffer as it comes: lines kept as strings until the write lived through
 * collections of the young generation and grew the old one with every entry (bench/entries.sh).
 */
export class LineWriter {
  private readonly buffer = Buffer.allocUnsafe(1 << 16);
  private size = 0;
  write(text: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    if (this.size + text.length * 3 > this.buffer.length) {
      this.flush();
      if (text.length * 3 > this.buffer.length) {
        writeAllSync(1, Buffer.from(text));
        return;
      }
    }
    this.size += this.buffer.write(text, this.size);
  }
  flush(): void {
    if (this.size === 0) return;
    writeAllSync(1, this.buffer.subarray(0, this.size));
    this.size = 0;
  }
}
