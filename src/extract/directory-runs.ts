const { closeSync, readSync, writeSync } = process.getBuiltinModule('node:fs');

/** A directory's record in a run: its relative path, and what the end applies to it. */
export interface RunRecord {
  path: Uint8Array;
  flags: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/**
 * A record: five words (the path's length and, above its 16 bits, the flags; the mode, uid, gid
 * and mtime), then the path's bytes, up to a word's end. Stored and read by word, as a
 * Uint32Array's elements: Buffer's writeUInt32LE and readUInt32LE are calls with checks, slow on
 * the baseline tier the CLI runs on (src/tiers.ts).
 */
const HEADER = 20;
const BUFFER = 1 << 16;
/** Runs merged at once: one buffer each. More are merged into one first. */
export const MAX_RUNS = 16;

/**
 * Sorted runs of directory records in a file of their own, merged at the end: the writer's
 * records of hundreds of thousands of directories, which the kernel keeps in memory (its
 * dir_list), held in a few MB, as sort(1) holds what it sorts. The file is unlinked when it is
 * made; the records are read back by position. Each run is in descending byte order of path, each
 * path once, so that a child comes before its parent (a parent's path begins the child's).
 */
export class RunFile {
  private readonly runs: { start: number; end: number }[] = [];
  private written = 0;
  private readonly outWords = new Uint32Array(BUFFER / 4);
  private readonly out = Buffer.from(this.outWords.buffer);
  private outUsed = 0;

  /** `fd`: the file, open for reading and writing, empty. */
  constructor(private readonly fd: number) {}

  get count(): number {
    return this.runs.length;
  }

  /** Adds a run of `records`, in descending byte order of path, each path once. */
  append(records: Iterable<RunRecord>): void {
    const start = this.written;
    const words = this.outWords;
    for (const r of records) {
      const size = recordSize(r.path.length);
      if (this.outUsed + size > BUFFER) this.flush();
      const word = this.outUsed >>> 2;
      words[word] = r.path.length | (r.flags << 16);
      words[word + 1] = r.mode;
      words[word + 2] = r.uid;
      words[word + 3] = r.gid;
      words[word + 4] = r.mtime;
      this.out.set(r.path, this.outUsed + HEADER);
      this.outUsed += size;
    }
    this.flush();
    this.runs.push({ start, end: this.written });
  }

  /**
   * Every run's records, merged into one descending order; where runs hold the same path, the
   * latest run's record alone. A record, its path included, is valid until the next is asked for.
   */
  *merged(): Generator<RunRecord> {
    const readers = this.runs.map(({ start, end }) => new RunReader(this.fd, start, end));
    for (;;) {
      let best: RunReader | undefined;
      for (const reader of readers) {
        // The later of two equal paths wins: a later run holds the later entry.
        if (reader.record && (!best || reader.key >= best.key)) best = reader;
      }
      if (!best) return;
      for (const reader of readers) {
        if (reader !== best && reader.record && reader.key === best.key) reader.next();
      }
      yield best.record!;
      best.next();
    }
  }

  /** The runs become one, of the records `keep` keeps of merged()'s (written after the rest). */
  mergeAll(keep: (r: RunRecord) => boolean): void {
    const records = this.merged();
    this.append((function* () {
      for (const r of records) if (keep(r)) yield r;
    })());
    this.runs.splice(0, this.runs.length - 1);
  }

  close(): void {
    closeSync(this.fd);
    this.runs.length = 0;
  }

  private flush(): void {
    for (let off = 0; off < this.outUsed; ) {
      const n = writeSync(this.fd, this.out, off, this.outUsed - off, this.written);
      off += n;
      this.written += n;
    }
    this.outUsed = 0;
  }
}

function recordSize(pathLength: number): number {
  return HEADER + ((pathLength + 3) & ~3);
}

/** One run's records, read through a buffer. */
class RunReader {
  record: RunRecord | undefined;
  /** The record's path as a latin1 string, compared in C++ (see descendingOrder). */
  key = '';
  private readonly words = new Uint32Array(BUFFER / 4);
  private readonly buffer = Buffer.from(this.words.buffer);
  /** Where the next record starts: a word's start. */
  private from = 0;
  private to = 0;
  private readonly current: RunRecord = { path: this.buffer, flags: 0, mode: 0, uid: 0, gid: 0, mtime: 0 };

  constructor(private readonly fd: number, private position: number, private readonly end: number) {
    this.next();
  }

  next(): void {
    if (!this.have(HEADER)) {
      this.record = undefined;
      return;
    }
    let word = this.from >>> 2;
    const length = this.words[word] & 0xffff;
    if (!this.have(recordSize(length))) throw new Error('the temporary file of directory records ends inside a record');
    word = this.from >>> 2;
    const r = this.current;
    r.flags = this.words[word] >>> 16;
    r.mode = this.words[word + 1];
    r.uid = this.words[word + 2];
    r.gid = this.words[word + 3];
    r.mtime = this.words[word + 4];
    const start = this.from + HEADER;
    r.path = this.buffer.subarray(start, start + length);
    this.key = this.buffer.toString('latin1', start, start + length);
    this.from += recordSize(length);
    this.record = r;
  }

  /** Whether `n` bytes from `from` are in the buffer, read into it where the run has them. */
  private have(n: number): boolean {
    if (this.to - this.from >= n) return true;
    this.buffer.copy(this.buffer, 0, this.from, this.to);
    this.to -= this.from;
    this.from = 0;
    while (this.to < n && this.position < this.end) {
      const got = readSync(this.fd, this.buffer, this.to, Math.min(BUFFER - this.to, this.end - this.position), this.position);
      if (got === 0) break;
      this.to += got;
      this.position += got;
    }
    return this.to >= n;
  }
}

/**
 * Indices 0 to starts.length - 2 in descending byte order of the paths
 * pool[starts[n], starts[n + 1]). Each is sorted as a latin1 string (a byte a char), followed by
 * NUL, which no path holds and which sorts below every byte (so that a path still sorts before
 * those below it), and its index in three chars: the builtin sort of strings compares in C++,
 * four times as fast as a comparator on the baseline tier the CLI runs on (src/tiers.ts).
 */
export function descendingOrder(pool: Buffer, starts: Uint32Array): Int32Array {
  const n = starts.length - 1;
  const keys: string[] = new Array(n);
  for (let i = 0; i < n; i++) keys[i] = `${pool.toString('latin1', starts[i], starts[i + 1])}\0${String.fromCharCode(i >>> 16, (i >>> 8) & 255, i & 255)}`;
  keys.sort();
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const key = keys[n - 1 - i];
    const end = key.length;
    order[i] = (key.charCodeAt(end - 3) << 16) | (key.charCodeAt(end - 2) << 8) | key.charCodeAt(end - 1);
  }
  return order;
}
