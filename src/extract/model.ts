import type { CpioEntry, EntryType } from '../cpio/entry.js';
import { PATH_MAX } from '../cpio/parser.js';
import type { OpenFile, SpecialType, Tree } from './tree.js';

/** What is at one path of the model; the names of a hard-link group share one. */
export interface ModelNode<T> {
  type: EntryType;
  /**
   * What the model keeps of the entry this node's content comes from: for a regular file the
   * entry whose data it holds, for a symlink its target's, for a device its numbers'; none for
   * a directory.
   */
  from?: T;
}

/** Linux's NAME_MAX: a longer name component fails with ENAMETOOLONG on its filesystems. */
const NAME_MAX = 255;
const SLASH = 0x2f;

/**
 * The tree `unpack` leaves in a new target directory, in memory, for TreeWriter to build by
 * the writer's own rules: for every path what is there, and for a regular file the entry whose
 * data it holds. No data is kept. It fails where Linux does for reasons the names and the
 * archive alone decide (as unpack meets them on ext4): a name component longer than NAME_MAX,
 * a symlink target that is empty or of PATH_MAX bytes, rmdir of a directory that is not
 * empty. Whether a whole path is longer than PATH_MAX depends on
 * where the target is, so that is not modelled.
 */
export class ModelTree<T> implements Tree {
  /** By relative path, as latin1 keys so that any byte survives. */
  private readonly nodes = new Map<string, ModelNode<T>>();
  /** How many names each directory holds: rmdir needs it empty. */
  private readonly children = new Map<string, number>();

  /**
   * `keep`: what a node keeps of the entry its content comes from, no more than its user needs:
   * a model holds every path of the tree, and a whole entry (its name a Buffer) is most of a
   * node's memory.
   */
  constructor(private readonly keep: (e: CpioEntry) => T) {}

  /** What the tree holds at `rel`. */
  get(rel: Buffer): ModelNode<T> | undefined {
    return this.nodes.get(rel.toString('latin1'));
  }

  /** Every path the tree holds, as a latin1 key, with what is there. */
  paths(): IterableIterator<[string, ModelNode<T>]> {
    return this.nodes.entries();
  }

  kind(rel: Buffer): EntryType | undefined {
    checkNameLengths(rel, 'lstat');
    return this.get(rel)?.type;
  }

  mkdir(rel: Buffer): void {
    this.add(rel, { type: 'dir' }, 'mkdir');
  }

  rmdir(rel: Buffer): void {
    if (this.children.get(rel.toString('latin1'))) throw errno('ENOTEMPTY', 'rmdir');
    this.remove(rel);
  }

  unlink(rel: Buffer): void {
    this.remove(rel);
  }

  link(existing: Buffer, rel: Buffer): void {
    this.add(rel, this.get(existing)!, 'link');
  }

  symlink(rel: Buffer, e: CpioEntry): void {
    const target = e.linkTarget!;
    if (target.length === 0) throw errno('ENOENT', 'symlink');
    if (target.length >= PATH_MAX) throw errno('ENAMETOOLONG', 'symlink');
    this.add(rel, { type: 'symlink', from: this.keep(e) }, 'symlink');
  }

  makeNode(rel: Buffer, e: CpioEntry, type: SpecialType): void {
    this.add(rel, { type, from: this.keep(e) }, 'mknod');
  }

  createFile(rel: Buffer, e: CpioEntry): OpenFile {
    const kept = this.keep(e);
    const node: ModelNode<T> = { type: 'file', from: kept };
    this.add(rel, node, 'open');
    return new ModelFile(node, kept);
  }

  openFile(rel: Buffer, e: CpioEntry): OpenFile {
    return new ModelFile(this.get(rel)!, this.keep(e));
  }

  /** As a create on Linux: nothing at `rel`, and no name component too long. */
  private add(rel: Buffer, node: ModelNode<T>, syscall: string): void {
    checkNameLengths(rel, syscall);
    const key = rel.toString('latin1');
    if (this.nodes.has(key)) throw errno('EEXIST', syscall);
    this.nodes.set(key, node);
    const parent = parentKey(rel);
    this.children.set(parent, (this.children.get(parent) ?? 0) + 1);
  }

  private remove(rel: Buffer): void {
    const key = rel.toString('latin1');
    this.nodes.delete(key);
    this.children.delete(key);
    const parent = parentKey(rel);
    this.children.set(parent, this.children.get(parent)! - 1);
  }
}

/**
 * A file opened for an entry's data. Truncated to the entry's size, it then receives exactly
 * that data from its start: its content becomes the entry's.
 */
class ModelFile<T> implements OpenFile {
  /** `kept`: what the node keeps of the entry whose data this is. */
  constructor(private readonly node: ModelNode<T>, private readonly kept: T) {}

  truncate(): void {
    this.node.from = this.kept;
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

function parentKey(rel: Buffer): string {
  const slash = rel.lastIndexOf(SLASH);
  return slash < 0 ? '' : rel.toString('latin1', 0, slash);
}

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} failed`), { code, syscall });
}
