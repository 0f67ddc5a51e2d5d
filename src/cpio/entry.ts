export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** Every type an entry may be: what a type is stored as in typed arrays, by its index here. */
export const ENTRY_TYPES = ['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket'] as const;

export type EntryType = (typeof ENTRY_TYPES)[number];

/** One newc/crc header with its name, as the archive has it. */
export interface CpioEntry {
  /** '070701' (newc) or '070702' (crc: `check` is the sum of the data bytes). */
  magic: '070701' | '070702';
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  size: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  check: number;
  /** Raw name bytes up to the first NUL: names are bytes, not text. */
  name: Buffer;
  /** A symlink's target (its data), raw bytes. */
  linkTarget?: Buffer;
  /** Offset of the header, in the coordinates of the stream the parser reads. */
  offset: number;
}

export function entryType(mode: number): EntryType | undefined {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'file';
    case S_IFDIR: return 'dir';
    case S_IFLNK: return 'symlink';
    case S_IFCHR: return 'char';
    case S_IFBLK: return 'block';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'socket';
    default: return undefined;
  }
}

/**
 * The key the kernel's maybe_link() groups hard links by: (devmajor, devminor, ino) and the
 * file type, for every non-directory, non-symlink entry with nlink >= 2. The groups are
 * forgotten at every TRAILER!!!.
 */
export function hardLinkKey(e: CpioEntry): string | undefined {
  return inHardLinkGroup(e) ? `${e.devMajor}:${e.devMinor}:${e.ino}:${e.mode & S_IFMT}` : undefined;
}

/** Whether the kernel groups `e` with the other entries of its key (hardLinkKey). */
export function inHardLinkGroup(e: Pick<CpioEntry, 'mode' | 'nlink'>): boolean {
  const type = e.mode & S_IFMT;
  return e.nlink >= 2 && type !== S_IFDIR && type !== S_IFLNK;
}

/** A dev_t as glibc's major() and minor() split it: what a header's major and minor fields hold. */
export function splitDevice(dev: number): [major: number, minor: number] {
  const d = BigInt(dev);
  return [Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)), Number((d & 0xffn) | ((d >> 12n) & ~0xffn))];
}
