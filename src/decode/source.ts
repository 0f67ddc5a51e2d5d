import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError } from '../errors.js';
import { type Piece, type UkiSection, isPeFile, readUki } from './uki.js';

const DEFAULT_BUFFER = 1 << 20;

/**
 * Buffered, seekable reader over an image file. Decoders pull from it and must leave `offset`
 * exactly at the first byte after their member, which is how the segment walker finds where
 * a compressed member ends. Reads are synchronous: the data is consumed synchronously by the
 * cpio parser, so there is nothing to overlap, and pread keeps seeking free.
 *
 * The image is the file, or for a unified kernel image the initrd its sections give the kernel
 * (see readUki): offsets are in that image, and `describe` says where one is in the file.
 */
export class ByteSource {
  private buf: Buffer;
  /** image offset of buf[0] */
  private bufStart = 0;
  /** valid bytes in buf */
  private bufLen = 0;
  /** index in buf of the next unconsumed byte */
  private cursor = 0;
  readonly size: number;

  private constructor(
    private readonly fd: number,
    private readonly pieces: readonly Piece[],
    readonly path: string,
    bufferSize: number,
    /** The initrd sections of a unified kernel image; undefined for a plain image. */
    readonly sections: readonly UkiSection[] | undefined,
  ) {
    this.buf = Buffer.allocUnsafe(bufferSize);
    this.size = pieces.reduce((sum, p) => sum + p.length, 0);
  }

  static open(path: string, bufferSize = DEFAULT_BUFFER): ByteSource {
    const fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error('not a regular file');
      const head = Buffer.alloc(2);
      readSync(fd, head, 0, 2, 0);
      const uki = isPeFile(head) ? readUki(fd, st.size) : undefined;
      return new ByteSource(fd, uki?.pieces ?? [{ file: 0, length: st.size }], path, bufferSize, uki?.sections);
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
    return out.subarray(0, this.readInto(out, 0, length, offset));
  }

  /**
   * Where the bytes [start, end) of the image lie in the file, when the file holds them in one
   * run: for a command that reads the file itself.
   */
  fileRange(start: number, end: number): { start: number; end: number } | undefined {
    let base = 0;
    for (const piece of this.pieces) {
      if (start >= base && end <= base + piece.length) {
        return piece.file === undefined ? undefined : { start: piece.file + start - base, end: piece.file + end - base };
      }
      base += piece.length;
    }
    return undefined;
  }

  /**
   * An error at an image offset (one without `where`) placed in the file too: for a unified
   * kernel image, by file offset and section. Any other error is returned as it is.
   */
  locate(err: unknown): unknown {
    if (!this.sections || !(err instanceof FormatError) || err.where !== undefined) return err;
    const { offset, within } = this.place(err.offset);
    return new FormatError(err.message, offset, undefined, within);
  }

  /** Image offset `offset` as messages name it: "byte N", for a UKI the file's byte and its section. */
  describe(offset: number): string {
    const { offset: at, within } = this.place(offset);
    return within ? `byte ${at} (${within})` : `byte ${at}`;
  }

  /** Where image offset `offset` is in the file: its byte there, and for a UKI its section. */
  private place(offset: number): { offset: number; within?: string } {
    if (!this.sections) return { offset };
    let base = 0;
    for (const [i, piece] of this.pieces.entries()) {
      if (offset < base + piece.length || i === this.pieces.length - 1) {
        const section = this.sections.find((s) => s.name === piece.section)!;
        return piece.file === undefined
          ? { offset, within: `byte ${offset} of the image, in the zeros after section ${section.name}'s data` }
          : { offset: piece.file + offset - base, within: `byte ${offset - section.imageOffset} of section ${section.name}` };
      }
      base += piece.length;
    }
    return { offset, within: 'an empty image' };
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
    this.bufLen += this.readInto(this.buf, this.bufLen, this.buf.length - this.bufLen, this.bufStart + this.bufLen);
  }

  /** Reads the image's bytes from `offset` into out[at, at + length): all of them, fewer only at its end. */
  private readInto(out: Buffer, at: number, length: number, offset: number): number {
    let got = 0;
    let base = 0;
    for (const piece of this.pieces) {
      const end = base + piece.length;
      while (got < length && offset + got < end) {
        const take = Math.min(end - (offset + got), length - got);
        if (piece.file === undefined) {
          out.fill(0, at + got, at + got + take);
          got += take;
        } else {
          const n = readSync(this.fd, out, at + got, take, piece.file + offset + got - base);
          if (n === 0) return got;
          got += n;
        }
      }
      base = end;
    }
    return got;
  }
}
