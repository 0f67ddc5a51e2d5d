import type { CpioEntry } from '../cpio/entry.js';
import { freeNow } from '../decode/source.js';
import { PathTable, grown } from './path-table.js';

/** What the end applies to a directory: its entry's owner, mode and mtime. */
export interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** This run made it, with dirCreateMode of the entry's mode; else it was there. */
  made: boolean;
}

const VERIFIED = 1;
const RECORDED = 2;
const MADE = 4;

/**
 * The writer's record of directories, by relative path: those known to be real directories
 * (this run made or checked them), and for each directory entry what the end applies. In
 * typed arrays by the path's number, not a Map of latin1 keys: an archive may hold hundreds of
 * thousands of directories, and the kernel keeps a record of each too (its dir_list).
 */
export class DirectoryRecords {
  private readonly paths = new PathTable();
  private flags = new Uint8Array(1024);
  private modes = new Uint32Array(1024);
  private uids = new Uint32Array(1024);
  private gids = new Uint32Array(1024);
  private mtimes = new Uint32Array(1024);

  /** Frees the records' memory at once, as PathTable.release does: they are not used again. */
  release(): void {
    for (const array of [this.flags, this.modes, this.uids, this.gids, this.mtimes]) freeNow(array.buffer);
    this.paths.release();
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
    const id = this.add(rel);
    this.flags[id] = VERIFIED | RECORDED | (made ? MADE : 0);
    this.modes[id] = e.mode;
    this.uids[id] = e.uid;
    this.gids[id] = e.gid;
    this.mtimes[id] = e.mtime;
  }

  /** `rel` is no longer a directory: an empty one removed. */
  forget(rel: Uint8Array): void {
    const id = this.paths.find(rel);
    if (id > 0) this.flags[id] = 0;
  }

  /** What the end applies to the directory at `rel`, if a directory entry named it. */
  get(rel: Uint8Array): DirMeta | undefined {
    const id = this.paths.find(rel);
    return id > 0 && this.flags[id] & RECORDED ? this.meta(id) : undefined;
  }

  /**
   * Every directory a directory entry named, deepest first, with its relative path after
   * `prefix`; then the records are cleared. The paths are written into one buffer, each over the
   * last: a Buffer per directory was garbage that stayed in the peak (8 MB at 300,300).
   */
  *deepestFirst(prefix: Uint8Array): Generator<[Buffer, DirMeta]> {
    let count = 0;
    for (let id = 1; id < this.paths.size; id++) if (this.flags[id] & RECORDED) count++;
    const order = new Int32Array(count);
    const depths = new Uint16Array(this.paths.size);
    for (let id = 1, n = 0; id < this.paths.size; id++) {
      if (!(this.flags[id] & RECORDED)) continue;
      order[n++] = id;
      depths[id] = this.paths.depthOf(id);
    }
    order.sort((a, b) => depths[b] - depths[a]);
    let buffer = Buffer.allocUnsafe(prefix.length + 4096);
    buffer.set(prefix);
    for (const id of order) {
      const length = prefix.length + this.paths.pathLength(id);
      if (length > buffer.length) {
        buffer = Buffer.allocUnsafe(length * 2);
        buffer.set(prefix);
      }
      yield [buffer.subarray(0, this.paths.writePath(id, buffer, prefix.length)), this.meta(id)];
    }
    this.flags.fill(0);
  }

  private add(rel: Uint8Array): number {
    const id = this.paths.add(rel);
    if (id >= this.flags.length) {
      this.flags = grown(this.flags, id);
      this.modes = grown(this.modes, id);
      this.uids = grown(this.uids, id);
      this.gids = grown(this.gids, id);
      this.mtimes = grown(this.mtimes, id);
    }
    return id;
  }

  private meta(id: number): DirMeta {
    const flags = this.flags[id];
    return { mode: this.modes[id], uid: this.uids[id], gid: this.gids[id], mtime: this.mtimes[id], made: (flags & MADE) !== 0 };
  }
}
