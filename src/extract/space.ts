import { type Archive, type WalkOptions, walkImage } from '../image/walk.js';
import { freeNow } from '../decode/source.js';
import { entryType } from '../cpio/entry.js';
import { PATH_MAX } from '../cpio/parser.js';
import { ModelTree, NONE } from './model.js';
import { PathTable, grown } from './path-table.js';
import { sortInPlace } from './sort.js';
import { TreeWriter } from './writer.js';

/** What the regular files under one directory hold: each hard-link group once, as its data is stored once. */
export interface DirectorySpace {
  /** Apparent size: the sum of the files' sizes, as `du --apparent-size -b` counts file data. */
  bytes: number;
  files: number;
}

/** One directory of the tree: its path (the root's is empty), how many levels below the root, and its space. */
export interface DirectoryEntry extends DirectorySpace {
  /**
   * A view of a buffer the next directory's path is written into: copy it to keep it. A Buffer
   * a path (from Node's pool) left the pool's slabs for the collector: `du` of 300,300
   * directories peaked 3 MB higher (by hand).
   */
  path: Buffer;
  depth: number;
}

export interface ImageSpace {
  /** The whole tree's: the root's. */
  total: DirectorySpace;
  /**
   * Every directory of the tree, the root and empty ones included, largest first, then by path
   * (raw bytes); each made as it is read, none kept: an image may hold many.
   */
  directories: Iterable<DirectoryEntry>;
  /** The size of each regular file of the tree, each hard-link group once. */
  fileSizes: Uint32Array;
  archives: Archive[];
  /** By archive index: the bytes of the tree whose data comes from that archive's entries. */
  inTree: Map<number, number>;
}

/**
 * The space the tree `unpack IMAGE DIR` leaves as root takes, built by the writer's own rules
 * on a model, as `diff` and `cat` build it: the last entry named a path wins, the names of a
 * hard-link group share one file, refused entries are left out. No data is read where it can
 * be skipped.
 */
export async function measureImage(image: string, options: Pick<WalkOptions, 'start' | 'maxOutput'> = {}): Promise<ImageSpace> {
  /** The index of the archive being read. */
  let archive = 0;
  // What the model keeps of a regular file's entry is its number here: its data size (newc's has
  // 32 bits) and archive, in typed arrays, where an object per node took most of the memory on an
  // image of many entries. Nothing of another entry's: only files are added up.
  let kept = 0;
  let sizes = new Uint32Array(1024);
  let archiveOf = new Uint32Array(1024);
  const table = new PathTable();
  const model = new ModelTree((e, replaced) => {
    if (entryType(e.mode) !== 'file') return NONE;
    const n = replaced === NONE ? kept++ : replaced;
    sizes = grown(sizes, n);
    archiveOf = grown(archiveOf, n);
    sizes[n] = e.size;
    archiveOf[n] = archive;
    return n;
  }, table);
  const writer = new TreeWriter(model, { devices: true });
  const { archives } = await walkImage(image, writer, {
    ...options,
    skipData: true,
    saveMemory: true,
    select: (index) => {
      archive = index;
      return true;
    },
  });
  writer.release();
  table.freeIndex();

  // Each regular file counts once in each directory above any of its names: its names, grouped
  // by node, are walked up until a directory it was counted in, by numbers, where strings per
  // path took most of the memory on an image of many entries.
  const nodes = model.nodeCount;
  /** By node: how many names it has, then where its names end in `names`, then where they start (the end is the next node's start). */
  const groupStart = new Uint32Array(nodes + 1);
  /** By node: its file's size, at its first name, where its archive's sum takes it too. */
  const nodeSize = new Uint32Array(nodes);
  const inTree = new Map<number, number>();
  for (const [, node] of model.paths()) {
    if (node.type !== 'file') continue;
    if (groupStart[node.id]++ > 0) continue;
    const size = sizes[node.from];
    nodeSize[node.id] = size;
    inTree.set(archiveOf[node.from], (inTree.get(archiveOf[node.from]) ?? 0) + size);
  }
  freeNow(sizes.buffer);
  freeNow(archiveOf.buffer);
  let groups = 0;
  for (let n = 0, end = 0; n < nodes; n++) {
    if (groupStart[n] > 0) groups++;
    end += groupStart[n];
    groupStart[n] = end;
  }
  groupStart[nodes] = nodes > 0 ? groupStart[nodes - 1] : 0;
  const names = new Uint32Array(groupStart[nodes]);
  let count = 1;
  for (const [path, node] of model.paths()) {
    if (node.type === 'file') names[--groupStart[node.id]] = path;
    else if (node.type === 'dir') count++;
  }
  // The root, 0, then the others.
  const order = new Uint32Array(count);
  let at = 1;
  for (const [path, node] of model.paths()) if (node.type === 'dir') order[at++] = path;
  const paths = model.pathCount;
  model.release();
  const bytes = new Float64Array(paths);
  const files = new Uint32Array(paths);
  /** By path number: the node last counted there. */
  const countedFor = new Int32Array(paths).fill(-1);
  const fileSizes = new Uint32Array(groups);
  for (let node = 0, group = 0; node < nodes; node++) {
    if (groupStart[node] === groupStart[node + 1]) continue;
    const size = nodeSize[node];
    fileSizes[group++] = size;
    for (let i = groupStart[node]; i < groupStart[node + 1]; i++) {
      for (let dir = table.parentOf(names[i]); countedFor[dir] !== node; dir = table.parentOf(dir)) {
        countedFor[dir] = node;
        bytes[dir] += size;
        files[dir]++;
        if (dir === 0) break;
      }
    }
  }
  for (const array of [groupStart, nodeSize, names, countedFor]) freeNow(array.buffer);
  let sorted = false;
  return {
    total: { bytes: bytes[0], files: files[0] },
    directories: {
      *[Symbol.iterator](): Generator<DirectoryEntry> {
        // Sorted when first read: restore --dry-run reads only the total.
        if (!sorted) sortInPlace(order, (p, q) => bytes[q] - bytes[p] || table.compare(p, q));
        sorted = true;
        const written = Buffer.allocUnsafe(PATH_MAX);
        for (const path of order) yield { path: written.subarray(0, table.writePath(path, written, 0)), depth: table.depthOf(path), bytes: bytes[path], files: files[path] };
      },
    },
    fileSizes,
    archives,
    inTree,
  };
}

/** What the files take on a filesystem of `blockSize`-byte blocks: each file a whole number of them. */
export function blocksNeeded(fileSizes: ArrayLike<number>, blockSize: number): number {
  let sum = 0;
  for (let i = 0; i < fileSizes.length; i++) sum += Math.ceil(fileSizes[i] / blockSize) * blockSize;
  return sum;
}
