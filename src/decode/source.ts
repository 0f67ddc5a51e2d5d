import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError } from '../errors.js';

const DEFAULT_BUFFER = 1 << 20;

/**
 * Buffered, seekable reader over an image file. Decoders pull from it and must leave `offset`
 * exactly at the first byte after their member, which is how the segment walker finds where
 * a compressed member ends. Reads are synchronous: the data is consumed synchronously by the
 * cpio parser, so there is nothing to overlap, and pread keeps seeking free.
 */
export class ByteSource {
  private buf: Buffer;
  /** file offset of buf[0] */
  private bufStart = 0;
  /** valid bytes in buf */
  private bufLen = 0;
  /** index in buf of the next unconsumed byte */
  private cursor = 0;

  private constructor(
    private readonly fd: number,
    readonly size: number,
    readonly path: string,
    bufferSize: number,
  ) {
    this.buf = Buffer.allocUnsafe(bufferSize);
  }

  static open(path: string, bufferSize = DEFAULT_BUFFER): ByteSource {
    const fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error('not a regular file');
      return new ByteSource(fd, st.size, path, bufferSize);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Absolute file offset of the next unconsumed byte. */
  get offset(): number {
    return this.bufStart + this.cursor;
  }

  get remaining(): number {
    return this.size - this.offset;
  }

  /**
   * Up to `want` bytes from `offset` without consuming them: fewer only at end of file.
   * With no argument, whatever is buffered (refilling when empty). The view is valid until
   * the next call to peek, read or seek.
   */
  peek(want = 1): Uint8Array {
    if (this.bufLen - this.cursor < want) this.fill(want);
    return this.buf.subarray(this.cursor, this.bufLen);
  }

  /** Exactly `n` bytes (a view, valid until the next peek/read/seek), or a FormatError at EOF. */
  read(n: number, what: string): Uint8Array {
    const view = this.peek(n);
    if (view.length < n) {
      throw new FormatError(`truncated ${what}: needs ${n} bytes, file ends after ${view.length}`, this.offset);
    }
    this.cursor += n;
    return view.subarray(0, n);
  }

  /** `length` bytes at `offset` (fewer at end of file), read aside: the window is not moved. */
  readAt(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, out, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return out.subarray(0, got);
  }

  skip(n: number): void {
    const buffered = this.bufLen - this.cursor;
    if (n <= buffered) this.cursor += n;
    else this.seek(this.offset + n);
  }

  seek(offset: number): void {
    if (offset >= this.bufStart && offset <= this.bufStart + this.bufLen) {
      this.cursor = offset - this.bufStart;
    } else {
      this.bufStart = offset;
      this.bufLen = 0;
      this.cursor = 0;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private fill(want: number): void {
    const keep = this.bufLen - this.cursor;
    if (want > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(want, this.buf.length * 2));
      this.buf.copy(bigger, 0, this.cursor, this.bufLen);
      this.buf = bigger;
    } else if (keep > 0) {
      this.buf.copyWithin(0, this.cursor, this.bufLen);
    }
    this.bufStart += this.cursor;
    this.cursor = 0;
    this.bufLen = keep;
    while (this.bufLen < this.buf.length) {
      const n = readSync(this.fd, this.buf, this.bufLen, this.buf.length - this.bufLen, this.bufStart + this.bufLen);
      if (n === 0) break;
      this.bufLen += n;
      if (this.bufLen >= want) break;
    }
  }
}
