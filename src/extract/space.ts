import { type Archive, type WalkOptions, walkImage } from '../image/walk.js';
import { freeNow } from '../decode/source.js';
import { entryType } from '../cpio/entry.js';
import { PATH_MAX } from '../cpio/parser.js';
import { ModelTree, NONE } from './model.js';
import { PathTable, grown, pagedArray } from './path-table.js';
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
  // What the model keeps of a regular file's entry is its data size (newc's has 32 bits), in
  // the node's own number; its archive is by node, a byte where that holds every index. An
  // object per node took most of the memory on an image of many entries, and arrays of a
  // record's size and archive 8 bytes a file: with them, and a count of names by path, `du` of
  // 300,300 files stood at 66.4 MB as its walk ended, 63.7 without (by hand). Nothing of another
  // entry's: only files are added up.
  let archiveOf: ArchiveIndexes = new Uint8Array(1024);
  /** The sizes from LARGE up, which a node's number (below 2^31) cannot hold: it keeps LARGE plus the place here. */
  const largeSizes: number[] = [];
  const table = new PathTable();
  const model = new ModelTree((e, _replaced, node) => {
    if (entryType(e.mode) !== 'file') return NONE;
    archiveOf = withArchive(archiveOf, node, archive);
    return e.size < LARGE ? e.size : LARGE + largeSizes.push(e.size) - 1;
  }, table);
  const sizeOf = (from: number): number => (from < LARGE ? from : largeSizes[from - LARGE]);
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
  const inTree = new Map<number, number>();
  /** The directories, the root (which has no node) counted. */
  let count = 1;
  for (const [, node] of model.paths()) {
    if (node.type === 'dir') count++;
    if (node.type !== 'file' || groupStart[node.id]++ > 0) continue;
    inTree.set(archiveOf[node.id], (inTree.get(archiveOf[node.id]) ?? 0) + sizeOf(node.from));
  }
  freeNow(archiveOf.buffer);
  for (let n = 0, end = 0; n < nodes; n++) {
    end += groupStart[n];
    groupStart[n] = end;
  }
  groupStart[nodes] = nodes > 0 ? groupStart[nodes - 1] : 0;
  const names = new Uint32Array(groupStart[nodes]);
  // The root, 0, then the others, by path number: a directory's sums are by its place here,
  // found by halving, where arrays by path took 16 bytes a path of any kind (`du` of 300,300
  // files peaked at 66.9 MB as it summed, by hand).
  const dirs = new Uint32Array(count);
  let at = 1;
  for (const [path, node] of model.paths()) {
    if (node.type === 'file') names[--groupStart[node.id]] = path;
    else if (node.type === 'dir') dirs[at++] = path;
  }
  // By node: what it kept, for a file its size (sizeOf); then the sizes by group, as the sums
  // are made, in place (a group's number is no more than its node's).
  const kept = model.releaseButKept();
  const sizes = new Uint32Array(kept.buffer);
  let lastPath = 0;
  let lastDir = 0;
  /** The place in `dirs` of the directory `path`: the names of a directory are near one another. */
  const dirOf = (path: number): number => {
    if (path === lastPath) return lastDir;
    let lo = 0;
    for (let hi = count - 1; lo < hi; ) {
      const mid = (lo + hi) >>> 1;
      if (dirs[mid] < path) lo = mid + 1;
      else hi = mid;
    }
    // Each directory above a file the tree holds is one: a path not found would sum elsewhere.
    if (dirs[lo] !== path) throw new Error(`du: path ${path} is not a directory of the tree`);
    lastPath = path;
    lastDir = lo;
    return lo;
  };
  const bytes = new Float64Array(count);
  const files = new Uint32Array(count);
  /** By directory: the node last counted there. */
  const countedFor = new Int32Array(count).fill(-1);
  let groups = 0;
  for (let node = 0; node < nodes; node++) {
    if (groupStart[node] === groupStart[node + 1]) continue;
    const size = sizeOf(kept[node]);
    sizes[groups++] = size;
    for (let i = groupStart[node]; i < groupStart[node + 1]; i++) {
      for (let path = table.parentOf(names[i]); ; path = table.parentOf(path)) {
        const dir = dirOf(path);
        if (countedFor[dir] === node) break;
        countedFor[dir] = node;
        bytes[dir] += size;
        files[dir]++;
        if (path === 0) break;
      }
    }
  }
  for (const array of [groupStart, names]) freeNow(array.buffer);
  const fileSizes = sizes.slice(0, groups);
  freeNow(kept.buffer);
  /** The directories' places, to sort: in the memory of `countedFor`, whose work is done. */
  const ranked = new Uint32Array(countedFor.buffer);
  for (let dir = 0; dir < count; dir++) ranked[dir] = dir;
  let sorted = false;
  return {
    total: { bytes: bytes[0], files: files[0] },
    directories: {
      *[Symbol.iterator](): Generator<DirectoryEntry> {
        // Sorted when first read: restore --dry-run reads only the total.
        if (!sorted) sortInPlace(ranked, (p, q) => bytes[q] - bytes[p] || table.compare(dirs[p], dirs[q]));
        sorted = true;
        const written = Buffer.allocUnsafe(PATH_MAX);
        for (const dir of ranked) {
          const path = dirs[dir];
          yield { path: written.subarray(0, table.writePath(path, written, 0)), depth: table.depthOf(path), bytes: bytes[dir], files: files[dir] };
        }
      },
    },
    fileSizes,
    archives,
    inTree,
  };
}

/** A size from which a model's node keeps the place of a file's size, not the size: a node's number is below 2^31. */
const LARGE = 2 ** 30;

type ArchiveIndexes = Uint8Array | Uint16Array | Uint32Array;

/** `indexes` with `archive` at `node`: longer where `node` is past its end, and of wider elements where `archive` needs them. */
function withArchive(indexes: ArchiveIndexes, node: number, archive: number): ArchiveIndexes {
  let array = grown(indexes, node);
  if (archive >= 2 ** (8 * array.BYTES_PER_ELEMENT)) {
    const wider: ArchiveIndexes = archive > 0xffff ? pagedArray(Uint32Array, array.length) : pagedArray(Uint16Array, array.length);
    wider.set(array);
    freeNow(array.buffer);
    array = wider;
  }
  array[node] = archive;
  return array;
}

/** What the files take on a filesystem of `blockSize`-byte blocks: each file a whole number of them. */
export function blocksNeeded(fileSizes: ArrayLike<number>, blockSize: number): number {
  let sum = 0;
  for (let i = 0; i < fileSizes.length; i++) sum += Math.ceil(fileSizes[i] / blockSize) * blockSize;
  return sum;
}
