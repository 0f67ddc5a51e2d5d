import type { Stats } from 'node:fs';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, splitDevice } from '../cpio/entry.js';
import { COMPRESSION_FORMATS, type CompressionName } from '../decode/formats.js';
import { type EntryRules, NEWC_FIELD_MAX, type SourceEntry, SourceError, clampMtime } from './entries.js';
const { lstatSync, readlinkSync } = process.getBuiltinModule('node:fs');

/** One archive a manifest describes: its entries, and the compressor its `#cpio:` line names. */
export interface ManifestArchive {
  entries: SourceEntry[];
  /** Absent when the manifest names none: the caller's default applies. */
  compression?: CompressionName;
  level?: number;
}

export interface ManifestSource {
  /** What errors call the manifest: its file name, or "stdin". */
  name: string;
  /** The directory that relative locations are in (3cpio's -C). */
  directory: string;
}

/** The type column's words, as 3cpio names them. */
const TYPES = new Map<string, number>([
  ['file', S_IFREG],
  ['dir', S_IFDIR],
  ['block', S_IFBLK],
  ['char', S_IFCHR],
  ['link', S_IFLNK],
  ['fifo', S_IFIFO],
  ['sock', S_IFSOCK],
]);

/** Columns after mtime: a file's size, a device's major and minor, a symlink's target. */
const EXTRA_COLUMNS = new Map<number, number>([[S_IFREG, 1], [S_IFBLK, 2], [S_IFCHR, 2], [S_IFLNK, 1]]);
const COMMON_COLUMNS = 7;

/** What Rust's str::trim drops at both ends of an ASCII line: tab to carriage return, space. */
const isSpace = (byte: number) => byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);

/** One line's entry before the archive's hard-link groups are known. */
interface Listed {
  header: SourceEntry['header'];
  origin: string;
  location?: Buffer;
  path?: Buffer;
  stats?: Stats;
  linkTarget?: Buffer;
  /** Regular files with data that share an inode: one group within the archive. */
  linkKey?: string;
}

/**
 * The archives of a 3cpio manifest, entries in the manifest's order: a tab-separated line per
 * entry (location, name, type, mode, uid, gid, mtime, then a file's size, a device's major and
 * minor, or a symlink's target), `-` or an empty column for what the file at the location
 * tells, `#cpio` or `#cpio: COMMAND [-LEVEL]` starting the next archive, other `#` lines and
 * blank ones skipped. The headers follow 3cpio's: inode numbers from 0 in each archive, a
 * directory's link count 2, the names of one inode that has data one hard-link group.
 */
export function readManifest(text: Buffer, source: ManifestSource, rules: EntryRules): ManifestArchive[] {
  const archives: { listed: Listed[]; compression?: CompressionName; level?: number }[] = [{ listed: [] }];
  let start = 0;
  for (let number = 1; start < text.length; number++) {
    const newline = text.indexOf(0x0a, start);
    const end = newline < 0 ? text.length : newline;
    const line = trim(text.subarray(start, end));
    start = end + 1;
    const origin = `${source.name}:${number}`;
    if (line.length === 0) continue;
    if (line[0] === 0x23) {
      if (!line.subarray(0, 5).equals(Buffer.from('#cpio'))) continue;
      // A marker before any entry describes the archive already begun.
      if (archives.at(-1)!.listed.length > 0) archives.push({ listed: [] });
      Object.assign(archives.at(-1)!, parseMarker(line.toString(), origin));
      continue;
    }
    archives.at(-1)!.listed.push(parseLine(line, origin, source.directory, rules));
  }
  return archives.map(({ listed, compression, level }) => ({ entries: headers(listed), compression, level }));
}

function trim(line: Buffer): Buffer {
  let start = 0;
  let end = line.length;
  while (start < end && isSpace(line[start])) start++;
  while (end > start && isSpace(line[end - 1])) end--;
  return line.subarray(start, end);
}

