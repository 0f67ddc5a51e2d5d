/**
 * Builds newc/crc archives byte by byte for tests that need archives no real tool writes
 * (hostile names, broken fields). Well-formed fixtures come from GNU cpio instead.
 */
export interface FakeEntry {
  name: string | Buffer;
  mode?: number;
  data?: string | Buffer;
  ino?: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  devMajor?: number;
  devMinor?: number;
  rdevMajor?: number;
  rdevMinor?: number;
  /** Overrides the namesize field. */
  namesize?: number;
  /** Overrides the filesize field. */
  filesize?: number;
  check?: number;
  magic?: '070701' | '070702';
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

export function newcEntry(e: FakeEntry, autoIno = 1): Buffer {
  const name = Buffer.concat([Buffer.isBuffer(e.name) ? e.name : Buffer.from(e.name), Buffer.from([0])]);
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
  const magic = e.magic ?? '070701';
  let sum = 0;
  for (const b of data) sum = (sum + b) >>> 0;
  const fields = [
    e.ino ?? autoIno, e.mode ?? 0o100644, e.uid ?? 0, e.gid ?? 0, e.nlink ?? 1, e.mtime ?? 0,
    e.filesize ?? data.length, e.devMajor ?? 0, e.devMinor ?? 0, e.rdevMajor ?? 0, e.rdevMinor ?? 0,
    e.namesize ?? name.length, e.check ?? (magic === '070702' ? sum : 0),
  ];
  const header = Buffer.from(magic + fields.map(hex8).join(''), 'latin1');
  return Buffer.concat([header, name, pad4(110 + name.length), data, pad4(data.length)]);
}

export function newcArchive(entries: FakeEntry[], trailer = true): Buffer {
  const parts = entries.map((e, i) => newcEntry(e, i + 1));
  if (trailer) parts.push(newcEntry({ name: 'TRAILER!!!', mode: 0, ino: 0 }));
  return Buffer.concat(parts);
}

export const DIR = 0o040755;
export const SYMLINK = 0o120777;

/** Where an archive's entry is: its header's offset, its name (to the first NUL), namesize, filesize. */
export interface HeaderAt {
  at: number;
  name: Buffer;
  namesize: number;
  size: number;
}

/**
 * The headers of the newc/crc archive at the start of `bytes`, the trailer's last, walked as
 * the kernel walks them; a test's own reader, independent of src/.
 */
export function headersOf(bytes: Buffer): HeaderAt[] {
  const headers: HeaderAt[] = [];
  for (let at = 0; ; ) {
    const namesize = parseInt(bytes.toString('latin1', at + 94, at + 102), 16);
    const size = parseInt(bytes.toString('latin1', at + 54, at + 62), 16);
    const raw = bytes.subarray(at + 110, at + 110 + namesize);
    const name = raw.subarray(0, raw.indexOf(0));
    headers.push({ at, name, namesize, size });
    if (name.toString('latin1') === 'TRAILER!!!') return headers;
    at = (((at + 110 + namesize + 3) & ~3) + size + 3) & ~3;
  }
}
