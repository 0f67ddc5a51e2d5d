import { createHash } from 'node:crypto';
import { type Stats, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface TreeNode {
  type: string;
  mode: number;
  size?: number;
  sha256?: string;
  target?: string;
  mtime?: number;
  /** Index of the hard-link group (files sharing an inode), by first name in sorted order. */
  linkGroup?: string;
  rdev?: number;
  uid?: number;
  gid?: number;
}

/**
 * Describes every entry below `root` by raw name (latin1 keys, so any byte survives): type,
 * permission bits, size and content hash, symlink target, hard-link grouping.
 */
export function describeTree(root: string, options: { owners?: boolean; mtimes?: boolean } = {}): Record<string, TreeNode> {
  const nodes: Record<string, TreeNode> = {};
  const inodes = new Map<number, string>();
  const visit = (dir: Buffer, prefix: string): void => {
    const names = readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare);
    for (const name of names) {
      const full = Buffer.concat([dir, Buffer.from('/'), name]);
      const rel = prefix + name.toString('latin1');
      const st = lstatSync(full);
      const node: TreeNode = { type: kind(st), mode: st.mode & 0o7777 };
      if (options.owners) {
        node.uid = st.uid;
        node.gid = st.gid;
      }
      if (st.isFile()) {
        node.size = st.size;
        node.sha256 = createHash('sha256').update(readFileSync(full)).digest('hex');
        if (options.mtimes !== false) node.mtime = Math.floor(st.mtimeMs / 1000);
        if (st.nlink > 1) {
          if (!inodes.has(st.ino)) inodes.set(st.ino, rel);
          node.linkGroup = inodes.get(st.ino);
        }
      } else if (st.isSymbolicLink()) {
        node.target = readlinkSync(full, { encoding: 'buffer' }).toString('latin1');
        delete (node as Partial<TreeNode>).mode;
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        node.rdev = st.rdev;
      }
      nodes[rel] = node;
      if (st.isDirectory()) visit(full, `${rel}/`);
    }
  };
  visit(Buffer.from(root), '');
  return nodes;
}

/** Every path below `dir`, sorted, names as latin1 so that any byte survives. */
export function listPaths(dir: string | Buffer, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir, { encoding: 'buffer' })) {
    const rel = prefix + name.toString('latin1');
    const full = Buffer.concat([Buffer.from(dir), Buffer.from('/'), name]);
    out.push(rel);
    if (lstatSync(full).isDirectory()) out.push(...listPaths(full, `${rel}/`));
  }
  return out.sort();
}

function kind(st: Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}