/** `#cpio` or `#cpio: COMMAND [-LEVEL]`: the command as 3cpio names it, none for plain cpio. */
function parseMarker(line: string, origin: string): { compression?: CompressionName; level?: number } {
  if (line === '#cpio') return { compression: undefined, level: undefined };
  if (!line.startsWith('#cpio:')) throw new SourceError(origin, `"${line}" is neither #cpio nor #cpio: COMMAND`);
  const [command, ...flags] = line.slice('#cpio:'.length).trim().split(/\s+/).filter(Boolean);
  if (command === undefined) return { compression: undefined, level: undefined };
  const format = COMPRESSION_FORMATS.find((f) => f.name === command);
  if (!format) throw new SourceError(origin, `unknown compressor "${command}": ${COMPRESSION_FORMATS.map((f) => f.name).join(', ')}`);
  let level: number | undefined;
  for (const flag of flags) {
    // The compressor runs with the flags the kernel needs; any other flag would be dropped.
    if (!/^-\d+$/.test(flag)) throw new SourceError(origin, `${command}: "${flag}" is not a level (-N); create passes no other flag`);
    level = Number(flag.slice(1));
    const [least, most] = format.compress.levels;
    if (level < least || level > most) throw new SourceError(origin, `${command} ${flag}: ${command} takes ${least} to ${most}`);
  }
  return { compression: format.name, level };
}

function parseLine(line: Buffer, origin: string, directory: string, rules: EntryRules): Listed {
  const columns = splitTabs(line).map((c) => (c.length === 0 || (c.length === 1 && c[0] === 0x2d) ? undefined : c));
  const [location, givenName, typeWord, modeText, uidText, gidText, mtimeText] = columns;
  const path = location && (location[0] === 0x2f ? location : Buffer.concat([Buffer.from(`${directory}/`), location]));
  const where = location ? `${origin}: ${location.toString()}` : origin;
  let stats: Stats | undefined;
  /** The file at the location, read once and only when a column leaves something to it. */
  const lstat = (what: string): Stats => {
    if (!path) throw new SourceError(origin, `no location to take the ${what} from`);
    try {
      stats ??= lstatSync(path);
    } catch (err) {
      throw new SourceError(where, (err as Error).message);
    }
    return stats;
  };
  const number = (text: Buffer | undefined, what: string, radix: 8 | 10, most: number, fallback: () => number): number => {
    if (!text) return fallback();
    const value = text.toString();
    if (!(radix === 8 ? /^[0-7]+$/ : /^\d+$/).test(value) || parseInt(value, radix) > most) {
      throw new SourceError(origin, `${what} "${value}" is not a${radix === 8 ? 'n octal' : ''} number from 0 to ${most.toString(radix)}`);
    }
    return parseInt(value, radix);
  };

  const name = givenName ?? (location ? nameOf(location) : undefined);
  if (!name) throw new SourceError(origin, 'neither a location nor a name');
  let type: number;
  if (typeWord) {
    const known = TYPES.get(typeWord.toString());
    if (known === undefined) throw new SourceError(origin, `unknown type "${typeWord.toString()}": ${[...TYPES.keys()].join(', ')}`);
    type = known;
  } else {
    type = lstat('type').mode & S_IFMT;
    if (![...TYPES.values()].includes(type)) throw new SourceError(where, 'not a file type an archive holds');
  }
  const most = COMMON_COLUMNS + (EXTRA_COLUMNS.get(type) ?? 0);
  if (columns.length > most) throw new SourceError(origin, `${columns.length} columns: this type takes at most ${most}`);
  const [first, second] = columns.slice(COMMON_COLUMNS);

  const mode = type | number(modeText, 'mode', 8, 0o7777, () => lstat('mode').mode & 0o7777);
  const owner = (text: Buffer | undefined, field: 'uid' | 'gid'): number => {
    const listed = number(text, field, 10, NEWC_FIELD_MAX, () => (rules.keepOwners ? lstat(field)[field] : 0));
    return rules.rootOwner ? 0 : listed;
  };
  const uid = owner(uidText, 'uid');
  const gid = owner(gidText, 'gid');
  const mtime = clampMtime(number(mtimeText, 'mtime', 10, NEWC_FIELD_MAX, () => Math.floor(lstat('mtime').mtimeMs / 1000)), rules);
  const header: Listed['header'] = { ino: 0, mode, uid, gid, nlink: 1, mtime, size: 0, devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0, name };

  switch (type) {
    case S_IFREG: {
      header.size = number(first, 'size', 10, NEWC_FIELD_MAX, () => {
        const { size } = lstat('size');
        if (size > NEWC_FIELD_MAX) throw new SourceError(where, `${size} bytes: newc holds files smaller than 4 GiB`);
        return size;
      });
      if (!path) {
        if (header.size > 0) throw new SourceError(origin, `a file of ${header.size} bytes needs a location to read them from`);
        return { header, origin };
      }
      const file = lstat('data');
      if (!file.isFile()) throw new SourceError(where, 'not a regular file');
      // Empty files are never linked, as in 3cpio: they have nothing to share.
      return { header, origin, location, path, stats: file, linkKey: header.size > 0 ? `${file.dev}:${file.ino}` : undefined };
    }
    case S_IFBLK:
    case S_IFCHR: {
      const device = () => splitDevice(lstat('device numbers').rdev);
      header.rdevMajor = number(first, 'major', 10, NEWC_FIELD_MAX, () => device()[0]);
      header.rdevMinor = number(second, 'minor', 10, NEWC_FIELD_MAX, () => device()[1]);
      return { header, origin };
    }
    case S_IFLNK: {
      let linkTarget = first;
      if (!linkTarget) {
        if (!lstat('target').isSymbolicLink()) throw new SourceError(where, 'not a symlink: the target column is needed');
        linkTarget = readlinkSync(path!, { encoding: 'buffer' });
      }
      header.size = linkTarget.length;
      return { header, origin, linkTarget };
    }
    default:
      return { header, origin };
  }
}

