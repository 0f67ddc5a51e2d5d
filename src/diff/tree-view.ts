import { ENTRY_TYPES, type EntryType } from '../cpio/entry.js';
import { escapeName } from '../cpio/names.js';
import { freeNow } from '../decode/source.js';
import { PathTable, type TypedArray, fitted, grown } from '../extract/path-table.js';

/** An attribute that can differ between two items of the same type at one path. */
export type Attribute = 'mode' | 'owner' | 'size' | 'content' | 'target' | 'device' | 'links' | 'mtime';

/** An attribute that differs at one path, `a` and `b` as the text output shows them (names escaped, see escapeName). */
export interface AttributeDifference {
  kind: Attribute;
  a: string;
  b: string;
}

/** The owner, mode and mtime of what is at a path. */
export interface Attributes {
  /** Of which the permission bits (07777) are kept; a symlink's are meaningless on Linux and not compared. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds; undefined for a directory the archive never named, made only to hold its entries. */
  mtime?: number;
}

/** No record, no inode. */
export const NONE = -1;

/**
 * A tree as a comparison looks at it, in typed arrays: a whole tree is held, and an image of
 * many small entries is small (an object per path took hundreds of bytes). Each path of the
 * tree has a record, and, unless it is a directory, an inode, which the names of a hard-link
 * group share. A record is a type, owner, mode and mtime, and a regular file's size and sha256,
 * a symlink's target or a device's numbers. Paths are numbered in a PathTable, which the
 * builder of the view may number its own paths in too: a path without a record is not in it.
 */
export class TreeView {
  /** By a path's number: its record, or NONE. */
  private recordAt = new Int32Array(1024).fill(NONE);
  /** By a path's number: its inode, or NONE. */
  private inodeAt = new Int32Array(1024).fill(NONE);
  private records = 0;
  /** By a record's number, each an index of ENTRY_TYPES. */
  private types = new Uint8Array(1024);
  private modes = new Uint16Array(1024);
  private uids = new Uint32Array(1024);
  private gids = new Uint32Array(1024);
  /** NaN where unknown. */
  private mtimes = new Float64Array(1024);
  private sizes = new Float64Array(1024);
  /** A regular file's sha256, a symlink's target or a device's numbers, in the pool. */
  private bytesStart = new Uint32Array(1024);
  private bytesLength = new Uint16Array(1024);
  private pool = new Uint8Array(1 << 14);
  private poolUsed = 0;
  /** A record of an empty file, whose digest (every empty file's) the others share; or NONE. */
  private emptyFile = NONE;
  /** The paths in the view in the order of their bytes, once asked for. */
  private sorted: Uint32Array | undefined;
  /** By inode: where its names start in `names`, which holds them in path order. */
  private namesStart: Uint32Array | undefined;
  private names: Uint32Array | undefined;
  /**
   * By inode: the other view's inode it was last compared with, and whether their names
   * matched; for the other view as it was ordered then (its names).
   */
  private pairedView: TreeView | undefined;
  private pairedNames: Uint32Array | undefined;
  private pairedWith: Int32Array | undefined;
  private pairedSame: Uint8Array | undefined;

  readonly paths: PathTable;
  /** Whether the view made its path table, which it then frees with itself. */
  private readonly ownsPaths: boolean;

  /**
   * `shared`: the table another view numbers its paths in, so that a path of both is held once
   * (the two trees diff compares are mostly the same paths); by default a table of its own.
   */
  constructor(shared?: PathTable) {
    this.paths = shared ?? new PathTable();
    this.ownsPaths = shared === undefined;
  }

  /**
   * Frees the view's memory at once, as PathTable.release does, its path table's where it made
   * it: the view is not used again.
   */
  release(): void {
    this.resizeRecords((array) => {
      freeNow(array.buffer);
      return array;
    });
    for (const array of [this.recordAt, this.inodeAt, this.pool, this.sorted, this.namesStart, this.names, this.pairedWith, this.pairedSame]) if (array) freeNow(array.buffer);
    if (this.ownsPaths) this.paths.release();
  }

  /**
   * Gives back what the arrays hold past the records and paths made so far, as
   * PathTable.compact does, for a view kept while another is built. More may still be added.
   */
  compact(): void {
    const paths = this.paths.size;
    this.recordAt = fitted(this.recordAt, paths);
    this.inodeAt = fitted(this.inodeAt, paths);
    this.resizeRecords((array) => fitted(array, this.records));
    this.pool = fitted(this.pool, this.poolUsed);
    this.paths.compact();
  }

