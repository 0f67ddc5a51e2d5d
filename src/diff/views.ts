import type { Hash } from 'node:crypto';
import { type CpioEntry, type EntryType, entryType, splitDevice } from '../cpio/entry.js';
import { type ModelNode, ModelTree } from '../extract/model.js';
import type { OpenFile } from '../extract/tree.js';
import { walkTree } from '../extract/walk-tree.js';
import type { DirMeta } from '../extract/directories.js';
import { TreeWriter } from '../extract/writer.js';
import { type Archive, type WalkOptions, walkImage } from '../image/walk.js';
const { createHash } = process.getBuiltinModule('node:crypto');
const { closeSync, constants, openSync, readSync, readlinkSync } = process.getBuiltinModule('node:fs');

/** What is at one path of a tree, as far as a comparison looks. */
export interface TreeItem {
  type: EntryType;
  /** The permission bits (07777); a symlink's are meaningless on Linux and not compared. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds; undefined for a directory the archive never named, made only to hold its entries. */
  mtime?: number;
  /** A regular file's size and the sha256 of its content, in hex. */
  size?: number;
  sha256?: string;
  /** A symlink's target, raw bytes. */
  target?: Buffer;
  /** A device's numbers. */
  rdevMajor?: number;
  rdevMinor?: number;
  /** The other paths of the tree that share its inode, sorted; absent when none does. */
  links?: Buffer[];
}

/** A tree by relative path (latin1 keys, so that any byte survives); the root itself is not in it. */
export type TreeView = Map<string, TreeItem>;

export interface ImageTree {
  tree: TreeView;
  archives: Archive[];
}

const CHUNK = 1 << 20;

/**
 * The tree `unpack IMAGE DIR` leaves in a new DIR as root, built by the writer's own rules on
 * a model (as `cat` does), device nodes included: the last entry wins, hard links join the
 * group the writer resolved, refused entries are left out. Each regular file's content is
 * hashed as its data streams past; none is kept.
 */
export async function describeImageTree(image: string, options: Pick<WalkOptions, 'start' | 'maxOutput'> = {}): Promise<ImageTree> {
  const model = new HashingModelTree();
  const writer = new ModelWriter(model);
  // Two trees are hashed in turn, node:crypto loaded: lz4 goes to its command (saveMemory).
  const { archives } = await walkImage(image, writer, { start: options.start, maxOutput: options.maxOutput, saveMemory: true });
  const tree: TreeView = new Map();
  /** By node number: how many names it has; a hard-link group's are gathered. */
  const names = new Uint32Array(model.nodeCount);
  for (const [, node] of model.paths()) names[node.id]++;
  const groups = new Map<number, Buffer[]>();
  for (const [path, node] of model.paths()) {
    const rel = model.pathOf(path);
    const dirEntry = node.type === 'dir' ? writer.directoryMeta(rel) : undefined;
    tree.set(rel.toString('latin1'), describeNode(node, model.files.get(node.id), dirEntry));
    if (node.type !== 'dir' && names[node.id] > 1) groups.get(node.id)?.push(rel) ?? groups.set(node.id, [rel]);
  }
  addLinks(tree, groups.values());
  return { tree, archives };
}

/** A directory's tree as lstat sees it (symlinks never followed), each regular file's content hashed. */
export function describeDirectoryTree(root: string): TreeView {
  const tree: TreeView = new Map();
  const inodes = new Map<string, Buffer[]>();
  walkTree(root, ({ path, rel, stats }) => {
    const type = entryType(stats.mode);
    if (!type) throw new Error(`${path.toString()}: unknown file type in mode 0${stats.mode.toString(8)}`);
    const item: TreeItem = { type, mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid, mtime: Math.floor(stats.mtimeMs / 1000) };
    if (type === 'file') Object.assign(item, hashFile(path));
    else if (type === 'symlink') item.target = readlinkSync(path, { encoding: 'buffer' });
    else if (type === 'char' || type === 'block') {
      const [rdevMajor, rdevMinor] = splitDevice(stats.rdev);
      Object.assign(item, { rdevMajor, rdevMinor });
    }
    tree.set(rel.toString('latin1'), item);
    if (type !== 'dir' && stats.nlink > 1) {
      const key = `${stats.dev}:${stats.ino}`;
      inodes.get(key)?.push(rel) ?? inodes.set(key, [rel]);
    }
  });
  addLinks(tree, inodes.values());
  return tree;
}

/** The content of a regular file: what is unpacked for it on disk. */
interface FileContent {
  size: number;
  sha256: string;
  /** The inode's owner, mode and mtime: the last entry's written through it. */
  meta: Attributes;
}

