import { constants, writeSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { type HeaderFields, dataSum, encodeHeader, encodeTrailer, padding } from '../cpio/writer.js';
import type { SegmentFormat } from '../decode/formats.js';
import { type FileSource, type SourceEntry, SourceError, archiveEntries } from './entries.js';
import { type CreateCompression, writeImageFile, writeMember } from './write.js';

export { CREATE_COMPRESSIONS, type CreateCompression } from './write.js';

export interface CreateOptions {
  /** The k-th applies to the k-th directory, the last to the rest; none by default. */
  compress?: readonly CreateCompression[];
  /** The compressor's level (its -N); each tool's default when absent. */
  level?: number;
  /** newc (070701) by default; crc (070702) carries the sum of each file's data. */
  format?: 'newc' | 'crc';
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
 * when complete: a failure or a signal leaves no `out` and no temporary file.
 */
export async function createImage(out: string, dirs: readonly string[], options: CreateOptions = {}): Promise<CreateResult> {
  const compress = options.compress?.length ? options.compress : (['none'] as const);
  const rules = { mtimeClamp: options.mtimeClamp, keepOwners: options.keepOwners };
  const archives = dirs.map((dir, i) => ({ entries: archiveEntries(dir, rules), compression: compress[Math.min(i, compress.length - 1)], level: options.level }));
  return writeArchives(out, archives, options.format);
}

/** Writes the initramfs `out` as createImage does, from archives already listed. */
export async function writeArchives(out: string, archives: readonly ArchivePlan[], format: CreateOptions['format'] = 'newc'): Promise<CreateResult> {
  const magic = format === 'crc' ? '070702' : '070701';
  return writeImageFile(out, async (fd) => {
    const written: CreatedArchive[] = [];
    let offset = 0;
    for (const [i, { entries, compression, level }] of archives.entries()) {
      const gap = padding(offset);
      writeSync(fd, gap, 0, gap.length, offset);
      const start = offset + gap.length;
      const end = start + (await writeMember(fd, start, archiveStream(entries, magic), compression, level));
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
  });
}

/** The bytes of one archive: each entry's header, name and data, then the trailer. */
async function* archiveStream(entries: readonly SourceEntry[], magic: HeaderFields['magic']): AsyncGenerator<Buffer> {
  for (const e of entries) {
    if (!e.data) {
      yield encodeHeader({ ...e.header, magic, check: 0 });
      if (e.linkTarget) yield Buffer.concat([e.linkTarget, padding(e.linkTarget.length)]);
      continue;
    }
    // crc's sum is in the header, before the data: read once to sum, again to write.
    let check = 0;
    if (magic === '070702') for await (const chunk of fileData(e.data, e.header.size)) check = dataSum(chunk, check);
    yield encodeHeader({ ...e.header, magic, check });
    let sum = 0;
    for await (const chunk of fileData(e.data, e.header.size)) {
      if (magic === '070702') sum = dataSum(chunk, sum);
      yield chunk;
    }
    if (sum !== check) throw new SourceError(e.data.label, 'changed while read');
    yield padding(e.header.size);
  }
  yield encodeTrailer(magic);
}

/**
 * A regular file's data, exactly the size its header holds, or an error: a file that grew or
 * shrank, or is no longer the file that was listed, would make the archive lie.
 */
async function* fileData({ path, stats, label }: FileSource, size: number): AsyncGenerator<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw new SourceError(label, (err as Error).message);
  }
  try {
    const now = await handle.stat();
    if (!now.isFile() || now.ino !== stats.ino || now.dev !== stats.dev) throw new SourceError(label, 'replaced while read');
    let done = 0;
    while (done < size) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, size - done));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, done);
      if (bytesRead === 0) throw new SourceError(label, `shrank while read: ${done} of the ${size} bytes its header holds`);
      done += bytesRead;
      yield chunk.subarray(0, bytesRead);
    }
    const { bytesRead } = await handle.read(Buffer.alloc(1), 0, 1, size);
    if (bytesRead > 0) throw new SourceError(label, `grew while read: it has more than the ${size} bytes its header holds`);
  } finally {
    await handle.close();
  }
}
