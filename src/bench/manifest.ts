import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';

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
  const visit = (dir: Buffer, prefix: Buffer): void => {
    for (const name of readdirSync(dir, { encoding: 'buffer' })) {
      const path = Buffer.concat([dir, SLASH, name]);
      const rel = prefix.length ? Buffer.concat([prefix, SLASH, name]) : name;
      const st = lstatSync(path);
      let detail = '';
      if (st.isFile()) detail = `${st.size} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
      else if (st.isSymbolicLink()) detail = readlinkSync(path, { encoding: 'buffer' }).toString('hex');
      else if (st.isCharacterDevice() || st.isBlockDevice()) detail = String(st.rdev);
      const type = st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.isSocket() ? 's' : 'c';
      entries.push(`${rel.toString('hex')} ${type} ${(st.mode & 0o7777).toString(8)} ${detail}`);
      if (st.isDirectory()) visit(path, rel);
    }
  };
  visit(Buffer.from(root), Buffer.alloc(0));
  entries.sort();
  return { hash: createHash('sha256').update(entries.join('\n')).digest('hex'), entries };
}

const SLASH = Buffer.from('/');

/**
 * Removes a restored tree. cpio's junk may hold directories of mode 000, which a user other
 * than root cannot empty: those are opened up first.
 */
export function removeTree(root: string): void {
  try {
    rmSync(root, { recursive: true, force: true });
  } catch {
    const openUp = (dir: Buffer): void => {
      chmodSync(dir, 0o700);
      for (const name of readdirSync(dir, { encoding: 'buffer' })) {
        const path = Buffer.concat([dir, SLASH, name]);
        if (lstatSync(path).isDirectory()) openUp(path);
      }
    };
    openUp(Buffer.from(root));
    rmSync(root, { recursive: true, force: true });
  }
}