  /** A new record of a `type` with `attributes`; what its type has is added by the calls below. */
  addRecord(type: EntryType, attributes: Attributes): number {
    const record = this.records++;
    if (record === this.types.length) this.resizeRecords((array) => grown(array, record));
    this.types[record] = ENTRY_TYPES.indexOf(type);
    this.modes[record] = attributes.mode & 0o7777;
    this.uids[record] = attributes.uid;
    this.gids[record] = attributes.gid;
    this.mtimes[record] = attributes.mtime ?? NaN;
    return record;
  }

  /** A regular file's size and the sha256 of its content. */
  setContent(record: number, size: number, sha256: Uint8Array): void {
    if (size === 0 && this.emptyFile !== NONE) return this.copyContent(record, this.emptyFile);
    this.sizes[record] = size;
    this.setBytes(record, sha256);
    if (size === 0) this.emptyFile = record;
  }

  /** A copy of another record's content: a hard link's, whose data another entry gave. */
  copyContent(record: number, from: number): void {
    this.sizes[record] = this.sizes[from];
    this.bytesStart[record] = this.bytesStart[from];
    this.bytesLength[record] = this.bytesLength[from];
  }

  setTarget(record: number, target: Uint8Array): void {
    this.setBytes(record, target);
  }

  setDevice(record: number, major: number, minor: number): void {
    this.setBytes(record, new Uint8Array(new Uint32Array([major, minor]).buffer));
  }

  /** What is at the path numbered `path`: `record`, and `inode` (NONE for a directory, or a name with no other). */
  put(path: number, record: number, inode: number): void {
    this.recordAt = grown(this.recordAt, path, NONE);
    this.inodeAt = grown(this.inodeAt, path, NONE);
    this.recordAt[path] = record;
    this.inodeAt[path] = inode;
    this.sorted = undefined;
  }

  /** The paths in the view, by number, in the order of their bytes. */
  order(): Uint32Array {
    if (this.sorted) return this.sorted;
    let count = 0;
    for (let path = 0; path < this.recordAt.length; path++) if (this.recordAt[path] !== NONE) count++;
    const sorted = new Uint32Array(count);
    for (let path = 0, at = 0; path < this.recordAt.length; path++) if (this.recordAt[path] !== NONE) sorted[at++] = path;
    sorted.sort((a, b) => this.paths.compare(a, b));
    // Each inode's names in path order, by a counting sort over the sorted paths.
    let inodes = 0;
    for (const path of sorted) inodes = Math.max(inodes, this.inodeAt[path] + 1);
    const start = new Uint32Array(inodes + 1);
    for (const path of sorted) if (this.inodeAt[path] !== NONE) start[this.inodeAt[path] + 1]++;
    for (let inode = 0; inode < inodes; inode++) start[inode + 1] += start[inode];
    const names = new Uint32Array(start[inodes]);
    const filled = start.slice(0, inodes);
    for (const path of sorted) if (this.inodeAt[path] !== NONE) names[filled[this.inodeAt[path]]++] = path;
    this.namesStart = start;
    this.names = names;
    this.pairedView = undefined;
    this.sorted = sorted;
    return sorted;
  }

  typeAt(path: number): EntryType {
    return ENTRY_TYPES[this.types[this.recordAt[path]]];
  }

  /**
   * Each attribute that differs from the path numbered `path` here to `otherPath` in `other`,
   * the same path of the same type there; a size that differs stands for the content too.
   * Both views are ordered (order()). Owners and mtimes only where `compared` says.
   */
  differencesFrom(path: number, other: TreeView, otherPath: number, compared: { owner: boolean; mtime: boolean }): AttributeDifference[] {
    const x = this.recordAt[path];
    const y = other.recordAt[otherPath];
    const type = ENTRY_TYPES[this.types[x]];
    const out: AttributeDifference[] = [];
    if (type !== 'symlink' && this.modes[x] !== other.modes[y]) out.push({ kind: 'mode', a: this.mode(x), b: other.mode(y) });
    if (compared.owner && (this.uids[x] !== other.uids[y] || this.gids[x] !== other.gids[y])) out.push({ kind: 'owner', a: this.owner(x), b: other.owner(y) });
    if (type === 'file') {
      if (this.sizes[x] !== other.sizes[y]) out.push({ kind: 'size', a: String(this.sizes[x]), b: String(other.sizes[y]) });
      else if (!sameBytes(this.bytesOf(x), other.bytesOf(y))) {
        out.push({ kind: 'content', a: Buffer.from(this.bytesOf(x)).toString('hex'), b: Buffer.from(other.bytesOf(y)).toString('hex') });
      }
    }
    if (type === 'symlink' && !sameBytes(this.bytesOf(x), other.bytesOf(y))) {
      out.push({ kind: 'target', a: escapeName(Buffer.from(this.bytesOf(x))), b: escapeName(Buffer.from(other.bytesOf(y))) });
    }
    if ((type === 'char' || type === 'block') && !sameBytes(this.bytesOf(x), other.bytesOf(y))) out.push({ kind: 'device', a: this.device(x), b: other.device(y) });
    if (type !== 'dir' && !this.sameLinks(path, other, otherPath)) out.push({ kind: 'links', a: this.links(path), b: other.links(otherPath) });
    if (compared.mtime && !Number.isNaN(this.mtimes[x]) && !Number.isNaN(other.mtimes[y]) && this.mtimes[x] !== other.mtimes[y]) {
      out.push({ kind: 'mtime', a: String(this.mtimes[x]), b: String(other.mtimes[y]) });
    }
    return out;
  }

