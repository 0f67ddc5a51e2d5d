import type { CpioEntry } from './entry.js';
import { HEADER_SIZE, PATH_MAX } from './parser.js';

/** What a header holds: an entry as the parser reads it, less where it was found. */
export type HeaderFields = Omit<CpioEntry, 'offset' | 'linkTarget'>;

const TRAILER = Buffer.from('TRAILER!!!');

/** Zeros that bring `length` to a multiple of 4, as newc pads a header with its name, and data. */
export function padding(length: number): Buffer {
  return Buffer.alloc((4 - (length & 3)) & 3);
}

/** Where a header goes, for 3cpio's --data-align: its offset in the file, and the alignment asked. */
export interface DataAlignment {
  offset: number;
  /** A positive multiple of 4. */
  align: number;
}

/**
 * The header, the name with its NUL and the padding after them. Every field is 8 hex digits:
 * a value that does not fit is the caller's bug (it checks sizes and names first, where it can
 * name the file), so it throws rather than writing an archive that reads back differently.
 * With `alignment`, an entry with at least `align` bytes of data (a symlink's target counts,
 * as in 3cpio) gets more NULs after its name, counted in namesize, so that its data starts at
 * a multiple of `align` in the file; unless namesize would pass PATH_MAX, which the kernel
 * refuses: then the data is only 4-aligned.
 */
export function encodeHeader(h: HeaderFields, alignment?: DataAlignment): Buffer {
  let namesize = h.name.length + 1;
  if (alignment && h.size >= alignment.align) {
    const misaligned = (alignment.offset + HEADER_SIZE + namesize) % alignment.align;
    const aligned = namesize + (misaligned === 0 ? 0 : alignment.align - misaligned);
    if (aligned <= PATH_MAX) namesize = aligned;
  }
  const fields = [h.ino, h.mode, h.uid, h.gid, h.nlink, h.mtime, h.size, h.devMajor, h.devMinor, h.rdevMajor, h.rdevMinor, namesize, h.check];
  const out = Buffer.alloc(HEADER_SIZE + namesize + padding(HEADER_SIZE + namesize).length);
  out.write(h.magic, 0, 'latin1');
  fields.forEach((value, i) => {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`cpio header field ${i} out of range: ${value}`);
    out.write(value.toString(16).padStart(8, '0'), 6 + 8 * i, 'latin1');
  });
  h.name.copy(out, HEADER_SIZE);
  return out;
}

/** The entry that ends an archive: the kernel forgets its hard links there. */
export function encodeTrailer(magic: HeaderFields['magic']): Buffer {
  return encodeHeader({ magic, ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, size: 0, devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0, check: 0, name: TRAILER });
}
