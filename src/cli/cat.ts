import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CpioEntry, entryType, hardLinkKey } from '../cpio/entry.js';
import { escapeName } from '../cpio/names.js';
import type { CpioEvents } from '../cpio/parser.js';
import { joinParts, normalizeName } from '../extract/paths.js';
import { walkImage } from '../image/walk.js';
import { type Command, Failure, UsageError, parseCommandArgs, positionals, wantsHelp, writeAllSync } from './common.js';

export const cat: Command = {
  name: 'cat',
  summary: "one file's content to stdout (like lsinitrd -f)",
  usage: `Usage: initramfs-restore cat IMAGE PATH

Writes the content of the file PATH in IMAGE to stdout: the file as the kernel would leave it,
so when several archives hold PATH the last one wins, and a hard link gives the data of its
group. PATH may start with '/' or './'.

Options:
  -h, --help  this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, {}, cat);
    if (wantsHelp(values, cat)) return 0;
    const [image, path] = positionals(args, ['IMAGE', 'PATH'], cat);
    const wanted = normalizeName(Buffer.from(path));
    if (!wanted.ok || wanted.parts.length === 0) throw new UsageError(`cat: "${path}" does not name a file`);
    const spoolDir = mkdtempSync(join(tmpdir(), 'initramfs-restore-cat-'));
    const spool = new Spool(join(spoolDir, 'data'), joinParts(wanted.parts));
    try {
      await walkImage(image, spool);
      if (!spool.found) throw new Failure(`${image}: no entry named ${path}`);
      if (spool.found.type !== 'file') {
        const target = spool.found.target ? ` -> ${escapeName(spool.found.target)}` : '';
        throw new Failure(`${image}: ${path} is a ${spool.found.type}${target}, not a regular file`);
      }
      spool.copyTo(1);
    } finally {
      spool.close();
      rmSync(spoolDir, { recursive: true, force: true });
    }
    return 0;
  },
};

/**
 * Keeps the data of the last entry named `wanted` in a temporary file: a file can be far larger
 * than memory, and a later archive may replace it, so nothing is printed until the walk ends.
 */
class Spool implements CpioEvents {
  found: { type: string; target?: Buffer } | undefined;
  private readonly fd: number;
  private writing = false;
  private linkKey: string | undefined;

  constructor(path: string, private readonly wanted: Buffer) {
    this.fd = openSync(path, 'w+', 0o600);
  }

  entry(e: CpioEntry): void {
    const name = normalizeName(e.name);
    const same = name.ok && joinParts(name.parts).equals(this.wanted);
    const key = hardLinkKey(e);
    if (same) {
      this.found = { type: entryType(e.mode) ?? 'unknown', target: e.linkTarget };
      this.linkKey = key;
    }
    // The data of a hard-link group may come with another of its names.
    this.writing = (same || (key !== undefined && key === this.linkKey)) && (same || e.size > 0);
    if (this.writing) ftruncateSync(this.fd, 0);
    this.offset = 0;
  }

  private offset = 0;

  data(chunk: Uint8Array): void {
    if (!this.writing) return;
    for (let off = 0; off < chunk.length; ) {
      const n = writeSync(this.fd, chunk, off, chunk.length - off, this.offset);
      off += n;
      this.offset += n;
    }
  }

  entryEnd(): void {
    this.writing = false;
  }

  trailer(): void {
    this.linkKey = undefined;
  }

  copyTo(outFd: number): void {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let pos = 0; ; ) {
      const n = readSync(this.fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      writeAllSync(outFd, buf.subarray(0, n));
      pos += n;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
