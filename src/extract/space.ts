import { type Archive, type WalkOptions, walkImage } from '../image/walk.js';
import { ModelTree } from './model.js';
import { TreeWriter } from './writer.js';

/** What the regular files under one directory hold: each hard-link group once, as its data is stored once. */
export interface DirectorySpace {
  /** Apparent size: the sum of the files' sizes, as `du --apparent-size -b` counts file data. */
  bytes: number;
  files: number;
}

export interface ImageSpace {
  /** By directory (latin1 keys, '' for the root), every directory of the tree, empty ones at 0. */
  directories: Map<string, DirectorySpace>;
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
  const model = new ModelTree((e) => ({ size: e.size, archive }));
  const writer = new TreeWriter(model, { devices: true });
  const { archives } = await walkImage(image, writer, {
    ...options,
    skipData: true,
    select: (index) => {
      archive = index;
      return true;
    },
  });

  const directories = new Map<string, DirectorySpace>([['', { bytes: 0, files: 0 }]]);
  /** By node: its names, and what it keeps. */
  const names = new Map<number, { keys: string[]; from: { size: number; archive: number } }>();
  for (const [key, node] of model.paths()) {
    if (node.type === 'dir') directories.set(key, { bytes: 0, files: 0 });
    else if (node.type === 'file') names.get(node.id)?.keys.push(key) ?? names.set(node.id, { keys: [key], from: node.from! });
  }
  const fileSizes: number[] = [];
  const inTree = new Map<number, number>();
  for (const { keys, from } of names.values()) {
    const { size, archive: index } = from;
    fileSizes.push(size);
    inTree.set(index, (inTree.get(index) ?? 0) + size);
    for (const dir of new Set(keys.flatMap(ancestors))) {
      const space = directories.get(dir)!;
      space.bytes += size;
      space.files++;
    }
  }
  return { directories, fileSizes, archives, inTree };
}

/** The directories that hold the path at `key`, from the root ('') down to its parent, as latin1 keys. */
function ancestors(key: string): string[] {
  const out = [''];
  for (let slash = key.indexOf('/'); slash >= 0; slash = key.indexOf('/', slash + 1)) out.push(key.slice(0, slash));
  return out;
}

/** What the files take on a filesystem of `blockSize`-byte blocks: each file a whole number of them. */
export function blocksNeeded(fileSizes: readonly number[], blockSize: number): number {
  return fileSizes.reduce((sum, size) => sum + Math.ceil(size / blockSize) * blockSize, 0);
}
