import { type CpioEntry, ENTRY_TYPES, type EntryType } from '../cpio/entry.js';
import { PATH_MAX } from '../cpio/parser.js';
import { freeNow } from '../decode/source.js';
import { PathTable, grown } from './path-table.js';
import { type ScratchFile, tempScratchFile } from './scratch-file.js';
import type { OpenFile, SpecialType, Tree } from './tree.js';

/** What is at one path of the model; the names of a hard-link group share one. */
export interface ModelNode {
  /** The node's number, the same for every name of a hard-link group. */
  id: number;
  type: EntryType;
  /**
   * The number the model's user kept of the entry this node's content comes from (its `keep`):
   * for a regular file the entry whose data it holds, for a symlink its target's, for a device
   * its numbers'; NONE for a directory, or where the user kept nothing.
   */
  from: number;
}

/** Linux's NAME_MAX: a longer name component fails with ENAMETOOLONG on its filesystems. */
const NAME_MAX = 255;
const SLASH = 0x2f;
const DIR = ENTRY_TYPES.indexOf('dir');
/** No node at a path; nothing kept of an entry. */
export const NONE = -1;

/**
 * The tree `unpack` leaves in a new target directory, in memory, for TreeWriter to build by
 * the writer's own rules: for every path what is there, and for a regular file the entry whose
 * data it holds. No data is kept. It fails where Linux does for reasons the names and the
 * archive alone decide (as unpack meets them on ext4): a name component longer than NAME_MAX,
 * a symlink target that is empty or of PATH_MAX bytes, rmdir of a directory that is not
 * empty. Whether a whole path is longer than PATH_MAX depends on
 * where the target is, so that is not modelled. Paths and nodes are numbers in typed arrays
 * (PathTable): a model holds every path of the tree.
 */
export class ModelTree implements Tree {
  /** By a path's number: the node there, or NONE. */
  private nodeAt = new Int32Array(1024).fill(NONE);
  /** By a node's number: its type, an index of ENTRY_TYPES. */
  private types = new Uint8Array(1024);
  /**
   * By a node's number: the number its user kept of its entry, or NONE; a directory's, which
   * keeps nothing, how many names it holds (rmdir needs it empty). No array by path for the
   * count: two bytes a path had held it.
   */
  private kept = new Int32Array(1024).fill(NONE);
  private nodesMade = 0;

  /**
   * `keep`: the number a node keeps of the entry its content comes from (its user's record of
   * it, up to 2^31 - 1, or NONE), a number and no object: a model holds every path of the tree.
   * `replaced` is what the node kept before, which nothing else holds, for the user to record
   * `e` in its place (a hard link that carries data, most often the group's last name); NONE
   * for a new node. `node`: the node's number. `names`: the table its paths are numbered in,
   * which its user may number other paths in too.
   */
  constructor(
    private readonly keep: (e: CpioEntry, replaced: number, node: number) => number,
    readonly names = new PathTable(),
  ) {}

  /**
   * Frees the model's memory at once, as TreeWriter.release does; its path table, which its
   * user may share, is left. The model is not used again.
   */
  release(): void {
    freeNow(this.releaseButKept().buffer);
  }

  /**
   * As release, but for the numbers its nodes kept (a directory's: how many names it holds), by
   * node, which it returns: for its user to read, and free, when the rest is gone.
   */
  releaseButKept(): Int32Array {
    for (const array of [this.nodeAt, this.types]) freeNow(array.buffer);
    return this.kept;
  }

  /** A scratch file of the writer's, in the temporary directory: a model has no directory of its own. */
  openScratch(what: string): ScratchFile {
    return tempScratchFile(`${what} of a model of a tree`);
  }

  /** The type of what the tree holds at the path numbered `path` (-1: a path the table has not). */
  typeAt(path: number): EntryType | undefined {
    const node = this.nodeOf(path);
    return node === NONE ? undefined : ENTRY_TYPES[this.types[node]];
  }

  /** What the tree holds at `rel`. */
  get(rel: Buffer): ModelNode | undefined {
    const id = this.names.find(rel);
    return this.node(this.nodeOf(id));
  }

  /** Every path the tree holds, by its number, with what is there. */
  *paths(): Generator<[number, ModelNode]> {
    for (let id = 1; id < this.names.size; id++) {
      const node = this.node(this.nodeOf(id));
      if (node) yield [id, node];
    }
  }

  /** The bytes of the path numbered `path`. */
  pathOf(path: number): Buffer {
    return this.names.pathOf(path);
  }

  /** How many numbers paths have been given: each is below it. */
  get pathCount(): number {
    return this.names.size;
  }

  /** How many nodes have been made: each node's number is below it. */
  get nodeCount(): number {
    return this.nodesMade;
  }

  kind(rel: Buffer): EntryType | undefined {
    checkNameLengths(rel, 'lstat');
    return this.typeAt(this.names.find(rel));
  }

  mkdir(rel: Buffer): void {
    this.put(this.vacant(rel, 'mkdir'), this.newNode('dir', undefined));
  }

  rmdir(rel: Buffer): void {
    const node = this.nodeOf(this.names.find(rel));
    if (node !== NONE && this.types[node] === DIR && this.kept[node] > 0) throw errno('ENOTEMPTY', 'rmdir');
    this.remove(rel);
  }

