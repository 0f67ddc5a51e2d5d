import { FormatError } from '../errors.js';
import { readLE16, readLE32 } from './bytes.js';
const { readSync } = process.getBuiltinModule('node:fs');

/**
 * One run of the image's bytes: `length` bytes of the file from `file`, or zeros where `file`
 * is absent (a section's zero fill, the stub's padding between initrds). `section` names the
 * unified kernel image section it comes from; a plain image is one piece without one.
 */
export interface Piece {
  file?: number;
  length: number;
  section?: string;
}

/** A section of a unified kernel image that holds an initrd, as examine shows it. */
export interface UkiSection {
  name: string;
  /** Where its data starts in the file. */
  fileOffset: number;
  /** The bytes the stub takes from the file: the lesser of SizeOfRawData and VirtualSize. */
  size: number;
  /** Its size in memory: beyond `size` the firmware fills zeros. */
  virtualSize: number;
  /** Where it starts in the image the kernel gets, the initrds' concatenation. */
  imageOffset: number;
}

export interface Uki {
  sections: UkiSection[];
  pieces: Piece[];
}

/**
 * The initrd sections in the order systemd-stub hands them to the kernel (src/boot/stub.c): the
 * microcode first, then the initrd. Another initrd loaded before the stub would go between them;
 * a file holds none.
 */
export const INITRD_SECTIONS = ['.ucode', '.initrd'] as const;

const DOS_HEADER = 64;
/** "PE\0\0" and the COFF file header. */
const PE_HEADER = 24;
const SECTION_HEADER = 40;

/** Whether the file starts as a PE file does: "MZ". */
export function isPeFile(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a;
}

/**
 * The image a unified kernel image (a PE file with systemd-stub) gives the kernel, from its
 * section table: the data of `.ucode` then `.initrd`, each read as the stub reads it (VirtualSize
 * bytes in memory, of which the file gives at most SizeOfRawData) and padded with zeros to a
 * multiple of 4 when there are both, as the stub's combine_initrds pads. Sections after a
 * `.profile` section belong to a profile of a multi-profile UKI: only the base ones are read.
 * Any section whose data leaves the file or overlaps another's is a FormatError at its header.
 */
export function readUki(fd: number, fileSize: number): Uki {
  const read = (offset: number, length: number, what: string): Buffer => {
    const out = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, out, got, length - got, offset + got);
      if (n === 0) throw new FormatError(`truncated PE file: ${what} (${length} bytes from byte ${offset}) goes past the end of the file (${fileSize} bytes)`, offset);
      got += n;
    }
    return out;
  };
  const dos = read(0, DOS_HEADER, 'the DOS header');
  const peOffset = readLE32(dos, 0x3c);
  const pe = read(peOffset, PE_HEADER, 'the PE header');
  if (pe.readUInt32BE(0) !== 0x50450000) {
    throw new FormatError(`an MZ file without a PE header (bytes ${pe.subarray(0, 4).toString('hex')} where "PE\\0\\0" belongs): not a unified kernel image`, peOffset);
  }
  const count = readLE16(pe, 6);
  const tableOffset = peOffset + PE_HEADER + readLE16(pe, 20);
  const table = read(tableOffset, count * SECTION_HEADER, `the section table of ${count} sections`);

  const all = [];
  for (let i = 0; i < count; i++) {
    const h = table.subarray(i * SECTION_HEADER, (i + 1) * SECTION_HEADER);
    const nul = h.indexOf(0);
    const header = {
      name: h.subarray(0, nul >= 0 && nul < 8 ? nul : 8).toString('latin1'),
      at: tableOffset + i * SECTION_HEADER,
      virtualSize: readLE32(h, 8),
      rawSize: readLE32(h, 16),
      fileOffset: readLE32(h, 20),
    };
    if (header.rawSize > 0 && header.fileOffset + header.rawSize > fileSize) {
      throw new FormatError(`section ${header.name} (file bytes ${header.fileOffset}-${header.fileOffset + header.rawSize}) goes past the end of the file (${fileSize} bytes)`, header.at);
    }
    all.push(header);
  }
  const placed = all.filter((s) => s.rawSize > 0).sort((a, b) => a.fileOffset - b.fileOffset);
  for (let i = 1; i < placed.length; i++) {
    const [before, after] = [placed[i - 1], placed[i]];
    if (after.fileOffset < before.fileOffset + before.rawSize) {
      throw new FormatError(`section ${after.name} (file bytes ${after.fileOffset}-${after.fileOffset + after.rawSize}) overlaps section ${before.name} (file bytes ${before.fileOffset}-${before.fileOffset + before.rawSize})`, after.at);
    }
  }

  const profile = all.findIndex((s) => s.name === '.profile');
  const base = profile < 0 ? all : all.slice(0, profile);
  // The stub takes the first section of a name.
  const found = INITRD_SECTIONS.map((name) => base.find((s) => s.name === name)).filter((s) => s !== undefined);
  if (!found.some((s) => s.name === '.initrd')) {
    throw new FormatError(`a PE file without an .initrd section (sections: ${all.map((s) => s.name).join(' ') || 'none'}): not a unified kernel image with an initrd`, tableOffset);
  }
  const sections: UkiSection[] = [];
  const pieces: Piece[] = [];
  let imageOffset = 0;
  for (const s of found) {
    const size = Math.min(s.rawSize, s.virtualSize);
    const padded = found.length > 1 ? Math.ceil(s.virtualSize / 4) * 4 : s.virtualSize;
    sections.push({ name: s.name, fileOffset: s.fileOffset, size, virtualSize: s.virtualSize, imageOffset });
    if (size > 0) pieces.push({ file: s.fileOffset, length: size, section: s.name });
    if (padded > size) pieces.push({ length: padded - size, section: s.name });
    imageOffset += padded;
  }
  return { sections, pieces };
}
