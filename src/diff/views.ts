import type { Hash } from 'node:crypto';
import { type CpioEntry, entryType, splitDevice } from '../cpio/entry.js';
import { ModelTree } from '../extract/model.js';
import { MemoryPages, ScratchFile, scratchOrNone, tempScratchFile } from '../extract/scratch-file.js';
import type { OpenFile } from '../extract/tree.js';
import { EMPTY_SHA256, hashFile, walkTree } from '../extract/walk-tree.js';
import type { DirMeta } from '../extract/directories.js';
import { type Notice, TreeWriter } from '../extract/writer.js';
import { type Archive, type WalkOptions, walkImage } from '../image/walk.js';
import { NONE, type SortedTree, TreeView, deviceBytes } from './tree-view.js';
const { readlinkSync } = process.getBuiltinModule('node:fs');

export interface ImageTree {
  /** Its file closed by whoever has it (close). */
  tree: SortedTree;
  archives: Archive[];
  /** The entries the writer refused, which the tree leaves out: the first few, and how many. */
  refused: readonly Notice[];
  refusedCount: number;
}

/**
 * The tree `unpack IMAGE DIR` leaves in a new DIR as root, built by the writer's own rules on
 * a model (as `cat` does), device nodes included: the last entry wins, hard links join the
 * group the writer resolved, refused entries are left out. Each regular file's content is
 * hashed as its data streams past; none is kept. `devices: false`: as another user's unpack
 * leaves it, which skips device nodes.
 */
export async function describeImageTree(image: string, options: Pick<WalkOptions, 'start' | 'maxOutput'> & { devices?: boolean } = {}): Promise<ImageTree> {
  const tree = new TreeView(sortedTreeFile(image));
  const model = new HashingModelTree(tree);
  const writer = new ModelWriter(model, options.devices ?? true);
  let archives: Archive[];
  try {
    // Two trees are hashed in turn, node:crypto loaded: lz4 goes to its command (saveMemory).
    ({ archives } = await walkImage(image, writer, { start: options.start, maxOutput: options.maxOutput, saveMemory: true }));
    // A directory's record is kept in its node until the view's arrays by path are made: with
    // them made here, the model, the path table's index and they stood together, 2.6 MB at
    // 300,300 files (marks of /proc/self/status in a copy of `dist`, by hand).
    model.forgetNameCounts();
    writer.eachDirectoryMeta((rel, meta) => model.keepDirectoryRecord(rel, () => tree.addRecord('dir', meta)));
    // No path is looked for after: its index would stand beside the view's arrays by path.
    tree.paths.freeIndex();
    for (const [path, node] of model.paths()) {
      if (node.type !== 'dir') tree.put(path, node.type === 'file' ? model.contentOf(node.id) : node.from, node.id);
      else tree.put(path, model.directoryRecord(node.id) ?? tree.addRecord('dir', UNNAMED_DIRECTORY), NONE);
    }
  } catch (err) {
    tree.release();
    throw err;
  } finally {
    // Their scratch files closed, on a failure too.
    writer.release();
    model.release();
  }
  return { tree: sorted(tree), archives, refused: writer.refused, refusedCount: writer.refusedCount };
}

/** The view written out (TreeView.sortInto), its file closed where that fails. */
function sorted(view: TreeView): SortedTree {
  try {
    return view.sortInto();
  } catch (err) {
    view.release();
    throw err;
  }
}

const NO_PREFIX = new Uint8Array(0);