  /** Each array by record number, replaced by what `resize` makes of it. */
  private resizeRecords(resize: <A extends TypedArray>(array: A) => A): void {
    this.types = resize(this.types);
    this.modes = resize(this.modes);
    this.uids = resize(this.uids);
    this.gids = resize(this.gids);
    this.mtimes = resize(this.mtimes);
    this.sizes = resize(this.sizes);
    this.bytesStart = resize(this.bytesStart);
    this.bytesLength = resize(this.bytesLength);
  }

  private setBytes(record: number, bytes: Uint8Array): void {
    this.pool = grown(this.pool, this.poolUsed + bytes.length);
    this.pool.set(bytes, this.poolUsed);
    this.bytesStart[record] = this.poolUsed;
    this.bytesLength[record] = bytes.length;
    this.poolUsed += bytes.length;
  }

  private bytesOf(record: number): Uint8Array {
    return this.pool.subarray(this.bytesStart[record], this.bytesStart[record] + this.bytesLength[record]);
  }

  private mode(record: number): string {
    return `0${this.modes[record].toString(8).padStart(3, '0')}`;
  }

  private owner(record: number): string {
    return `${this.uids[record]}:${this.gids[record]}`;
  }

  private device(record: number): string {
    const [major, minor] = new Uint32Array(this.bytesOf(record).slice().buffer);
    return `${major}:${minor}`;
  }

  /** The names of the inode at `path`, itself included, in path order; none where it has no other. */
  private namesOf(path: number): Uint32Array {
    const inode = this.inodeAt[path];
    if (inode === NONE) return EMPTY;
    const names = this.names!.subarray(this.namesStart![inode], this.namesStart![inode + 1]);
    return names.length < 2 ? EMPTY : names;
  }

  /**
   * Whether the inode at `path` has the names the one at `otherPath` in `other` has: the same
   * path, so the same other names. Each name of a group asks it: the answer for the last inode
   * it was asked with is kept.
   */
  private sameLinks(path: number, other: TreeView, otherPath: number): boolean {
    const x = this.namesOf(path);
    const y = other.namesOf(otherPath);
    if (x.length !== y.length) return false;
    if (x.length === 0) return true;
    const inode = this.inodeAt[path];
    const otherInode = other.inodeAt[otherPath];
    if (this.pairedView !== other || this.pairedNames !== other.names) {
      // Freed now: validate pairs its expected view with one restored tree after another.
      for (const array of [this.pairedWith, this.pairedSame]) if (array) freeNow(array.buffer);
      this.pairedView = other;
      this.pairedNames = other.names;
      this.pairedWith = new Int32Array(this.namesStart!.length).fill(NONE);
      this.pairedSame = new Uint8Array(this.namesStart!.length);
    }
    if (this.pairedWith![inode] === otherInode) return this.pairedSame![inode] === 1;
    const same = x.every((name, i) => this.paths.pathOf(name).equals(other.paths.pathOf(y[i])));
    this.pairedWith![inode] = otherInode;
    this.pairedSame![inode] = same ? 1 : 0;
    return same;
  }

  /** The other names of the inode at `path`, escaped, in path order. */
  private links(path: number): string {
    return [...this.namesOf(path)].filter((name) => name !== path).map((name) => escapeName(this.paths.pathOf(name))).join(' ');
  }
}

const EMPTY = new Uint32Array(0);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
