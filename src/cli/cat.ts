import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CpioEntry, entryType, hardLinkKey } from '../cpio/entry.js';
import { escapeName } from '../cpio/names.js';
import type { CpioEvents } from '../cpio/parser.js';
import { joinParts, normalizeName } from '../extract/paths.js';
import { walkImage } from '../image/walk.js';
import { UsageError } from '../errors.js';
import { writeAllSync } from '../output.js';
import { type Command, type Options, parseCommandArgs, positionals, wantsHelp } from './args.js';
import { Failure, onImage } from './report.js';
import { maxSizeOption } from './sizes.js';

const OPTIONS = { 'max-size': { type: 'string' } } satisfies Options;

export const cat: Command = {
  name: 'cat',
  options: OPTIONS,
  usage: `Usage: initramfs-restore cat IMAGE PATH [--max-size SIZE]

Writes the content of the file PATH in IMAGE to stdout: the file as the kernel would leave it,
so when several archives hold PATH the last one wins, and a hard link gives the data of its
group. PATH may start with '/' or './'. The image is read twice: once to find the entry, once
for its data, which goes through a temporary file.

Options:
  --max-size SIZE  stop when the compressed members expand beyond SIZE in all (default 4G)
  -h, --help       this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, cat)) return 0;
    const maxOutput = maxSizeOption(values['max-size']);
    const [image, path] = positionals(args, ['IMAGE', 'PATH'], cat);
    const wanted = normalizeName(Buffer.from(path));
    if (!wanted.ok || wanted.parts.length === 0) throw new UsageError(`cat: "${path}" does not name a file`);
    const wantedName = joinParts(wanted.parts);
    return onImage(image, async () => {
      const found = await findLast(image, wantedName, maxOutput);
      if (!found) throw new Failure(`${image}: no entry named ${path}`);
      if (found.type !== 'file') {
        const target = found.target ? ` -> ${escapeName(found.target)}` : '';
        throw new Failure(`${image}: ${path} is a ${found.type}${target}, not a regular file`);
      }
      const spoolDir = mkdtempSync(join(tmpdir(), 'initramfs-restore-cat-'));
      const spool = new Spool(join(spoolDir, 'data'), found);
      try {
        await walkImage(image, spool, { select: (index) => spool.startArchive(index), maxOutput });
        spool.copyTo(1);
      } finally {
        spool.close();
        rmSync(spoolDir, { recursive: true, force: true });
      }
      return 0;
    });
  },
};

/** Where the file's final content comes from. */
interface Found {
  type: string;
  target?: Buffer;
  archive: number;
  /** The entry's position in its archive. */
  ordinal: number;
  /** Its hard-link group: the content is that of the group's last entry with data. */
  linkKey?: string;
}

/**
 * First pass: the last entry named `wanted` is the file the kernel leaves (later archives
 * replace earlier ones). Nothing but the entry headers is kept.
 */
async function findLast(image: string, wanted: Buffer, maxOutput: number): Promise<Found | undefined> {
  let found: Found | undefined;
  let archive = 0;
  let ordinal = 0;
  await walkImage(image, {
    entry(e) {
      ordinal++;
      const name = normalizeName(e.name);
      if (!name.ok || !joinParts(name.parts).equals(wanted)) return;
      found = { type: entryType(e.mode) ?? 'unknown', target: e.linkTarget, archive, ordinal, linkKey: hardLinkKey(e) };
    },
    data() {},
    entryEnd() {},
    trailer() {},
  }, {
    select: (index) => {
      archive = index;
      ordinal = 0;
      return true;
    },
    maxOutput,
  });
  return found;
}

/**
 * Second pass: keeps the content in a temporary file, since a file can be far larger than
 * memory. In a hard-link group, as in the kernel, each link that carries data replaces it.
 */
class Spool implements CpioEvents {
  private readonly fd: number;
  private writing = false;
  private offset = 0;
  private ordinal = 0;

  constructor(path: string, private readonly found: Found) {
    this.fd = openSync(path, 'w+', 0o600);
  }

  startArchive(index: number): boolean {
    this.ordinal = 0;
    return index === this.found.archive;
  }

  entry(e: CpioEntry): void {
    this.ordinal++;
    const { linkKey, ordinal } = this.found;
    const source = linkKey === undefined ? this.ordinal === ordinal : hardLinkKey(e) === linkKey && e.size > 0;
    this.writing = source;
    if (source) {
      ftruncateSync(this.fd, 0);
      this.offset = 0;
    }
  }

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

  trailer(): void {}

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
