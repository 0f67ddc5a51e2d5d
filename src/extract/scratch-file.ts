import { ScratchFileError } from '../errors.js';
import { freeNow } from '../decode/source.js';
import { openInTempDir } from '../temp.js';
const { closeSync, constants, openSync, readSync, writeSync } = process.getBuiltinModule('node:fs');
const { join } = process.getBuiltinModule('node:path');

const OUT_BUFFER = 1 << 16;

/** The header of a record of either run (directory records, hard-link groups): five words. */
export const RECORD_HEADER = 20;

/** The bytes of a record: its five words, then a path of `pathLength` bytes, up to a word's end. */
export function recordLength(pathLength: number): number {
  return RECORD_HEADER + padded(pathLength);
}

/** `length` up to a word's end: records are written by word. */
export function padded(length: number): number {
  return length + (-length & 3);
}

/**
 * A scratch file that runs of records are written to, one after another, and read back by
 * position (see Tree.openScratch): records go into `out` by word, as a Uint32Array's elements
 * (the file is this process's alone, so the host's byte order does: Buffer's writeUInt32LE and
 * readUInt32LE are calls with checks, slow on the baseline tier the CLI runs on, src/tiers.ts).
 *
 * A failure to write or read makes the file unusable: it is closed, and a ScratchFileError that
 * names it stops the run.
 */
export class ScratchFile {
  readonly outWords = new Uint32Array(OUT_BUFFER / 4);
  readonly out = Buffer.from(this.outWords.buffer);
  private outUsed = 0;
  private bytesWritten = 0;
  private isClosed = false;

  /**
   * `fd`: the file, open for reading and writing, empty, or the pages of one in memory (where
   * the system gives no file); `where`, what an error calls it.
   */
  constructor(private readonly fd: number | MemoryPages, private readonly where: string) {}

  get closed(): boolean {
    return this.isClosed;
  }

  /** The bytes written to the file, `out`'s not yet included. */
  get written(): number {
    return this.bytesWritten;
  }

  /** Where in `out` a record of `length` bytes (a multiple of 4, at most `out`'s) goes: `out` is flushed first where it does not fit. */
  room(length: number): number {
    if (length > OUT_BUFFER) throw new RangeError(`a record of ${length} bytes does not fit the scratch file's out-buffer of ${OUT_BUFFER}`);
    if (this.outUsed + length > OUT_BUFFER) this.flush();
    const at = this.outUsed;
    this.outUsed += length;
    return at;
  }

  /** Where the next record goes in the file. */
  get position(): number {
    return this.bytesWritten + this.outUsed;
  }

  flush(): void {
    for (let off = 0; off < this.outUsed; ) {
      const { fd } = this;
      const n = this.io(() => (typeof fd === 'number' ? writeSync(fd, this.out, off, this.outUsed - off, this.bytesWritten) : fd.write(this.out.subarray(off, this.outUsed), this.bytesWritten)), 'writing');
      off += n;
      this.bytesWritten += n;
    }
    this.outUsed = 0;
  }

  /** Reads the file (or its pages in memory) at `position`, failing as the class says. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): number {
    const { fd } = this;
    return this.io(() => (typeof fd === 'number' ? readSync(fd, buffer, offset, length, position) : fd.read(buffer.subarray(offset, offset + length), position)), 'reading');
  }

  /**
   * Fills `into` with the bytes written from `position`, whether `out` still holds them or the
   * file does: a record is never split between the two (room() flushes before one that does not fit).
   */
  readBack(into: Uint8Array, position: number): void {
    if (position >= this.bytesWritten) {
      const from = position - this.bytesWritten;
      if (from + into.length > this.outUsed) this.cutShort();
      into.set(this.out.subarray(from, from + into.length));
      return;
    }
    for (let done = 0; done < into.length; ) {
      const n = this.read(into, done, into.length - done, position + done);
      if (n === 0) this.cutShort();
      done += n;
    }
  }

  /** A run that ends inside a record: the file fails as for an error of the system's. */
  cutShort(): never {
    this.close();
    throw new ScratchFileError(`reading ${this.where}: a run ends inside a record`);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (typeof this.fd === 'number') closeSync(this.fd);
    else this.fd.free();
  }

  private io(call: () => number, doing: string): number {
    if (this.isClosed) throw new ScratchFileError(`${doing} ${this.where}: it was closed after a failure`);
    try {
      return call();
    } catch (err) {
      this.close();
      throw new ScratchFileError(`${doing} ${this.where}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * A scratch file of `what` in the temporary directory ($TMPDIR), its name removed as soon as it
 * is open: for a run that has no target directory of its own (a model of a tree, diff's trees).
 */
export function tempScratchFile(what: string): ScratchFile {
  return openInTempDir((dir) => new ScratchFile(openSync(join(dir, 'scratch'), constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600), `the scratch file of ${what} in ${dir}`));
}

/**
 * The scratch file `open` makes, or undefined where the system refuses one (an error with a code:
 * a target that is not writable itself, only below), where what would spill stays in memory.
 */
export function scratchOrNone(open: () => ScratchFile): ScratchFile | undefined {
  try {
    return open();
  } catch (err) {
    if (!(err as NodeJS.ErrnoException).code) throw err;
    return undefined;
  }
}

const PAGE = 1 << 16;

/** A scratch file's bytes in memory, in pages of 64 KiB: for where the system gives no file. */
export class MemoryPages {
  private pages: Uint8Array[] = [];
  private size = 0;

  /** Writes `bytes` at `position`, at most the end so far: returns how many, all of them. */
  write(bytes: Uint8Array, position: number): number {
    for (let done = 0; done < bytes.length; ) {
      const at = position + done;
      const page = (this.pages[Math.floor(at / PAGE)] ??= new Uint8Array(PAGE));
      const n = Math.min(bytes.length - done, PAGE - (at % PAGE));
      page.set(bytes.subarray(done, done + n), at % PAGE);
      done += n;
    }
    this.size = Math.max(this.size, position + bytes.length);
    return bytes.length;
  }

  /** Reads into `into` from `position`: returns how many bytes, fewer at the end. */
  read(into: Uint8Array, position: number): number {
    const length = Math.max(0, Math.min(into.length, this.size - position));
    for (let done = 0; done < length; ) {
      const at = position + done;
      const n = Math.min(length - done, PAGE - (at % PAGE));
      into.set(this.pages[Math.floor(at / PAGE)].subarray(at % PAGE, at % PAGE + n), done);
      done += n;
    }
    return length;
  }

  free(): void {
    for (const page of this.pages) if (page) freeNow(page.buffer);
    this.pages = [];
    this.size = 0;
  }
}
