import { freeNow } from '../decode/source.js';
import { RECORD_HEADER, type ScratchFile, recordLength } from './scratch-file.js';

/**
 * A directory's record in a run: its relative path, bytes[start, end) (not a view of its own:
 * nothing is made per record), and what the end applies to it.
 */
export interface RunRecord {
  bytes: Buffer;
  start: number;
  end: number;
  flags: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/**
 * Records in descending byte order of path, each path once, by index: those in memory, read by
 * index rather than through a generator, whose every step is slow on the baseline tier.
 */
export interface SortedRecords {
  readonly count: number;
  /** The record at `index`, in one object that the next call reuses. */
  at(index: number): RunRecord;
}

/** A merge's records, one by one: each, its path included, is valid during the call only. */
export type RecordVisitor = (r: RunRecord) => void;

/*
 * A record (recordLength): five words (the path's length and, above its 16 bits, the flags; the
 * mode, uid, gid and mtime), then the path's bytes, up to a word's end, in a ScratchFile.
 */
/** A reader's: the end may read a few dozen runs at once. A record fits, its path at most PATH_MAX. */
const READ_BUFFER = 1 << 15;
/** Runs of one size merged into one run of the next: a merge reads this many at once. */
const MERGED_AT_ONCE = 16;

/**
 * Sorted runs of directory records in a scratch file, merged at the end: the writer's
 * records of hundreds of thousands of directories, which the kernel keeps in memory (its
 * dir_list), held in a few MB, as sort(1) holds what it sorts. Each run is in descending byte
 * order of path, each path once, so that a child comes before its parent (a parent's path begins
 * the child's). Sixteen runs of a size are merged into one of the next, as the digits of a count
 * carry: each record is written again once a size, and the end reads at most 15 runs of each.
 * Once the file failed, a merge reads none of its runs: the end applies what is in memory alone.
 */
export class RunFile {
  private readonly runs: { start: number; end: number; size: number }[] = [];
  /** Where the run being written starts. */
  private runStart = 0;

  /**
   * `file`: empty; `overridesOnly`, whether a record only says that an older run's record of its
   * path no longer applies, so that a merge which holds the oldest run drops it.
   */
  constructor(private readonly file: ScratchFile, private readonly overridesOnly: (r: RunRecord) => boolean) {}

  /** Adds a run of `records`. */
  append(records: SortedRecords): void {
    for (let i = 0; i < records.count; i++) this.put(records.at(i));
    this.endRun(0);
    for (;;) {
      const last = this.runs.slice(-MERGED_AT_ONCE);
      if (last.length < MERGED_AT_ONCE || last.some((run) => run.size !== last[0].size)) return;
      // With the oldest run, what only overrides an older record has nothing left to override.
      const oldest = this.runs.length === MERGED_AT_ONCE;
      this.merge((r) => {
        if (!(oldest && this.overridesOnly(r))) this.put(r);
      }, last);
      this.endRun(last[0].size + 1);
      this.runs.splice(-1 - MERGED_AT_ONCE, MERGED_AT_ONCE);
    }
  }

  /**
   * The records of `runs`, and then of `newest` (records in memory), merged into one descending
   * order, to `visit`; where they hold the same path, the latest one's record alone.
   */
  merge(visit: RecordVisitor, runs = this.runs, newest?: SortedRecords): void {
    const sources: RecordSource[] = this.file.closed ? [] : runs.map(({ start, end }) => new RunReader(this.file, start, end));
    if (newest) sources.push(new MemorySource(newest));
    for (;;) {
      let best: RecordSource | undefined;
      for (const source of sources) {
        // The later of two equal paths wins: a later run holds the later entry.
        if (source.record && (!best || source.key >= best.key)) best = source;
      }
      if (!best) return;
      for (const source of sources) {
        if (source !== best && source.record && source.key === best.key) source.next();
      }
      visit(best.record!);
      best.next();
    }
  }

  close(): void {
    this.file.close();
  }

  /** Adds `r` to the run being written, which starts where the last one ended. */
  private put(r: RunRecord): void {
    const pathLength = r.end - r.start;
    const at = this.file.room(recordLength(pathLength));
    const words = this.file.outWords;
    const word = at >>> 2;
    words[word] = pathLength | (r.flags << 16);
    words[word + 1] = r.mode;
    words[word + 2] = r.uid;
    words[word + 3] = r.gid;
    words[word + 4] = r.mtime;
    r.bytes.copy(this.file.out, at + RECORD_HEADER, r.start, r.end);
  }

