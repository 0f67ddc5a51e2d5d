import { FormatError } from '../errors.js';
import { type Piece, type UkiSection, isPeFile, readUki } from './uki.js';
const { closeSync, fstatSync, openSync, readSync } = process.getBuiltinModule('node:fs');

const DEFAULT_BUFFER = 1 << 20;
const EMPTY = Buffer.alloc(0);
/**
 * What a stream (standard input on a pipe) keeps of what was consumed. Our decoders step back
 * only within what they read last, with no refill between (what a zlib engine left unused of
 * its last chunk, bzip2's last bits), which needs nothing kept (test/stdin.test.ts passes with
 * none): this is a margin.
 */
const STREAM_BEHIND = 128 << 10;
/**
 * A stream's window to start with. A refill reads STREAM_READ past what is kept, at the
 * window's front. It grows only for a peek of more than it holds; all of it counts in the
 * peak RSS, touched or not (by hand, GNU time on bzip2's unpack from a
 * pipe: a 2.5 MiB window peaked higher than this one with the same reads).
 */
const STREAM_WINDOW = 1 << 20;
/** What a stream's refill reads at most, past what it keeps; a long read passes through in these. */
const STREAM_READ = 256 << 10;
/** How far ahead `available` looks on a stream; beyond, what reads the bytes finds any end. */
const STREAM_LOOKAHEAD = 16 << 20;
/**
 * A file's first read into its window, at most, unless more is asked for; each read after may
 * reach twice as far into the window, up to all of it. Pages of the window that no read reached
 * are never faulted in: a probe of a few bytes (a trial's stage meeting another format, a magic)
 * costs this much of the peak RSS, not the window's MiB.
 */
const FIRST_FILL = 16 << 10;

/**
 * Buffered, seekable reader over an image file. Decoders pull from it and must leave `offset`
 * exactly at the first byte after their member, which is how the segment walker finds where
 * a compressed member ends. Reads are synchronous: the data is consumed synchronously by the
 * cpio parser, so there is nothing to overlap, and pread keeps seeking free.
 *
 * The image is the file, or for a unified kernel image the initrd its sections give the kernel
 * (see readUki): offsets are in that image, and `describe` says where one is in the file.
 *
 * Standard input ("-") on a pipe is a stream: read once, forward. Seeking ahead reads and drops
 * what lies between; going back reaches only the last STREAM_BEHIND bytes; the size is known
 * once the end is reached (Infinity before).
 */
export class ByteSource {
  /** Allocated by the first read: a source opened to check the file, or to find a magic, holds no window. */
  private buf = EMPTY;
  /** image offset of buf[0] */
  private bufStart = 0;
  /** valid bytes in buf */
  private bufLen = 0;
  /** index in buf of the next unconsumed byte */
  private cursor = 0;
  /** The size of a file's image. */
  private readonly fileImageSize: number;
  /** A stream has given its last byte. */
  private ended = false;
  /** How far into `buf` a file's reads may reach now (see FIRST_FILL). */
  private reach = FIRST_FILL;

  private constructor(
    private readonly fd: number,
    /** Where the image's bytes are in the file; undefined: a stream. */
    private readonly pieces: readonly Piece[] | undefined,
    readonly path: string,
    private readonly bufferSize: number,
    /** The initrd sections of a unified kernel image; undefined for a plain image. */
    readonly sections: readonly UkiSection[] | undefined,
  ) {
    this.fileImageSize = pieces?.reduce((sum, p) => sum + p.length, 0) ?? 0;
  }

