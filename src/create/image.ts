import type { Stats } from 'node:fs';
import { dataSum } from '../cpio/checksum.js';
import { type HeaderFields, encodeHeader, encodeTrailer, padding } from '../cpio/writer.js';
import type { SegmentFormat } from '../decode/formats.js';
import { writeAllSync } from '../output.js';
import { type FileSource, type SourceEntry, SourceError, archiveEntries } from './entries.js';
import { type CreateCompression, nextMemberStart, writeImageFile, writeMember } from './write.js';
const { closeSync, constants, fstatSync, openSync, readSync, statSync } = process.getBuiltinModule('node:fs');

export { CREATE_COMPRESSIONS, type CreateCompression } from './write.js';

/** How the archives of an image are written. */
export interface WriteOptions {
  /** newc (070701) by default; crc (070702) carries the sum of each file's data. */
  format?: 'newc' | 'crc';
  /**
   * In plain archives, each entry with at least this many bytes of data has them start at a
   * multiple of it in the image (3cpio's --data-align), so that they can be copied or shared
   * from the image aligned; a positive multiple of 4. Compressed archives are not changed:
   * their offsets are not the image's.
   */
  dataAlign?: number;
  /** Hears the bytes of file data read so far, of all the archives' in all. */
  progress?: (done: number, total: number) => void;
}

export interface CreateOptions extends WriteOptions {
  /** The k-th applies to the k-th directory, the last to the rest; none by default. */
  compress?: readonly CreateCompression[];
  /** The compressor's level (its -N); each tool's default when absent. */
  level?: number;
  /** Every later mtime becomes this one (SOURCE_DATE_EPOCH). */
  mtimeClamp?: number;
  /** The files' uid and gid instead of 0:0. */
  keepOwners?: boolean;
}

/** One archive of the image, named as examine names its rows. */
export interface CreatedArchive {
  index: number;
  start: number;
  end: number;
  size: number;
  format: SegmentFormat;
  entries: number;
  /** The sum of the entries' data sizes. */
  extractedSize: number;
}

export interface CreateResult {
  image: string;
  size: number;
  archives: CreatedArchive[];
}

/** File data is read and handed on in pieces of this size: memory stays bounded. */
const CHUNK = 1 << 20;

/** One archive of the image to write: its entries, and how it is compressed. */
export interface ArchivePlan {
  entries: readonly SourceEntry[];
  compression: CreateCompression;
  /** The compressor's level (its -N); the tool's default when absent. */
  level?: number;
}

/**
 * Writes the initramfs `out`: one cpio archive per directory, in order, each compressed as
 * asked, each member starting 4-aligned. It is written beside `out` and renamed into place
 * when complete: a failure or a signal leaves no `out` and no temporary file. The directories
 * are listed once that file exists, which is left out of them (as tar leaves out its archive),
 * so that writing it changes no directory that is checked unchanged at the end.
 */
export async function createImage(out: string, dirs: readonly string[], options: CreateOptions = {}): Promise<CreateResult> {
  const compress = options.compress?.length ? options.compress : (['none'] as const);
  const rules = { mtimeClamp: options.mtimeClamp, keepOwners: options.keepOwners };
  return writeImageFile(out, (fd) => {
    const image = fstatSync(fd);
    const archives = dirs.map((dir, i) => ({ entries: archiveEntries(dir, rules, image), compression: compress[Math.min(i, compress.length - 1)], level: options.level }));
    return writeArchivesTo(fd, out, archives, options);
  });
}

/** Writes the initramfs `out` as createImage does, from archives already listed. */
export async function writeArchives(out: string, archives: readonly ArchivePlan[], options: WriteOptions = {}): Promise<CreateResult> {
  return writeImageFile(out, (fd) => writeArchivesTo(fd, out, archives, options));
}