/** A parent the archive never named: unpack makes it 0755, owned by whoever runs it. */
const UNNAMED_DIRECTORY = { mode: 0o755, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

/**
 * A directory's tree as lstat sees it (symlinks never followed), each regular file's content
 * hashed. Its file closed by whoever has it (close).
 */
export function describeDirectoryTree(root: string): SortedTree {
  const tree = new TreeView(sortedTreeFile(root));
  /** The inodes of more than one link, by device and number. */
  const inodes = new Map<string, number>();
  try {
    walkTree(root, ({ path, rel, stats }) => {
      const type = entryType(stats.mode);
      if (!type) throw new Error(`${path.toString()}: unknown file type in mode 0${stats.mode.toString(8)}`);
      const attributes = { mode: stats.mode, uid: stats.uid, gid: stats.gid, mtime: Math.floor(stats.mtimeMs / 1000) };
      let record;
      if (type === 'file') {
        const { size, sha256 } = hashFile(path);
        record = tree.addRecord(type, attributes, sha256, size);
      } else if (type === 'symlink') record = tree.addRecord(type, attributes, readlinkSync(path, { encoding: 'buffer' }));
      else if (type === 'char' || type === 'block') record = tree.addRecord(type, attributes, deviceBytes(...splitDevice(stats.rdev)));
      else record = tree.addRecord(type, attributes);
      let inode = NONE;
      if (type !== 'dir' && stats.nlink > 1) {
        const key = `${stats.dev}:${stats.ino}`;
        inode = inodes.get(key) ?? inodes.size;
        inodes.set(key, inode);
      }
      tree.put(tree.paths.add(rel), record, inode);
    });
  } catch (err) {
    tree.release();
    throw err;
  }
  return sorted(tree);
}

/** The scratch file a tree of `input` is written into (tempScratchFile); or, where the system gives none, memory. */
function sortedTreeFile(input: string): ScratchFile {
  const what = `the tree of ${input}`;
  return scratchOrNone(() => tempScratchFile(what)) ?? new ScratchFile(new MemoryPages(), `the scratch file of ${what} in memory`);
}

/**
 * The model, where each file opened for an entry's data hashes what is written to it. A node
 * keeps the record of a symlink, device, fifo or socket entry; a regular file's record is made
 * when its data is written, with the owner, mode and mtime of the entry written through it.
 */
class HashingModelTree extends ModelTree {
  constructor(private readonly tree: TreeView) {
    super((e) => describeEntry(tree, e), tree.paths);
  }

  override createFile(rel: Buffer, e: CpioEntry): OpenFile {
    const file = super.createFile(rel, e);
    return new HashingFile(file, this, this.get(rel)!.id, true);
  }

  override openFile(rel: Buffer, e: CpioEntry): OpenFile {
    return new HashingFile(super.openFile(rel, e), this, this.get(rel)!.id, false);
  }

  /** Keeps the record `make` gives for `rel` in its node, where the tree holds a directory there. */
  keepDirectoryRecord(rel: Buffer, make: () => number): void {
    const node = this.get(rel);
    if (node?.type === 'dir') this.keepFor(node.id, make());
  }

  /** The record kept for the directory node `node`, if any (forgetNameCounts, then keepDirectoryRecord). */
  directoryRecord(node: number): number | undefined {
    const record = this.keptOf(node);
    return record === NONE ? undefined : record;
  }

  /**
   * The record of the content of the file node `node`, which every file the walk made has (a
   * file's node keeps no record of its entry: describeEntry makes none).
   */
  contentOf(node: number): number {
    const record = this.keptOf(node);
    if (record === NONE) throw new Error(`file node ${node} has no content: the walk ended before its data`);
    return record;
  }

  /**
   * The node's content is now what the entry `e` wrote: `sha256` of `size` bytes, or the node's
   * own where none; the names of a hard-link group share it, as they share an inode on disk.
   */
  setContent(node: number, e: CpioEntry, size: number, sha256: Uint8Array | undefined): void {
    this.keepFor(node, sha256 ? this.tree.addRecord('file', e, sha256, size) : this.tree.addCopy(e, this.keptOf(node)));
  }
}

/**
 * As on disk: a new file's content is what is written to it; an open hard link's is replaced
 * only when it is truncated for new data, and keeps its group's otherwise.
 */
class HashingFile implements OpenFile {
  /** Made at the first write: an empty file's digest is known (EMPTY_SHA256). */
  private hash: Hash | undefined;
  private size = 0;

  constructor(
    private readonly inner: OpenFile,
    private readonly model: HashingModelTree,
    private readonly node: number,
    /** Whether the content is what is written here, not the group's: a new file, or one truncated. */
    private replaced: boolean,
  ) {}

  truncate(size: number): void {
    this.inner.truncate(size);
    this.replaced = true;
    this.hash = undefined;
    this.size = 0;
  }

  write(chunk: Uint8Array): void {
    this.inner.write(chunk);
    (this.hash ??= sha256()).update(chunk);
    this.size += chunk.length;
  }

  finish(e: CpioEntry): void {
    this.inner.finish(e);
    this.model.setContent(this.node, e, this.size, this.replaced ? (this.hash?.digest() ?? EMPTY_SHA256) : undefined);
  }

  close(): void {
    this.inner.close();
  }
}

/** The writer with device nodes made whoever runs it (unless told not to), and the entry each directory's mode comes from. */
class ModelWriter extends TreeWriter {
  protected override readonly recordsDirectories = true;

  constructor(tree: HashingModelTree, devices: boolean) {
    super(tree, { devices });
  }

  /**
   * What unpack applies at the end to each directory a directory entry named, by its relative
   * path: its last entry's owner, mode and mtime. The records are gone after.
   */
  eachDirectoryMeta(apply: (rel: Buffer, meta: DirMeta) => void): void {
    this.dirs.childrenFirst(NO_PREFIX, apply);
  }
}

/** The record of a symlink, device, fifo or socket entry; NONE for a regular file's or a directory's, made from elsewhere. */
function describeEntry(tree: TreeView, e: CpioEntry): number {
  const type = entryType(e.mode);
  if (!type || type === 'file' || type === 'dir') return NONE;
  if (type === 'symlink') return tree.addRecord(type, e, e.linkTarget!);
  if (type === 'char' || type === 'block') return tree.addRecord(type, e, deviceBytes(e.rdevMajor, e.rdevMinor));
  return tree.addRecord(type, e);
}

/** Got when a file is hashed, not when this module loads: restore imports it, and node:crypto adds to its peak RSS. */
function sha256(): Hash {
  return process.getBuiltinModule('node:crypto').createHash('sha256');
}