  /**
   * The image at `path`; "-" is standard input: a stream on a pipe or socket, a file when
   * redirected from one (read from its start, by pread). Standard input is never closed.
   */
  static open(path: string, bufferSize = DEFAULT_BUFFER): ByteSource {
    const fd = path === '-' ? 0 : openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      if (path === '-' && !st.isFile()) return ByteSource.stream(fd, path);
      if (!st.isFile()) throw new Error('not a regular file');
      const head = Buffer.alloc(2);
      readSync(fd, head, 0, 2, 0);
      const uki = isPeFile(head) ? readUki(fd, st.size) : undefined;
      return new ByteSource(fd, uki?.pieces ?? [{ file: 0, length: st.size }], path, bufferSize, uki?.sections);
    } catch (e) {
      if (fd !== 0) closeSync(fd);
      throw e;
    }
  }

  /**
   * The file's name for a command that opens it: standard input's, redirected from a file, is
   * its link in /proc, which opens that file.
   */
  get fileName(): string {
    return this.path === '-' ? `/proc/${process.pid}/fd/0` : this.path;
  }

  /** Nothing is read until asked for: opening standard input to check it leaves it as it is. */
  private static stream(fd: number, path: string): ByteSource {
    return new ByteSource(fd, undefined, path, STREAM_WINDOW, undefined);
  }

  /** Whether any offset can be read again: a file; a stream only goes forward. */
  get seekable(): boolean {
    return this.pieces !== undefined;
  }

  /** The image's size; a stream's is known once it has ended. */
  get size(): number {
    if (this.pieces) return this.fileImageSize;
    return this.ended ? this.bufStart + this.bufLen : Infinity;
  }

  /** Absolute file offset of the next unconsumed byte. */
  get offset(): number {
    return this.bufStart + this.cursor;
  }

  get remaining(): number {
    return this.size - this.offset;
  }

  /**
   * How many of the next `n` bytes the image holds: all `n` unless it ends first. A stream
   * buffers them to know, up to STREAM_LOOKAHEAD: beyond, it answers `n` and the end, if it
   * comes, is found by what reads them.
   */
  available(n: number): number {
    if (this.pieces) return Math.min(n, this.remaining);
    const ahead = Math.min(n, STREAM_LOOKAHEAD);
    const got = this.peek(ahead).length;
    return got < ahead ? got : n;
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
    if (view.length < n) throw truncated(what, n, view.length, this.offset);
    this.cursor += n;
    return view.subarray(0, n);
  }

  /**
   * Exactly `target.length` bytes into `target`, consumed, or a FormatError at EOF. A large
   * block (an lz4 one, 8 MiB) does not grow the window: a file's bytes past it are read straight
   * into `target`, a stream's pass through it a history's worth at a time. When `target` is a
   * part of a larger unit, `whole` (its start and size) is what the error names.
   */
  readTo(target: Uint8Array, what: string, whole?: { start: number; size: number }): void {
    const n = target.length;
    const start = this.offset;
    const short = (got: number) =>
      whole ? truncated(what, whole.size, start + got - whole.start, whole.start) : truncated(what, n, got, start);
    if (!this.pieces) {
      for (let got = 0; got < n; ) {
        const view = this.peek(Math.min(n - got, STREAM_READ));
        if (view.length === 0) throw short(got);
        const take = Math.min(view.length, n - got);
        target.set(view.subarray(0, take), got);
        this.cursor += take;
        got += take;
      }
      return;
    }
    const buffered = Math.min(n, this.bufLen - this.cursor);
    target.set(this.buf.subarray(this.cursor, this.cursor + buffered));
    const got = buffered + this.readImage(target, buffered, n - buffered, start + buffered);
    if (got < n) throw short(got);
    this.seek(start + n);
  }

  /**
   * `length` bytes at `offset` (fewer at end of file), read aside: the window is not moved. A
   * stream has only its window to give (xz's Index, just behind the footer being read): from
   * bytes before it, nothing; past it, fewer.
   */
  readAt(offset: number, length: number): Buffer {
    if (!this.pieces) {
      if (offset < this.bufStart) return Buffer.alloc(0);
      return Buffer.from(this.buf.subarray(offset - this.bufStart, Math.min(this.bufLen, offset - this.bufStart + length)));
    }
    const out = Buffer.allocUnsafe(length);
    return out.subarray(0, this.readImage(out, 0, length, offset));
  }

  /**
   * Another reader of this file's image, at the same offset, with a window of `bufferSize`
   * bytes, for a read of another size: a walk of block headers, a scan. It shares the
   * descriptor: it is not closed.
   */
  withWindow(bufferSize = DEFAULT_BUFFER): ByteSource {
    if (!this.pieces) throw new Error('a stream has one reader');
    const reader = new ByteSource(this.fd, this.pieces, this.path, bufferSize, this.sections);
    reader.seek(this.offset);
    return reader;
  }

  /**
   * Where the bytes [start, end) of the image lie in the file, when the file holds them in one
   * run: for a command that reads the file itself.
   */
  fileRange(start: number, end: number): { start: number; end: number } | undefined {
    let base = 0;
    for (const piece of this.pieces ?? []) {
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
    const pieces = this.pieces ?? [];
    for (const [i, piece] of pieces.entries()) {
      if (offset < base + piece.length || i === pieces.length - 1) {
        const section = this.sections.find((s) => s.name === piece.section)!;
        return piece.file === undefined
          ? { offset, within: `byte ${offset} of the image, in the zeros after section ${section.name}'s data` }
          : { offset: piece.file + offset - base, within: `byte ${offset - section.imageOffset} of section ${section.name}` };
      }
      base += piece.length;
    }
    return { offset, within: 'an empty image' };
  }

  /** Skips exactly `n` bytes, or a FormatError if the image ends first. */
  skipExactly(n: number, what: string): void {
    const got = this.available(n);
    if (got < n) throw truncated(what, n, got, this.offset);
    this.skip(n);
  }

  skip(n: number): void {
    const buffered = this.bufLen - this.cursor;
    if (n <= buffered) this.cursor += n;
    else this.seek(this.offset + n);
  }

  seek(offset: number): void {
    if (offset >= this.bufStart && offset <= this.bufStart + this.bufLen) {
      this.cursor = offset - this.bufStart;
    } else if (!this.pieces) {
      if (offset < this.bufStart) throw new Error(`a stream cannot go back to byte ${offset}: it keeps bytes from ${this.bufStart} on`);
      // Ahead: read and drop, up to the end.
      this.cursor = this.bufLen;
      for (let view = this.peek(1); view.length > 0 && this.offset < offset; view = this.peek(1)) {
        this.cursor += Math.min(view.length, offset - this.offset);
      }
    } else {
      this.bufStart = offset;
      this.bufLen = 0;
      this.cursor = 0;
    }
  }

  close(): void {
    if (this.fd !== 0) closeSync(this.fd);
  }

  /**
   * Frees the window now: a run that reads several sources in turn (diff's two images) would
   * otherwise hold every one's pages until V8 collects. No view of it may be used after, nor
   * be in use on another thread (freed under a reader, the process would crash). Nothing more
   * is read after.
   */
  release(): void {
    const { buf } = this;
    this.bufStart = this.offset;
    this.buf = EMPTY;
    this.bufLen = this.cursor = 0;
    // A small window is a slice of Node's shared pool, which is not ours to free.
    if (buf !== EMPTY && buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) freeNow(buf.buffer);
  }

  private fill(want: number): void {
    // A file drops what was consumed; a stream keeps its history.
    const from = this.pieces ? this.cursor : Math.max(0, this.cursor - STREAM_BEHIND);
    const keep = this.bufLen - from;
    const need = this.cursor - from + want;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2, this.bufferSize));
      this.buf.copy(bigger, 0, from, this.bufLen);
      this.buf = bigger;
    } else if (keep > 0 && from > 0) {
      this.buf.copyWithin(0, from, this.bufLen);
    }
    this.bufStart += from;
    this.cursor -= from;
    this.bufLen = keep;
    if (this.pieces) {
      const end = Math.min(this.buf.length, Math.max(need, this.reach));
      this.reach = Math.max(this.reach, end * 2);
      this.bufLen += this.readImage(this.buf, this.bufLen, end - this.bufLen, this.bufStart + this.bufLen);
      return;
    }
    const first = this.bufStart === 0 && this.bufLen < 2;
    while (this.bufLen < need && !this.ended) {
      const n = readStream(this.fd, this.buf.subarray(this.bufLen, Math.max(need, keep + STREAM_READ)));
      this.ended = n === 0;
      this.bufLen += n;
    }
    if (first && isPeFile(this.buf.subarray(0, this.bufLen))) {
      throw new FormatError('a unified kernel image on a pipe: its sections are found by seeking, so give its file (or redirect it: - < FILE)', 0);
    }
  }

  /** Reads the image's bytes from `offset` into out[at, at + length): all of them, fewer only at its end. */
  private readImage(out: Uint8Array, at: number, length: number, offset: number): number {
    let got = 0;
    let base = 0;
    for (const piece of this.pieces!) {
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

/**
 * Frees `buffer`'s memory at once by detaching it, for its sole user: left to V8, a buffer is
 * freed only by a collection, which comes by what JavaScript allocates, not by buffer bytes.
 */
export function freeNow(buffer: ArrayBufferLike): void {
  const own = buffer as ArrayBuffer;
  // ES2024's transfer detaches the buffer and frees its memory; a second release does nothing.
  // A resizable buffer's memory would move with it (grown's reservations): its pages go first.
  if (own.detached) return;
  if (own.resizable) own.resize(0);
  own.transfer(0);
}

/** glibc's malloc serves a block from this size by mmap (its M_MMAP_THRESHOLD's first value). */
const MMAP_THRESHOLD = 128 << 10;
/** Past the most glibc raises that threshold to (DEFAULT_MMAP_THRESHOLD_MAX on a 64-bit system, 32 MiB). */
const PAST_MMAP_THRESHOLD_MAX = (32 << 20) + (4 << 10);

/**
 * A buffer of `bytes` zeros, whose free gives its memory back without raising glibc's mmap
 * threshold: from 128 KiB, its memory is reserved past 32 MiB, of which only the pages written
 * are taken. glibc raises the threshold to the size of each mmapped block freed, up to 32 MiB;
 * after one of a few MiB, each block below that size comes from its heap, which gives back only
 * its top (test/heap.test.ts). `diff`'s second tree stood 1.7 to 2.7 MB higher than its first
 * as each walk ended (300,000 entries, marks of /proc/self/status in a copy of `dist`; none with
 * MALLOC_MMAP_THRESHOLD_ set, which fixes the threshold). For a block made and freed while a
 * model is held: node:zlib's output where a walk saves memory, `diff`'s sort of a tree. The
 * reservation counts in V8's external memory and brings a mark-compact: where no model is held
 * (unpack's windows and node:zlib's output) it took more than it saved (by hand, unpack of the
 * real lz4 and zstd images 0.2 to 0.5 MB more, the collector's code).
 */
export function outOfHeap(bytes: number): Buffer<ArrayBuffer> {
  if (bytes < MMAP_THRESHOLD || bytes >= PAST_MMAP_THRESHOLD_MAX) return Buffer.alloc(bytes);
  try {
    return Buffer.from(new ArrayBuffer(PAST_MMAP_THRESHOLD_MAX), 0, bytes);
  } catch (err) {
    // Where the address space is limited (ulimit -v): the block alone.
    if (!(err instanceof RangeError)) throw err;
    return Buffer.alloc(bytes);
  }
}

/** A typed array of `length` zeros, as outOfHeap makes a buffer. */
export function outOfHeapArray<A extends Uint32Array | Int32Array | Float64Array>(Type: { new (buffer: ArrayBuffer, offset: number, length: number): A; BYTES_PER_ELEMENT: number }, length: number): A {
  const bytes = outOfHeap(length * Type.BYTES_PER_ELEMENT);
  return new Type(bytes.buffer, bytes.byteOffset, length);
}

/** `what`, of `n` bytes from image offset `at`, of which the image holds only `got`. */
export function truncated(what: string, n: number, got: number, at: number): FormatError {
  return new FormatError(`truncated ${what}: needs ${n} bytes, file ends after ${got}`, at);
}

/** How long a read of a stream with nothing to give yet (EAGAIN: a non-blocking descriptor) waits before trying again. */
const STREAM_WAIT_MS = 5;
const waitCell = new Int32Array(new SharedArrayBuffer(4));

/** What a read of the stream `fd` gives: 0 at its end. A non-blocking one is waited for. */
function readStream(fd: number, into: Buffer): number {
  for (;;) {
    try {
      return readSync(fd, into, 0, into.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(waitCell, 0, 0, STREAM_WAIT_MS);
    }
  }
}
