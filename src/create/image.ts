import { constants, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { type HeaderFields, dataSum, encodeHeader, encodeTrailer, padding } from '../cpio/writer.js';
import type { SegmentFormat } from '../decode/formats.js';
import { type SourceEntry, SourceError, archiveEntries } from './entries.js';
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

/**
 * Writes the initramfs `out`: one cpio archive per directory, in order, each compressed as
 * asked, each member starting 4-aligned. It is written beside `out` and renamed into place
 * when complete: a failure or a signal leaves no `out` and no temporary file.
 */
export async function createImage(out: string, dirs: readonly string[], options: CreateOptions = {}): Promise<CreateResult> {
  const compress = options.compress?.length ? options.compress : (['none'] as const);
  const magic = options.format === 'crc' ? '070702' : '070701';
  return writeImageFile(out, async (fd) => {
    const archives: CreatedArchive[] = [];
    let offset = 0;
    for (const [i, dir] of dirs.entries()) {
      const entries = archiveEntries(dir, { mtimeClamp: options.mtimeClamp, keepOwners: options.keepOwners });
      const compression = compress[Math.min(i, compress.length - 1)];
      const gap = padding(offset);
      writeSync(fd, gap, 0, gap.length, offset);
      const start = offset + gap.length;
      const end = start + (await writeMember(fd, start, archiveStream(entries, magic), compression, options.level));
      archives.push({
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
    return { image: out, size: offset, archives };
  });
}

/** The bytes of one archive: each entry's header, name and data, then the trailer. */
async function* archiveStream(entries: readonly SourceEntry[], magic: HeaderFields['magic']): AsyncGenerator<Buffer> {
  for (const e of entries) {
    if (!e.readsData) {
      yield encodeHeader({ ...e.header, magic, check: 0 });
      if (e.linkTarget) yield Buffer.concat([e.linkTarget, padding(e.linkTarget.length)]);
      continue;
    }
    // crc's sum is in the header, before the data: read once to sum, again to write.
    let check = 0;
    if (magic === '070702') for await (const chunk of fileData(e)) check = dataSum(chunk, check);
    yield encodeHeader({ ...e.header, magic, check });
    let sum = 0;
    for await (const chunk of fileData(e)) {
      if (magic === '070702') sum = dataSum(chunk, sum);
      yield chunk;
    }
    if (sum !== check) throw new SourceError(e.path, 'changed while read');
    yield padding(e.header.size);
  }
  yield encodeTrailer(magic);
}

/**
 * A regular file's data, exactly the size its header holds, or an error: a file that grew or
 * shrank, or is no longer the file that was listed, would make the archive lie.
 */
async function* fileData(e: SourceEntry): AsyncGenerator<Buffer> {
  const { size } = e.header;
  const handle = await open(e.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const now = await handle.stat();
    if (!now.isFile() || now.ino !== e.stats.ino || now.dev !== e.stats.dev) throw new SourceError(e.path, 'replaced while read');
    let done = 0;
    while (done < size) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, size - done));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, done);
      if (bytesRead === 0) throw new SourceError(e.path, `shrank while read: ${done} of the ${size} bytes its header holds`);
      done += bytesRead;
      yield chunk.subarray(0, bytesRead);
    }
    const { bytesRead } = await handle.read(Buffer.alloc(1), 0, 1, size);
    if (bytesRead > 0) throw new SourceError(e.path, `grew while read: it has more than the ${size} bytes its header holds`);
  } finally {
    await handle.close();
  }
}