  unlink(rel: Buffer): void {
    this.remove(rel);
  }

  link(existing: Buffer, rel: Buffer): void {
    this.put(this.vacant(rel, 'link'), this.nodeOf(this.names.find(existing)));
  }

  symlink(rel: Buffer, e: CpioEntry): void {
    const target = e.linkTarget!;
    if (target.length === 0) throw errno('ENOENT', 'symlink');
    if (target.length >= PATH_MAX) throw errno('ENAMETOOLONG', 'symlink');
    this.put(this.vacant(rel, 'symlink'), this.newNode('symlink', e));
  }

  makeNode(rel: Buffer, e: CpioEntry, type: SpecialType): void {
    this.put(this.vacant(rel, 'mknod'), this.newNode(type, e));
  }

  createFile(rel: Buffer, e: CpioEntry): OpenFile {
    const path = this.vacant(rel, 'open');
    const node = this.newNode('file', e);
    this.put(path, node);
    return new ModelFile(this, node);
  }

  openFile(rel: Buffer, e: CpioEntry): OpenFile {
    return new ModelFile(this, this.nodeOf(this.names.find(rel)), e);
  }

  /**
   * The node's content now comes from `e`, a hard link that carries data: kept only then, not
   * for each link opened (a link of no data leaves the group's content as it was).
   */
  contentFrom(node: number, e: CpioEntry): void {
    this.kept[node] = this.keep(e, this.kept[node], node);
  }

  /** The number the node's user kept, or NONE. */
  protected keptOf(node: number): number {
    return this.kept[node];
  }

  /**
   * The node now keeps `record`, a record its user made of its content later than its entry
   * (diff's, once a file's data is hashed): one array by node for both.
   */
  protected keepFor(node: number, record: number): void {
    this.kept[node] = record;
  }

  /**
   * Each directory's node keeps NONE, where it counted its names: for a user done with making
   * and removing, which may then keep a record of its own there (keepFor). rmdir is not called
   * after.
   */
  forgetNameCounts(): void {
    for (let node = 0; node < this.nodesMade; node++) if (this.types[node] === DIR) this.kept[node] = NONE;
  }

  /**
   * The node at the path numbered `path` (-1 where the table has no such path), or NONE: the
   * table may number paths of another tree too (diff's two trees share one), which `nodeAt`
   * has not grown to.
   */
  private nodeOf(path: number): number {
    return path >= 0 && path < this.nodeAt.length ? this.nodeAt[path] : NONE;
  }

  private node(id: number): ModelNode | undefined {
    if (id === NONE) return undefined;
    const type = this.types[id];
    return { id, type: ENTRY_TYPES[type], from: type === DIR ? NONE : this.kept[id] };
  }

  /** A node for a create that succeeds: nodes are not reused, so there are no more than the paths made. */
  private newNode(type: EntryType, e: CpioEntry | undefined): number {
    const id = this.nodesMade++;
    this.types = grown(this.types, id);
    this.kept = grown(this.kept, id, NONE);
    this.types[id] = ENTRY_TYPES.indexOf(type);
    if (type === 'dir') this.kept[id] = 0;
    else if (e) this.kept[id] = this.keep(e, NONE, id);
    return id;
  }

  /** The number of `rel`, where a create may put a node, as on Linux: nothing there, and no name component too long. */
  private vacant(rel: Buffer, syscall: string): number {
    checkNameLengths(rel, syscall);
    const path = this.names.add(rel);
    this.nodeAt = grown(this.nodeAt, path, NONE);
    if (this.nodeAt[path] !== NONE) throw errno('EEXIST', syscall);
    return path;
  }

  private put(path: number, node: number): void {
    this.nodeAt[path] = node;
    this.countName(path, 1);
  }

  private remove(rel: Buffer): void {
    const id = this.names.find(rel);
    if (this.nodeOf(id) === NONE) return;
    this.nodeAt[id] = NONE;
    this.countName(id, -1);
  }

  /**
   * Counts a name made (1) or removed (-1) at `path` in the node of its directory (the writer
   * makes each parent a directory first; a node of another type keeps its user's number). The
   * root has no node: it is never removed.
   */
  private countName(path: number, change: 1 | -1): void {
    const dir = this.nodeOf(this.names.parentOf(path));
    if (dir !== NONE && this.types[dir] === DIR) this.kept[dir] += change;
  }
}

/**
 * A file opened for an entry's data. Truncated to the entry's size, it then receives exactly
 * that data from its start: its content becomes the entry's.
 */
class ModelFile implements OpenFile {
  /** `linked`: the entry of a hard link opened, whose data, if it has any, replaces the node's. */
  constructor(private readonly model: ModelTree, private readonly node: number, private readonly linked?: CpioEntry) {}

  truncate(): void {
    if (this.linked) this.model.contentFrom(this.node, this.linked);
  }

  write(): void {}

  finish(): void {}

  close(): void {}
}

function checkNameLengths(rel: Buffer, syscall: string): void {
  for (let start = 0; start <= rel.length; ) {
    let end = rel.indexOf(SLASH, start);
    if (end < 0) end = rel.length;
    if (end - start > NAME_MAX) throw errno('ENAMETOOLONG', syscall);
    start = end + 1;
  }
}

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} failed`), { code, syscall });
}
