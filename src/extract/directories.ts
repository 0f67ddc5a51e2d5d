import type { CpioEntry } from '../cpio/entry.js';
import { freeNow } from '../decode/source.js';
import { RunFile, type RunRecord, type SortedRecords, descendingOrder } from './directory-runs.js';
import { PathTable, grown } from './path-table.js';
import { type ScratchFile, scratchOrNone } from './scratch-file.js';

/** What the end applies to a directory: its entry's owner, mode and mtime. */
export interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** This run made it, with dirCreateMode of the entry's mode; else it was there. */
  made: boolean;
}

/**
 * Where the records go past `paths` paths in memory, or 4 MiB of their bytes: sorted runs in the
 * scratch file `open` gives (see Tree.openScratch). Where it cannot be made (a target that is
 * not writable itself, only below), they stay in memory.
 */
export interface DirectorySpill {
  paths: number;
  open(): ScratchFile;
}

/** The bytes of paths recorded in memory past which they spill: each is written out whole to be sorted. */
const PATH_BYTES_IN_MEMORY = 1 << 22;

const VERIFIED = 1;
const RECORDED = 2;
const MADE = 4;
/** An earlier run's record of the path no longer applies: the directory was removed since. */
const FORGOTTEN = 8;

/**
 * The writer's record of directories, by relative path: those known to be real directories
 * (this run made or checked them), and for each directory entry what the end applies. In
 * typed arrays by the path's number, not a Map of latin1 keys: an archive may hold hundreds of
 * thousands of directories, and the kernel keeps a record of each too (its dir_list). With a
 * spill, memory holds a bounded number of paths: past it, the entries' records go to a sorted run
 * on disk, and which directories are verified is forgotten (the next entry below one looks again).
 */
export class DirectoryRecords {
  private paths!: PathTable;
  private flags!: Uint8Array;
  private modes!: Uint32Array;
  private uids!: Uint32Array;
  private gids!: Uint32Array;
  private mtimes!: Uint32Array;
  private runs: RunFile | undefined;
  /** The bytes of the paths recorded in memory, or more: a path recorded twice counts twice. */
  private pathBytes = 0;

  constructor(private spill?: DirectorySpill) {
    this.startEmpty();
  }

  /** Frees the records' memory at once, as PathTable.release does, and closes the runs' file: they are not used again. */
  release(): void {
    this.freeMemory();
    this.runs?.close();
    this.runs = undefined;
  }

  isVerified(rel: Uint8Array): boolean {
    const id = this.paths.find(rel);
    return id > 0 && (this.flags[id] & VERIFIED) !== 0;
  }

  verify(rel: Uint8Array): void {
    const id = this.add(rel);
    this.flags[id] |= VERIFIED;
  }

  /** `rel` is the directory entry `e`'s, verified: the end gives it `e`'s owner, mode and mtime. */
  record(rel: Uint8Array, e: Pick<CpioEntry, 'mode' | 'uid' | 'gid' | 'mtime'>, made: boolean): void {
    const id = this.addRecord(rel);
    this.flags[id] = VERIFIED | RECORDED | (made ? MADE : 0);
    this.modes[id] = e.mode;
    this.uids[id] = e.uid;
    this.gids[id] = e.gid;
    this.mtimes[id] = e.mtime;
  }

  /** `rel` is no longer a directory: an empty one removed. */
  forget(rel: Uint8Array): void {
    if (this.runs) {
      // Not this.flags[this.add(rel)]: the add may spill, and the flags be new arrays after it.
      const id = this.addRecord(rel);
      this.flags[id] = FORGOTTEN;
      return;
    }
    const id = this.paths.find(rel);
    if (id > 0) this.flags[id] = 0;
  }

  /**
   * Every directory a directory entry named, each before its parent (in descending byte order),
   * to `apply`, with its relative path after `prefix` in a buffer that the next one reuses; then
   * the records are cleared. A Buffer per directory was garbage that stayed in the peak (8 MB at
   * 300,300). A call, not a generator: a generator's every step is slow on the baseline tier
   * the CLI runs on (src/tiers.ts). `apply` must not record, verify or forget: the records in
   * memory are read as they were when it began.
   */
  childrenFirst(prefix: Uint8Array, apply: (path: Buffer, meta: DirMeta) => void): void {
    let memory: InMemoryRun | undefined;
    try {
      memory = this.sorted();
      let buffer = Buffer.allocUnsafe(prefix.length + 4096);
      buffer.set(prefix);
      const each = (r: RunRecord): void => {
        if (!(r.flags & RECORDED)) return;
        const length = prefix.length + r.end - r.start;
        if (length > buffer.length) {
          buffer = Buffer.allocUnsafe(length * 2);
          buffer.set(prefix);
        }
        r.bytes.copy(buffer, prefix.length, r.start, r.end);
        apply(buffer.subarray(0, length), metaOf(r.flags, r.mode, r.uid, r.gid, r.mtime));
      };
      // A file closed after a failure gives no runs to the merge (the run has failed): what is in memory is still applied.
      if (this.runs) this.runs.merge(each, undefined, memory);
      else for (let i = 0; i < memory.count; i++) each(memory.at(i));
    } finally {
      memory?.release();
      this.flags.fill(0);
      this.runs?.close();
      this.runs = undefined;
    }
  }