/** Writes the archives into `fd`, the temporary file that becomes `out`. */
async function writeArchivesTo(fd: number, out: string, archives: readonly ArchivePlan[], options: WriteOptions): Promise<CreateResult> {
  const { dataAlign } = options;
  if (dataAlign !== undefined && !(Number.isInteger(dataAlign) && dataAlign > 0 && dataAlign % 4 === 0 && dataAlign <= 0xffffffff)) {
    throw new RangeError(`dataAlign ${dataAlign} is not a positive multiple of 4`);
  }
  const magic = options.format === 'crc' ? '070702' : '070701';
  const written: CreatedArchive[] = [];
  const dataSize = archives.reduce((sum, a) => sum + a.entries.reduce((n, e) => n + (e.data ? e.header.size : 0), 0), 0);
  let dataRead = 0;
  const progress = (bytes: number): void => {
    dataRead += bytes;
    options.progress?.(dataRead, dataSize);
  };
  let offset = 0;
  for (const [i, { entries, compression, level }] of archives.entries()) {
    const start = i === 0 ? 0 : nextMemberStart(offset, archives[i - 1].compression);
    writeAllSync(fd, Buffer.alloc(start - offset));
    const alignment = compression === 'none' && dataAlign ? { start, align: dataAlign } : undefined;
    const end = start + (await writeMember(fd, archiveStream(entries, magic, progress, alignment), compression, level));
    written.push({
      index: i + 1,
      start,
      end,
      size: end - start,
      format: compression === 'none' ? 'cpio' : compression,
      entries: entries.length,
      extractedSize: entries.reduce((sum, e) => sum + e.header.size, 0),
    });
    offset = end;
  }
  return { image: out, size: offset, archives: written };
}

const TRAILER = Buffer.from('TRAILER!!!');
/** A file named TRAILER!!! at the top of the tree, as a name the kernel makes at the same path. */
const DOT_TRAILER = Buffer.from('./TRAILER!!!');

/**
 * The bytes of one archive (each entry's header, name and data, then the trailer) in pieces of
 * CHUNK bytes: small entries share a piece, and file data is read straight into it; `read`
 * hears how many bytes of it. With `dataAlign`, the archive starts at `start` in the image and
 * data goes at multiples of `align`.
 */
function* archiveStream(entries: readonly SourceEntry[], magic: HeaderFields['magic'], read: (bytes: number) => void, dataAlign?: { start: number; align: number }): Generator<Buffer> {
  const pieces = new Pieces();
  // One for every file: one each was a MiB of garbage a file (create --format crc of the real
  // image: 83 MB peak RSS). What the sum takes at a time: a MiB was 1 MB more of the peak.
  const sumBuffer = magic === '070702' ? Buffer.allocUnsafe(64 << 10) : undefined;
  const header = (fields: HeaderFields) => encodeHeader(
    // The kernel, and every cpio reader, ends the archive at an entry of this name.
    fields.name.equals(TRAILER) ? { ...fields, name: DOT_TRAILER } : fields,
    dataAlign && { offset: dataAlign.start + pieces.total, align: dataAlign.align },
  );
  for (const e of entries) {
    if (!e.data) {
      yield* pieces.add(header({ ...e.header, magic, check: 0 }));
      if (e.linkTarget) yield* pieces.add(Buffer.concat([e.linkTarget, padding(e.linkTarget.length)]));
      continue;
    }
    const { size } = e.header;
    const { label } = e.data;
    const fd = openSource(e.data);
    try {
      // crc's sum is in the header, before the data: read once to sum, again to write.
      const check = sumBuffer ? sumOf(fd, size, label, sumBuffer) : 0;
      yield* pieces.add(header({ ...e.header, magic, check }));
      let sum = 0;
      for (let done = 0; done < size; ) {
        const bytes = pieces.read(fd, done, size - done);
        if (bytes.length === 0) throw new SourceError(label, `shrank while read: ${done} of the ${size} bytes its header holds`);
        if (magic === '070702') sum = dataSum(bytes, sum);
        done += bytes.length;
        read(bytes.length);
        yield* pieces.full();
      }
      if (readSync(fd, Buffer.alloc(1), 0, 1, size) > 0) throw new SourceError(label, `grew while read: it has more than the ${size} bytes its header holds`);
      if (sum !== check) throw new SourceError(label, 'changed while read');
    } finally {
      closeSync(fd);
    }
    yield* pieces.add(padding(size));
  }
  for (const e of entries) if (e.directory) checkUnchanged(e.directory);
  yield* pieces.add(encodeTrailer(magic));
  yield* pieces.rest();
}