  private endRun(size: number): void {
    this.file.flush();
    this.runs.push({ start: this.runStart, end: this.file.written, size });
    this.runStart = this.file.written;
  }
}

/** Records in descending byte order of path, the current one and its path as a latin1 string, compared in C++. */
interface RecordSource {
  record: RunRecord | undefined;
  key: string;
  next(): void;
}

class MemorySource implements RecordSource {
  record: RunRecord | undefined;
  key = '';
  private index = 0;

  constructor(private readonly records: SortedRecords) {
    this.next();
  }

  next(): void {
    this.record = this.index < this.records.count ? this.records.at(this.index++) : undefined;
    if (this.record) this.key = this.record.bytes.toString('latin1', this.record.start, this.record.end);
  }
}

/** One run's records, read through a buffer. */
class RunReader implements RecordSource {
  record: RunRecord | undefined;
  key = '';
  private readonly words = new Uint32Array(READ_BUFFER / 4);
  private readonly buffer = Buffer.from(this.words.buffer);
  /** Where the next record starts: a word's start. */
  private from = 0;
  private to = 0;
  private readonly current: RunRecord = { bytes: this.buffer, start: 0, end: 0, flags: 0, mode: 0, uid: 0, gid: 0, mtime: 0 };

  constructor(private readonly file: ScratchFile, private position: number, private readonly end: number) {
    this.next();
  }

  next(): void {
    if (!this.have(RECORD_HEADER)) {
      this.record = undefined;
      return;
    }
    const length = this.words[this.from >>> 2] & 0xffff;
    if (!this.have(recordLength(length))) this.file.cutShort();
    const word = this.from >>> 2;
    const r = this.current;
    r.flags = this.words[word] >>> 16;
    r.mode = this.words[word + 1];
    r.uid = this.words[word + 2];
    r.gid = this.words[word + 3];
    r.mtime = this.words[word + 4];
    r.start = this.from + RECORD_HEADER;
    r.end = r.start + length;
    this.key = this.buffer.toString('latin1', r.start, r.end);
    this.from += recordLength(length);
    this.record = r;
  }

  /** Whether `n` bytes from `from` are in the buffer, read into it where the run has them. */
  private have(n: number): boolean {
    if (this.to - this.from >= n) return true;
    this.buffer.copy(this.buffer, 0, this.from, this.to);
    this.to -= this.from;
    this.from = 0;
    while (this.to < n && this.position < this.end) {
      const got = this.file.read(this.buffer, this.to, Math.min(READ_BUFFER - this.to, this.end - this.position), this.position);
      if (got === 0) break;
      this.to += got;
      this.position += got;
    }
    return this.to >= n;
  }
}

/** Which of a 64-bit element's two 32-bit words is its high one, in the host's byte order. */
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/**
 * Indices 0 to starts.length - 2 in descending byte order of the paths
 * pool[starts[n], starts[n + 1]). Sorted by four bytes at a time, each index beside them in a
 * 64-bit key that the builtin sort orders without a comparator (in C++, making nothing); each
 * group of paths that share those four bytes is sorted again by the next four. On the baseline
 * tier the CLI runs on (src/tiers.ts), a comparator took five times as long, and strings sorted
 * by the builtin left megabytes on the heap (bench/run-sort.mjs).
 */
export function descendingOrder(pool: Uint8Array, starts: Uint32Array): Int32Array {
  const n = starts.length - 1;
  const keys = new BigUint64Array(n);
  // NUL past a path's end, which no path holds: a path sorts before those it begins.
  const words = new Uint32Array(keys.buffer);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const sortGroup = (from: number, to: number, depth: number): void => {
    for (let i = from; i < to; i++) {
      const p = order[i];
      const at = starts[p] + depth;
      const end = starts[p + 1];
      words[2 * i + 1 - HIGH_WORD] = p;
      words[2 * i + HIGH_WORD] = (byteAt(pool, at, end) << 24) | (byteAt(pool, at + 1, end) << 16) | (byteAt(pool, at + 2, end) << 8) | byteAt(pool, at + 3, end);
    }
    keys.subarray(from, to).sort();
    for (let i = from; i < to; i++) order[i] = words[2 * i + 1 - HIGH_WORD];
    for (let i = from; i < to; ) {
      let j = i + 1;
      while (j < to && words[2 * j + HIGH_WORD] === words[2 * i + HIGH_WORD]) j++;
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
