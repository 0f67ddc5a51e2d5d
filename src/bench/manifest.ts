import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { walkTree } from '../extract/walk-tree.js';

/**
 * A tree as lines of "name type mode size sha256|target", sorted, names as hex, without times
 * (the script's `cpio -id` keeps none) or owners; and the hash of those lines, so that two
 * restores compare in one string.
 */
export interface Manifest {
  hash: string;
  entries: string[];
}

export function treeManifest(root: string): Manifest {
  const entries: string[] = [];
  walkTree(root, ({ path, rel, stats: st }) => {
    let detail = '';
    if (st.isFile()) detail = `${st.size} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
    else if (st.isSymbolicLink()) detail = readlinkSync(path, { encoding: 'buffer' }).toString('hex');
    else if (st.isCharacterDevice() || st.isBlockDevice()) detail = String(st.rdev);
    const type = st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.isSocket() ? 's' : 'c';
    entries.push(`${rel.toString('hex')} ${type} ${(st.mode & 0o7777).toString(8)} ${detail}`);
  });
  entries.sort();
  return { hash: createHash('sha256').update(entries.join('\n')).digest('hex'), entries };
}

/**
 * Removes a restored tree. cpio's junk may hold directories of mode 000, which a user other
 * than root cannot empty: those are opened up first.
 */
export function removeTree(root: string): void {
  try {
    rmSync(root, { recursive: true, force: true });
  } catch {
    // Each directory is opened up as the walk meets it, before it is listed.
    chmodSync(root, 0o700);
    walkTree(root, ({ path, stats }) => {
      if (stats.isDirectory()) chmodSync(path, 0o700);
    });
    rmSync(root, { recursive: true, force: true });
  }
}