/**
 * A regular file to read, still the one that was listed: a file that was replaced would make
 * the archive lie.
 */
function openSource({ path, stats, label }: FileSource): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw new SourceError(label, (err as Error).message);
  }
  const now = fstatSync(fd);
  if (!now.isFile() || now.ino !== stats.ino || now.dev !== stats.dev) {
    closeSync(fd);
    throw new SourceError(label, 'replaced while read');
  }
  return fd;
}

/**
 * A directory listed for the archive, still as it was: an entry added, removed or renamed in
 * it since (which changes its mtime and ctime) would make the archive a tree that never was.
 * A change within the filesystem's timestamp granularity of the last one before the listing
 * goes unseen. Followed, as the walk's root is: a directory below it that became a symlink is
 * another inode.
 */
function checkUnchanged({ path, stats, label }: FileSource): void {
  let now: Stats;
  try {
    now = statSync(path);
  } catch (err) {
    throw new SourceError(label, (err as Error).message);
  }
  if (now.ino !== stats.ino || now.dev !== stats.dev || now.mtimeMs !== stats.mtimeMs || now.ctimeMs !== stats.ctimeMs) {
    throw new SourceError(label, 'changed while the archive was written: an entry was added, removed or renamed in it, or its attributes changed, after it was listed');
  }
}

/** The sum of the first `size` bytes of `fd`, for crc's header, read through `buffer`. */
function sumOf(fd: number, size: number, label: string, buffer: Buffer): number {
  let sum = 0;
  for (let done = 0; done < size; ) {
    const n = readSync(fd, buffer, 0, Math.min(buffer.length, size - done), done);
    if (n === 0) throw new SourceError(label, `shrank while read: ${done} of the ${size} bytes its header holds`);
    sum = dataSum(buffer.subarray(0, n), sum);
    done += n;
  }
  return sum;
}

/**
 * The piece being filled, and those that are full. Its reader is done with a piece when it asks
 * for the next (writeMember writes it, or waits until the compressor has taken it), so two
 * Buffers take turns: fresh ones each time cost a page fault per 4 KiB and left the memory to
 * the garbage collector, which made the uncompressed archive several times slower and its
 * peak RSS far larger (bench/create.sh times it).
 */
class Pieces {
  private piece: Buffer = Buffer.allocUnsafe(CHUNK);
  private spare: Buffer | undefined;
  private used = 0;
  private readonly done: Buffer[] = [];
  /** How many bytes were added: the offset of the next in the archive. */
  total = 0;

  /** Appends `bytes`, and returns the pieces that filled up. */
  add(bytes: Uint8Array): Buffer[] {
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(bytes.length - at, CHUNK - this.used);
      this.piece.set(bytes.subarray(at, at + n), this.used);
      this.used += n;
      this.total += n;
      at += n;
      if (this.used === CHUNK) this.done.push(this.take());
    }
    return this.full();
  }

  /** Reads up to `length` bytes of `fd` at `position` into the piece; returns them (none at the file's end). */
  read(fd: number, position: number, length: number): Buffer {
    const at = this.used;
    const n = readSync(fd, this.piece, at, Math.min(length, CHUNK - at), position);
    const read = this.piece.subarray(at, at + n);
    this.used += n;
    this.total += n;
    if (this.used === CHUNK) this.done.push(this.take());
    return read;
  }

  /** The pieces that are full, handed over once. */
  full(): Buffer[] {
    return this.done.splice(0);
  }

  /** The full pieces and the last one. */
  rest(): Buffer[] {
    return this.used > 0 ? [...this.full(), this.take()] : this.full();
  }

  private take(): Buffer {
    const full = this.piece;
    // Every piece but the last fills up, so one is handed over at a time: the one handed
    // before is done with by now.
    this.piece = this.spare ?? Buffer.allocUnsafe(CHUNK);
    this.spare = full;
    const piece = full.subarray(0, this.used);
    this.used = 0;
    return piece;
  }
}