  /**
   * The records in memory that a run keeps (an entry's, or that an earlier run's no longer
   * applies), in descending byte order of path.
   */
  private sorted(): InMemoryRun {
    const kept = RECORDED | FORGOTTEN;
    let count = 0;
    for (let id = 1; id < this.paths.size; id++) if (this.flags[id] & kept) count++;
    const ids = new Int32Array(count);
    // The paths written out one after another, so that the sort compares bytes, not walks of the table.
    const starts = new Uint32Array(count + 1);
    for (let id = 1, n = 0; id < this.paths.size; id++) {
      if (!(this.flags[id] & kept)) continue;
      ids[n] = id;
      starts[n + 1] = starts[n] + this.paths.pathLength(id);
      n++;
    }
    // Its own memory, not a slice of Buffer's pool: it is freed at the end.
    const pool = Buffer.allocUnsafeSlow(starts[count]);
    for (let n = 0; n < count; n++) this.paths.writePath(ids[n], pool, starts[n]);
    const { flags, modes, uids, gids, mtimes } = this;
    return new InMemoryRun(ids, starts, pool, descendingOrder(pool, starts), { flags, modes, uids, gids, mtimes });
  }

  /** The records in memory go to a run on disk, and memory starts again empty. */
  private spillRun(spill: DirectorySpill): void {
    if (!this.runs) {
      const file = scratchOrNone(() => spill.open());
      if (!file) {
        this.spill = undefined;
        return;
      }
      this.runs = new RunFile(file, (r) => (r.flags & RECORDED) === 0);
    }
    const memory = this.sorted();
    try {
      this.runs.append(memory);
    } finally {
      memory.release();
    }
    this.freeMemory();
    this.startEmpty();
  }

  /** The number of `rel`, with room for a record. */
  private addRecord(rel: Uint8Array): number {
    const id = this.add(rel);
    this.pathBytes += rel.length;
    if (id >= this.modes.length) {
      this.modes = grown(this.modes, id);
      this.uids = grown(this.uids, id);
      this.gids = grown(this.gids, id);
      this.mtimes = grown(this.mtimes, id);
    }
    return id;
  }

  private startEmpty(): void {
    this.pathBytes = 0;
    this.paths = new PathTable();
    this.flags = new Uint8Array(1024);
    this.modes = new Uint32Array(1024);
    this.uids = new Uint32Array(1024);
    this.gids = new Uint32Array(1024);
    this.mtimes = new Uint32Array(1024);
  }

  private freeMemory(): void {
    for (const array of [this.flags, this.modes, this.uids, this.gids, this.mtimes]) freeNow(array.buffer);
    this.paths.release();
  }

  private add(rel: Uint8Array): number {
    if (this.spill && (this.paths.size >= this.spill.paths || this.pathBytes >= PATH_BYTES_IN_MEMORY)) this.spillRun(this.spill);
    const id = this.paths.add(rel);
    // The rest grow as entries are recorded: a writer that records none (du's, cat's) keeps only which are verified.
    this.flags = grown(this.flags, id);
    return id;
  }
}

/** The records in memory, sorted: their paths written out in `pool`, in `order`. */
class InMemoryRun implements SortedRecords {
  private readonly record: RunRecord;

  /** `ids`: the paths' numbers in the records' `columns`. */
  constructor(
    private readonly ids: Int32Array,
    private readonly starts: Uint32Array,
    private readonly pool: Buffer,
    private readonly order: Int32Array,
    private readonly columns: { flags: Uint8Array; modes: Uint32Array; uids: Uint32Array; gids: Uint32Array; mtimes: Uint32Array },
  ) {
    this.record = { bytes: pool, start: 0, end: 0, flags: 0, mode: 0, uid: 0, gid: 0, mtime: 0 };
  }

  get count(): number {
    return this.order.length;
  }

  at(index: number): RunRecord {
    const n = this.order[index];
    this.record.start = this.starts[n];
    this.record.end = this.starts[n + 1];
    const id = this.ids[n];
    const c = this.columns;
    this.record.flags = c.flags[id];
    this.record.mode = c.modes[id];
    this.record.uid = c.uids[id];
    this.record.gid = c.gids[id];
    this.record.mtime = c.mtimes[id];
    return this.record;
  }

  /** At once: a collection might come only after several runs' worth (bench/entries.sh). */
  release(): void {
    for (const array of [this.ids, this.starts, this.order, this.pool]) freeNow(array.buffer);
  }
}

function metaOf(flags: number, mode: number, uid: number, gid: number, mtime: number): DirMeta {
  return { mode, uid, gid, mtime, made: (flags & MADE) !== 0 };
}
