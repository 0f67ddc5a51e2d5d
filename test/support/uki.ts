import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { sh } from './cli.js';

/** systemd-stub from Debian's systemd-boot-efi: what ukify puts in front of the sections. */
export const STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
export const HAVE_STUB = existsSync(STUB);

/** Where the sections go in memory: above the stub's own, each on a page of its own. */
const FIRST_VMA = 0x1000000;
const PAGE = 0x1000;

/**
 * A unified kernel image written to `out` as the systemd documentation and ukify make one: the
 * stub with each `[name, file]` added by objcopy in order, at increasing addresses.
 */
export function buildUki(out: string, sections: readonly (readonly [string, string])[]): string {
  let vma = FIRST_VMA;
  const args: string[] = [];
  for (const [name, file] of sections) {
    args.push(`--add-section ${name}=${file}`, `--change-section-vma ${name}=0x${vma.toString(16)}`);
    vma += Math.ceil(readFileSync(file).length / PAGE) * PAGE + PAGE;
  }
  sh(`objcopy ${args.join(' ')} ${STUB} ${out}`);
  return out;
}

/** A section as objdump -h reports it: the independent reading of the section table. */
export interface ObjdumpSection {
  name: string;
  size: number;
  fileOffset: number;
}

export function objdumpSections(file: string): ObjdumpSection[] {
  return [...sh(`objdump -h ${file}`).toString().matchAll(/^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)/gm)]
    .map((m) => ({ name: m[1], size: parseInt(m[2], 16), fileOffset: parseInt(m[3], 16) }));
}

/** A section's data as objcopy extracts it. */
export function objcopySection(file: string, name: string, out: string): Buffer {
  sh(`objcopy -O binary --only-section=${name} ${file} ${out}`);
  return readFileSync(out);
}

/** The offset of the section table's entry for `name` in a PE file's bytes. */
export function sectionHeaderAt(pe: Buffer, name: string): number {
  const peOffset = pe.readUInt32LE(0x3c);
  const table = peOffset + 24 + pe.readUInt16LE(peOffset + 20);
  const count = pe.readUInt16LE(peOffset + 6);
  for (let i = 0; i < count; i++) {
    const at = table + i * 40;
    if (pe.subarray(at, at + 8).toString('latin1').replace(/\0+$/, '') === name) return at;
  }
  throw new Error(`no section ${name}`);
}

/** A copy of the PE file `from` with `edit` applied to its bytes, written to `to`. */
export function editedCopy(from: string, to: string, edit: (pe: Buffer) => Buffer | void): string {
  const pe = readFileSync(from);
  writeFileSync(to, edit(pe) ?? pe);
  return to;
}