type Attributes = Pick<TreeItem, 'mode' | 'uid' | 'gid' | 'mtime'>;

/**
 * A node of the model keeps what a symlink or a device is, as the item the view gives it; a
 * regular file's is in FileContent, whose owner, mode and mtime come from another entry.
 */
type Node = ModelNode<TreeItem | undefined>;

/** The model, where each file opened for an entry's data hashes what is written to it. */
class HashingModelTree extends ModelTree<TreeItem | undefined> {
  /** By node number: the names of a hard-link group share one, as they share an inode on disk. */
  readonly files = new Map<number, FileContent>();

  constructor() {
    super(describeEntry);
  }

  override createFile(rel: Buffer, e: CpioEntry): OpenFile {
    const file = super.createFile(rel, e);
    return new HashingFile(file, this.files, this.get(rel)!.id, true);
  }

  override openFile(rel: Buffer, e: CpioEntry): OpenFile {
    return new HashingFile(super.openFile(rel, e), this.files, this.get(rel)!.id, false);
  }
}

/**
 * As on disk: a new file's content is what is written to it; an open hard link's is replaced
 * only when it is truncated for new data, and keeps its group's otherwise.
 */
class HashingFile implements OpenFile {
  private hash: Hash | undefined;
  private size = 0;

  constructor(
    private readonly inner: OpenFile,
    private readonly files: Map<number, FileContent>,
    private readonly node: number,
    fresh: boolean,
  ) {
    if (fresh) this.hash = createHash('sha256');
  }

  truncate(size: number): void {
    this.inner.truncate(size);
    this.hash = createHash('sha256');
    this.size = 0;
  }

  write(chunk: Uint8Array): void {
    this.inner.write(chunk);
    this.hash!.update(chunk);
    this.size += chunk.length;
  }

  finish(e: CpioEntry): void {
    this.inner.finish(e);
    const before = this.files.get(this.node);
    const content = this.hash ? { size: this.size, sha256: this.hash.digest('hex') } : before!;
    this.files.set(this.node, { size: content.size, sha256: content.sha256, meta: attributes(e) });
  }

  close(): void {
    this.inner.close();
  }
}

/** The writer with device nodes made whoever runs it, and the entry each directory's mode comes from. */
class ModelWriter extends TreeWriter {
  constructor(tree: HashingModelTree) {
    super(tree, { devices: true });
  }

  /** What unpack applies to the directory at `rel` at the end: its last entry's owner, mode and mtime. */
  directoryMeta(rel: Buffer): DirMeta | undefined {
    return this.dirs.get(rel);
  }
}

function describeNode(node: Node, content: FileContent | undefined, dirEntry: DirMeta | undefined): TreeItem {
  if (node.type === 'dir') {
    // A parent the archive never named: unpack makes it 0755, owned by whoever runs it.
    if (!dirEntry) return { type: 'dir', mode: 0o755, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    return { type: 'dir', ...attributes(dirEntry) };
  }
  if (node.type === 'file') return { type: 'file', ...content!.meta, size: content!.size, sha256: content!.sha256 };
  // The names of a hard-link group share the node: each gets its own item, for its own links.
  return { ...node.from! };
}

/** The item of a symlink or a device entry; a regular file's is made from what is hashed. */
function describeEntry(e: CpioEntry): TreeItem | undefined {
  const type = entryType(e.mode);
  if (!type || type === 'file' || type === 'dir') return undefined;
  const item: TreeItem = { type, ...attributes(e) };
  if (type === 'symlink') item.target = e.linkTarget;
  if (type === 'char' || type === 'block') Object.assign(item, { rdevMajor: e.rdevMajor, rdevMinor: e.rdevMinor });
  return item;
}

function attributes(e: Pick<CpioEntry, 'mode' | 'uid' | 'gid' | 'mtime'>): Attributes {
  return { mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: e.mtime };
}

/** Each item of a group of two or more names gets the others; a lone name (its other links elsewhere) none. */
function addLinks(tree: TreeView, groups: Iterable<Buffer[]>): void {
  for (const group of groups) {
    if (group.length < 2) continue;
    for (const rel of group) {
      tree.get(rel.toString('latin1'))!.links = group.filter((other) => other !== rel).sort(Buffer.compare);
    }
  }
}

function hashFile(path: Buffer): { size: number; sha256: string } {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  let size = 0;
  try {
    for (let n; (n = readSync(fd, buffer, 0, CHUNK, null)) > 0; size += n) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return { size, sha256: hash.digest('hex') };
}
