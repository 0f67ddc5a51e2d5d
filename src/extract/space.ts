import type { CpioEntry } from '../cpio/entry.js';
import { type Archive, type WalkOptions, walkImage } from '../image/walk.js';
import { type ModelNode, ModelTree } from './model.js';
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

const SLASH = 0x2f;

/**
 * The space the tree `unpack IMAGE DIR` leaves as root takes, built by the writer's own rules
 * on a model, as `diff` and `cat` build it: the last entry named a path wins, the names of a
 * hard-link group share one file, refused entries are left out. No data is read where it can
 * be skipped.
 */
export async function measureImage(image: string, options: Pick<WalkOptions, 'start' | 'maxOutput'> = {}): Promise<ImageSpace> {
  const model = new ModelTree();
  const writer = new TreeWriter(model, { devices: true });
  const archiveOf = new WeakMap<CpioEntry, number>();
  let archive = 0;
  const { archives } = await walkImage(image, {
    entry(e) {
      archiveOf.set(e, archive);
      writer.entry(e);
    },
    data: (chunk) => writer.data(chunk),
    entryEnd: (e) => writer.entryEnd(e),
    trailer: () => writer.trailer(),
  }, {
    ...options,
    skipData: true,
    select: (index) => {
      archive = index;
      return true;
    },
  });

  const directories = new Map<string, DirectorySpace>([['', { bytes: 0, files: 0 }]]);
  const names = new Map<ModelNode, Buffer[]>();
  for (const [rel, node] of model.paths()) {
    if (node.type === 'dir') directories.set(rel.toString('latin1'), { bytes: 0, files: 0 });
    else if (node.type === 'file') names.get(node)?.push(rel) ?? names.set(node, [rel]);
  }
  const fileSizes: number[] = [];
  const inTree = new Map<number, number>();
  for (const [node, rels] of names) {
    const { size } = node.from!;
    fileSizes.push(size);
    const index = archiveOf.get(node.from!)!;
    inTree.set(index, (inTree.get(index) ?? 0) + size);
    for (const dir of new Set(rels.flatMap(ancestors))) {
      const space = directories.get(dir)!;
      space.bytes += size;
      space.files++;
    }
  }
  return { directories, fileSizes, archives, inTree };
}

/** The directories that hold `rel`, from the root ('') down to its parent, as latin1 keys. */
function ancestors(rel: Buffer): string[] {
  const out = [''];
  for (let slash = rel.indexOf(SLASH); slash >= 0; slash = rel.indexOf(SLASH, slash + 1)) out.push(rel.toString('latin1', 0, slash));
  return out;
}

/** What the files take on a filesystem of `blockSize`-byte blocks: each file a whole number of them. */
export function blocksNeeded(fileSizes: readonly number[], blockSize: number): number {
  return fileSizes.reduce((sum, size) => sum + Math.ceil(size / blockSize) * blockSize, 0);
}
