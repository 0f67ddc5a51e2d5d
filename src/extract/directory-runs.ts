import { freeNow } from '../decode/source.js';
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
 * pool[starts[n], starts[n + 1]). Sorted by four bytes at a time, each index beside them in a
 * 64-bit key that the builtin sort orders without a comparator (in C++, making nothing); each
 * group of paths that share those four bytes is sorted again by the next four. A comparator, or
 * strings compared in C++, ran slower on the baseline tier the CLI runs on (src/tiers.ts), or left
 * garbage to the old generation.
 */
export function descendingOrder(pool: Uint8Array, starts: Uint32Array): Int32Array {
  const n = starts.length - 1;
  const keys = new BigUint64Array(n);
  // A key's words, little-endian: the index low, the bytes high, NUL past the path's end, which
  // no path holds: a path sorts before those it begins.
  const words = new Uint32Array(keys.buffer);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const sortGroup = (from: number, to: number, depth: number): void => {
    for (let i = from; i < to; i++) {
      const p = order[i];
      const at = starts[p] + depth;
      const end = starts[p + 1];
      words[2 * i] = p;
      words[2 * i + 1] = (byteAt(pool, at, end) << 24) | (byteAt(pool, at + 1, end) << 16) | (byteAt(pool, at + 2, end) << 8) | byteAt(pool, at + 3, end);
    }
    keys.subarray(from, to).sort();
    for (let i = from; i < to; i++) order[i] = words[2 * i];
    for (let i = from; i < to; ) {
      let j = i + 1;
      while (j < to && words[2 * j + 1] === words[2 * i + 1]) j++;
      // Two paths are never the same: those that share these bytes go on past them.
      if (j - i > 1) sortGroup(i, j, depth + 4);
      i = j;
    }
  };
  sortGroup(0, n, 0);
  freeNow(keys.buffer);
  return order.reverse();
}

function byteAt(pool: Uint8Array, at: number, end: number): number {
  return at < end ? pool[at] : 0;
}
