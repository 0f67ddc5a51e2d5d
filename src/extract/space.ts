import { type Archive, type WalkOptions, walkImage } from '../image/walk.js';
import { ModelTree } from './model.js';
import { PathTable } from './path-table.js';
import { TreeWriter } from './writer.js';

/** What the regular files under one directory hold: each hard-link group once, as its data is stored once. */
export interface DirectorySpace {
  /** Apparent size: the sum of the files' sizes, as `du --apparent-size -b` counts file data. */
  bytes: number;
  files: number;
}

/** One directory of the tree: its path (the root's is empty), how many levels below the root, and its space. */
export interface DirectoryEntry extends DirectorySpace {
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
  fileSizes: number[];
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
  const table = new PathTable();
  const model = new ModelTree((e) => ({ size: e.size, archive }), table);
  const writer = new TreeWriter(model, { devices: true });
  const { archives } = await walkImage(image, writer, {
    ...options,
    skipData: true,
    select: (index) => {
      archive = index;
      return true;
    },
  });

  // Each regular file counts once in each directory above any of its names: its names, grouped
  // by node, are walked up until a directory it was counted in, by numbers, where strings per
  // path took most of the memory on an image of many entries.
  const nodes = model.nodeCount;
  const groupStart = new Uint32Array(nodes + 1);
  const froms: ({ size: number; archive: number } | undefined)[] = new Array(nodes);
  for (const [, node] of model.paths()) {
    if (node.type !== 'file') continue;
    groupStart[node.id + 1]++;
    froms[node.id] = node.from;
  }
  for (let n = 0; n < nodes; n++) groupStart[n + 1] += groupStart[n];
  const names = new Uint32Array(groupStart[nodes]);
  const filled = groupStart.slice(0, nodes);
  const paths = model.pathCount;
  const bytes = new Float64Array(paths);
  const files = new Uint32Array(paths);
  for (const [path, node] of model.paths()) if (node.type === 'file') names[filled[node.id]++] = path;
  /** By path number: the node last counted there. */
  const countedFor = new Int32Array(paths).fill(-1);
  const fileSizes: number[] = [];
  const inTree = new Map<number, number>();
  for (let node = 0; node < nodes; node++) {
    if (groupStart[node] === groupStart[node + 1]) continue;
    const { size, archive: index } = froms[node]!;
    fileSizes.push(size);
    inTree.set(index, (inTree.get(index) ?? 0) + size);
    for (let i = groupStart[node]; i < groupStart[node + 1]; i++) {
      for (let dir = model.parentOf(names[i]); countedFor[dir] !== node; dir = model.parentOf(dir)) {
        countedFor[dir] = node;
        bytes[dir] += size;
        files[dir]++;
        if (dir === 0) break;
      }
    }
  }
  let count = 1;
  for (const [, node] of model.paths()) if (node.type === 'dir') count++;
  // The root, 0, then the others.
  const order = new Uint32Array(count);
  let at = 1;
  for (const [path, node] of model.paths()) if (node.type === 'dir') order[at++] = path;
  let sorted = false;
  const directories = {
    *[Symbol.iterator](): Generator<DirectoryEntry> {
      // Sorted when first read: restore --dry-run reads only the total.
      if (!sorted) order.sort((p, q) => bytes[q] - bytes[p] || table.compare(p, q));
      sorted = true;
      for (const path of order) yield { path: table.pathOf(path), depth: table.depthOf(path), bytes: bytes[path], files: files[path] };
    },
  };
  return { total: { bytes: bytes[0], files: files[0] }, directories, fileSizes, archives, inTree };
}

/** What the files take on a filesystem of `blockSize`-byte blocks: each file a whole number of them. */
export function blocksNeeded(fileSizes: readonly number[], blockSize: number): number {
  return fileSizes.reduce((sum, size) => sum + Math.ceil(size / blockSize) * blockSize, 0);
}
