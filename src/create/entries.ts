import type { Stats } from 'node:fs';
import { S_IFDIR, S_IFLNK, S_IFMT, splitDevice } from '../cpio/entry.js';
import type { HeaderFields } from '../cpio/writer.js';
import { walkTree } from '../extract/walk-tree.js';
const { readlinkSync, statSync } = process.getBuiltinModule('node:fs');

/** One entry of the archive to write: its header, and where its data comes from. */
export interface SourceEntry {
  header: Omit<HeaderFields, 'magic' | 'check'>;
  /**
   * The regular file whose data goes here (none for a hard link before its group's last name):
   * it is read even when empty, since a file that lstat calls empty may have content (/proc).
   */
  data?: FileSource;
  /** A symlink's target: its data. */
  linkTarget?: Buffer;
  /** A directory of the tree: the archive ends with a check that it is still as listed. */
  directory?: FileSource;
}

export interface FileSource {
  path: Buffer;
  /** Its lstat when listed: reading checks that it is still that file (that directory). */
  stats: Stats;
  /** What an error about it names: the path, or the manifest line and the path. */
  label: string;
}

export interface EntryRules {
  /** Every later mtime becomes this one (SOURCE_DATE_EPOCH). */
  mtimeClamp?: number;
  /** The files' uid and gid, instead of 0:0. */
  keepOwners?: boolean;
  /** 0:0 for every entry, a manifest's uid and gid columns too. */
  rootOwner?: boolean;
}

/** A problem with one path of the tree: the message names it. */
export class SourceError extends Error {
  constructor(subject: Buffer | string, problem: string) {
    super(`${subject.toString()}: ${problem}`);
    this.name = 'SourceError';
  }
}

/** newc's fields are 32 bits: a file's size, an mtime. */
export const NEWC_FIELD_MAX = 0xffffffff;
const DOT = Buffer.from('.');

/**
 * The entries of the archive of `dir`, as dracut's `find . | sort | cpio` lists them: `.`
 * first, then every path below it sorted bytewise (a parent sorts before what it holds),
 * each with the header that makes the archive depend on the tree's content only, not on when
 * or in what order it was made, nor on the filesystem it is on: inode numbers from 1 in that
 * order, device 0:0, owners 0:0, mtimes clamped, a directory's link count its subdirectories
 * plus 2. Files that are hard links of each other within `dir` share one inode number and a
 * link count of their names here; the last of them carries the data, the others size 0.
 * The file `image` (the one being written, when it is inside `dir`) is left out.
 */
export function archiveEntries(dir: string, rules: EntryRules, image?: Stats): SourceEntry[] {
  const root = Buffer.from(dir);
  // Followed, as `cd DIR; find .` follows it; nothing below it is.
  const rootStats = statSync(root);
  if (!rootStats.isDirectory()) throw new SourceError(root, 'not a directory');
  // No name here is longer than newc's PATH_MAX: lstat of DIR/name fails first (ENAMETOOLONG).
  const found: { rel: Buffer; path: Buffer; stats: Stats }[] = [{ rel: DOT, path: root, stats: rootStats }];
  walkTree(root, (e) => {
    if (!(image && e.stats.ino === image.ino && e.stats.dev === image.dev)) found.push(e);
  });
  found.sort((a, b) => (a.rel === DOT ? -1 : b.rel === DOT ? 1 : Buffer.compare(a.rel, b.rel)));

  const subdirs = new Map<string, number>();
  const names = new Map<string, number>();
  const lastName = new Map<string, number>();
  found.forEach(({ rel, stats }, index) => {
    if (stats.isDirectory() && rel !== DOT) {
      const parent = rel.lastIndexOf(0x2f) < 0 ? DOT : rel.subarray(0, rel.lastIndexOf(0x2f));
      subdirs.set(parent.toString('latin1'), (subdirs.get(parent.toString('latin1')) ?? 0) + 1);
    }
    const key = linkKey(stats);
    if (key) {
      names.set(key, (names.get(key) ?? 0) + 1);
      lastName.set(key, index);
    }
  });

  const groupIno = new Map<string, number>();
  let nextIno = 1;
  return found.map(({ rel, path, stats }, index) => {
    const key = linkKey(stats);
    const nlink = stats.isDirectory() ? 2 + (subdirs.get(rel.toString('latin1')) ?? 0) : key ? names.get(key)! : 1;
    let ino = key && nlink > 1 ? groupIno.get(key) : undefined;
    if (ino === undefined) {
      ino = nextIno++;
      if (key && nlink > 1) groupIno.set(key, ino);
    }
    const carriesData = !key || lastName.get(key) === index;
    let size = 0;
    let linkTarget: Buffer | undefined;
    if (stats.isSymbolicLink()) {
      // Shorter than PATH_MAX, as the kernel needs: symlink(2) makes no longer ones.
      linkTarget = readlinkSync(path, { encoding: 'buffer' });
      size = linkTarget.length;
    } else if (stats.isFile()) {
      if (stats.size > NEWC_FIELD_MAX) throw new SourceError(path, `${stats.size} bytes: newc holds files smaller than 4 GiB`);
      // A group's data goes with its last name, where the kernel and GNU cpio expect it.
      size = carriesData ? stats.size : 0;
    }
    const mtime = clampMtime(Math.floor(stats.mtimeMs / 1000), rules);
    const rdev = stats.isCharacterDevice() || stats.isBlockDevice() ? splitDevice(stats.rdev) : [0, 0];
    return {
      header: {
        ino,
        mode: stats.mode,
        uid: rules.keepOwners ? stats.uid : 0,
        gid: rules.keepOwners ? stats.gid : 0,
        nlink,
        mtime,
        size,
        devMajor: 0,
        devMinor: 0,
        rdevMajor: rdev[0],
        rdevMinor: rdev[1],
        name: rel,
      },
      data: stats.isFile() && carriesData ? { path, stats, label: path.toString() } : undefined,
      linkTarget,
      directory: stats.isDirectory() ? { path, stats, label: path.toString() } : undefined,
    };
  });
}

/** An mtime as newc holds it (0..2^32-1), no later than the rules' clamp. */
export function clampMtime(seconds: number, rules: EntryRules): number {
  return Math.min(Math.max(0, seconds), rules.mtimeClamp ?? NEWC_FIELD_MAX, NEWC_FIELD_MAX);
}

/**
 * Only what the kernel links is a group: not directories, and not symlinks (it makes each
 * one anew), only names that share an inode.
 */
function linkKey(stats: Stats): string | undefined {
  const type = stats.mode & S_IFMT;
  if (stats.nlink < 2 || type === S_IFDIR || type === S_IFLNK) return undefined;
  return `${stats.dev}:${stats.ino}`;
}