function splitTabs(line: Buffer): Buffer[] {
  const columns: Buffer[] = [];
  let start = 0;
  for (let tab = line.indexOf(0x09); tab >= 0; start = tab + 1, tab = line.indexOf(0x09, start)) columns.push(line.subarray(start, tab));
  columns.push(line.subarray(start));
  return columns;
}

/** The name a location gives when the name column is empty: without one leading `./` or `/`. */
function nameOf(location: Buffer): Buffer {
  const prefix = location[0] === 0x2f ? 1 : location[0] === 0x2e && location[1] === 0x2f ? 2 : 0;
  const name = location.subarray(prefix);
  return name.length === 0 ? Buffer.from('.') : name;
}

/**
 * The archive's headers: inode numbers in the manifest's order from 0, as 3cpio counts; the
 * names of one hard-link group share the first's number and carry their count, the data with
 * the last, where the kernel and GNU cpio expect it.
 */
function headers(listed: readonly Listed[]): SourceEntry[] {
  const names = new Map<string, number>();
  const lastName = new Map<string, number>();
  listed.forEach(({ linkKey }, index) => {
    if (!linkKey) return;
    names.set(linkKey, (names.get(linkKey) ?? 0) + 1);
    lastName.set(linkKey, index);
  });
  const groupIno = new Map<string, number>();
  let nextIno = 0;
  return listed.map(({ header, origin, location, path, stats, linkTarget, linkKey }, index) => {
    let ino = linkKey ? groupIno.get(linkKey) : undefined;
    if (ino === undefined) {
      ino = nextIno++;
      if (linkKey) groupIno.set(linkKey, ino);
    }
    const carriesData = !linkKey || lastName.get(linkKey) === index;
    const nlink = (header.mode & S_IFMT) === S_IFDIR ? 2 : linkKey ? names.get(linkKey)! : 1;
    return {
      header: { ...header, ino, nlink, size: carriesData ? header.size : 0 },
      data: path && stats && carriesData ? { path, stats, label: `${origin}: ${location!.toString()}` } : undefined,
      linkTarget,
    };
  });
}
