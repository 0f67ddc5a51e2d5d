import { ScratchFileError } from '../errors.js';
const { closeSync, readSync, writeSync } = process.getBuiltinModule('node:fs');

const OUT_BUFFER = 1 << 16;

/** The header of a record of either run (directory records, hard-link groups): five words. */
export const RECORD_HEADER = 20;

/** The bytes of a record: its five words, then a path of `pathLength` bytes, up to a word's end. */
export function recordLength(pathLength: number): number {
  return RECORD_HEADER + ((pathLength + 3) & ~3);
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

  /** `fd`: the file, open for reading and writing, empty; `where`, what an error calls it. */
  constructor(private readonly fd: number, private readonly where: string) {}

  get closed(): boolean {
    return this.isClosed;
  }

  /** The bytes written to the file, `out`'s not yet included. */
  get written(): number {
    return this.bytesWritten;
  }

  /** Where in `out` a record of `length` bytes (a multiple of 4, at most `out`'s) goes: `out` is flushed first where it does not fit. */
  room(length: number): number {
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
      const n = this.io(() => writeSync(this.fd, this.out, off, this.outUsed - off, this.bytesWritten), 'writing');
      off += n;
      this.bytesWritten += n;
    }
    this.outUsed = 0;
  }

  /** readSync of the file at `position`, failing as the class says. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): number {
    return this.io(() => readSync(this.fd, buffer, offset, length, position), 'reading');
  }

  /** A run that ends inside a record: the file fails as for an error of the system's. */
  cutShort(): never {
    this.close();
    throw new ScratchFileError(`reading ${this.where}: a run ends inside a record`);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    closeSync(this.fd);
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
