import { hashFile, walkTree } from '../extract/walk-tree.js';
const { createHash } = process.getBuiltinModule('node:crypto');
const { readlinkSync } = process.getBuiltinModule('node:fs');

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
    if (st.isFile()) detail = `${st.size} ${hashFile(path).sha256.toString('hex')}`;
    else if (st.isSymbolicLink()) detail = readlinkSync(path, { encoding: 'buffer' }).toString('hex');
    else if (st.isCharacterDevice() || st.isBlockDevice()) detail = String(st.rdev);
    const type = st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.isSocket() ? 's' : 'c';
    entries.push(`${rel.toString('hex')} ${type} ${(st.mode & 0o7777).toString(8)} ${detail}`);
  });
  entries.sort();
  return { hash: createHash('sha256').update(entries.join('\n')).digest('hex'), entries };
}
