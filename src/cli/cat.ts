import { type CpioEntry, type EntryType, entryType } from '../cpio/entry.js';
import { escapeName, unescapeName } from '../cpio/names.js';
import type { CpioEvents } from '../cpio/parser.js';
import { ModelTree, NONE } from '../extract/model.js';
import { grown } from '../extract/path-table.js';
import { normalizeName } from '../extract/paths.js';
import { type Notice, TreeWriter } from '../extract/writer.js';
import { type Archive, walkImage } from '../image/walk.js';
import { ByteSource, freeNow } from '../decode/source.js';
import { UsageError } from '../errors.js';
import { writeAllSync } from '../output.js';
import { openInTempDir } from '../temp.js';
import { type Command, type Options, parseCommandArgs, positionals, wantsHelp } from './args.js';
import { Failure, onImage, printError } from './report.js';
import { maxSizeOption } from './sizes.js';
const { closeSync, ftruncateSync, openSync, readSync, writeSync } = process.getBuiltinModule('node:fs');
const { join } = process.getBuiltinModule('node:path');

const OPTIONS = { 'max-size': { type: 'string' }, escaped: { type: 'boolean' } } satisfies Options;

export const cat: Command = {
  name: 'cat',
  options: OPTIONS,
  usage: `Usage: initramfs-restore cat IMAGE PATH [--escaped] [--max-size SIZE]

Writes to stdout the content of the file PATH in IMAGE: what 'unpack IMAGE DIR' leaves at
DIR/PATH in a new DIR, decided by unpack's own rules. So when several entries name PATH the
last one unpack writes wins, and a hard link gives the data of its group. PATH may start with
'/' or './'. A PATH unpack does not write (a '..' component, a name below a symlink, an entry
it refuses) is an error, as is a PATH that is a directory, a symlink or a special file: exit
status 1. A file is read twice: once to find the entry whose data ends up at PATH, then up to
the end of that data. IMAGE '-' (standard input) on a pipe is read once: the data of each
entry that lands at PATH is kept, until the image's end says which one stays, in a file in
the temporary directory ($TMPDIR) whose name is removed as soon as it is open. A pipe cannot
give one case, an error (exit status 1): a hard link named PATH that joins its group after
the group's data went by with another name; give the file. Past 16,384 directories or
hard-link groups, their records go to such a file too.

Options:
  --escaped        PATH as list prints names: \\\\ is a backslash and \\xNN the byte NN, every
                   other character itself; for a name that is not UTF-8, which no argument
                   carries as it is
  --max-size SIZE  stop when the compressed members expand beyond SIZE in all (default 4G)
  -h, --help       this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, cat)) return 0;
    const maxOutput = maxSizeOption(values['max-size']);
    const [image, path] = positionals(args, ['IMAGE', 'PATH'], cat);
    const wanted = normalizeName(values.escaped ? unescapedPath(path) : Buffer.from(path));
    if (!wanted.ok) throw new Failure(`${image}: unpack never writes ${path}: ${wanted.reason}`);
    if (wanted.depth === 0) throw new UsageError(`cat: "${path}" does not name a file`);
    return onImage(image, async () => {
      const spool = image === '-' && !readsTwice(image) ? new Spool() : undefined;
      try {
        const { node, from, last, archives } = await unpackModel(image, wanted.rel, maxOutput, spool);
        const at = ({ offset, archive }: Place) => location(offset, archives[archive - 1]);
        const lastFailed = last?.notice && `the last entry named ${path}, at ${at(last)}, was ${last.notice.kind}: ${last.notice.reason}`;
        if (!node) throw new Failure(`${image}: ${lastFailed ? `unpack leaves nothing at ${path}: ${lastFailed}` : `no entry named ${path}`}`);
        if (node.type !== 'file') throw new Failure(`${image}: ${path} is a ${describeNode(node.type, from)}, not a regular file${lastFailed ? `; ${lastFailed}` : ''}`);
        if (!from) throw new Error(`the file at ${path} keeps no entry`);
        if (spool && from.hasData && spool.ordinal !== from.ordinal) {
          const { name, ...place } = from.spooled!;
          throw new Failure(`${image}: ${path} holds the data of "${escapeName(Buffer.from(name!, 'latin1'))}", at ${at(place)}, which went by before ${path} was linked to it; a pipe is read once: give the file, or redirect it (- < FILE)`);
        }
        if (lastFailed) printError(`${image}: ${path} is what an earlier entry wrote: ${lastFailed}`);
        if (!from.hasData) return 0;
        if (spool) spool.print();
        else await printData(image, from.ordinal, maxOutput);
        return 0;
      } finally {
        spool?.close();
      }
    });
  },
};

/** `path` as list prints names (see escapeName): a backslash that is neither `\\` nor `\xNN` is a usage error. */
function unescapedPath(path: string): Buffer {
  try {
    return unescapeName(path);
  } catch {
    throw new UsageError(`cat: --escaped: "${path}" has a backslash that is neither \\\\ nor \\xNN (NN two hex digits, lowercase, as list prints them)`);
  }
}

/** Whether `image` can be read a second time: a file, not a pipe. */
function readsTwice(image: string): boolean {
  const src = ByteSource.open(image);
  src.close();
  return src.seekable;
}

/** Where an entry's header is, as messages name it: its archive's index, and its offset there. */
interface Place {
  archive: number;
  offset: number;
}

/** What the first pass keeps of the entry a path's content comes from. */
interface Kept {
  /** Its position among the image's entries (from 1), by which the second pass finds its data. */
  ordinal: number;
  /** Whether it has data: a file of none needs no second pass. */
  hasData: boolean;
  /**
   * Where it is, and a file's name (latin1): kept only with a spool (a pipe, which has no
   * second pass), whose message may name the file.
   */
  spooled?: Place & { name?: string };
  linkTarget?: Buffer;
  rdevMajor?: number;
  rdevMinor?: number;
}

/**
 * What the first pass keeps of each entry that a node of the model may come from (no directory
 * entry's), by its ordinal, which is the number the model keeps per node, as it holds every
 * path of the tree (an object per entry, with its name, took most of a run's memory; an array
 * of ordinals by a record's number 4 bytes an entry more: `cat` of 300,300 files peaked at
 * 63.9 MB with it, by hand). A symlink's target and a device's numbers are kept for the
 * message that PATH is one. On a pipe (`spooled`), each entry's place, and the name of each
 * file entry with data, which a link named PATH may join after it went by (whatever now is at
 * its group's first name: not only a member of the group); elsewhere a bit of whether it has
 * data, where its place and size took 16 bytes more (`cat` of 300,150 hard links peaked at
 * 67.9 MB with them, 65.6 without, by hand).
 */
class EntryRecords {
  private archives = new Uint32Array(0);
  private offsets = new Float64Array(0);
  /** By ordinal, a bit: whether its entry has data. */
  private withData = new Uint8Array(128);
  private readonly targets = new Map<number, Buffer>();
  private readonly devices = new Map<number, [major: number, minor: number]>();
  /** latin1: a Buffer of the pool's kept its slab. */
  private readonly names = new Map<number, string>();

  constructor(private readonly spooled: boolean) {}

  /**
   * Keeps what is needed of `e`, the image's `ordinal`-th entry, in `archive`, in place of the
   * entry `replaced` where it is not NONE (ModelTree's keep); returns the ordinal.
   */
  add(ordinal: number, archive: number, e: CpioEntry, replaced: number): number {
    // An entry replaced is a regular file's (a hard link's content): of the maps, only a name.
    if (replaced !== NONE) this.names.delete(replaced);
    this.withData = grown(this.withData, ordinal >> 3);
    if (e.size > 0) this.withData[ordinal >> 3] |= 1 << (ordinal & 7);
    const type = entryType(e.mode);
    if (type === 'symlink') this.targets.set(ordinal, e.linkTarget!);
    else if (type === 'char' || type === 'block') this.devices.set(ordinal, [e.rdevMajor, e.rdevMinor]);
    if (this.spooled) {
      this.archives = grown(this.archives, ordinal);
      this.offsets = grown(this.offsets, ordinal);
      this.archives[ordinal] = archive;
      this.offsets[ordinal] = e.offset;
      if (type === 'file' && e.size > 0) this.names.set(ordinal, e.name.toString('latin1'));
    }
    return ordinal;
  }

  release(): void {
    for (const array of [this.withData, this.archives, this.offsets]) freeNow(array.buffer);
    this.targets.clear();
    this.devices.clear();
    this.names.clear();
  }

  get(ordinal: number): Kept {
    const [rdevMajor, rdevMinor] = this.devices.get(ordinal) ?? [];
    const spooled = this.spooled ? { archive: this.archives[ordinal], offset: this.offsets[ordinal], name: this.names.get(ordinal) } : undefined;
    return {
      ordinal,
      hasData: (this.withData[ordinal >> 3] & (1 << (ordinal & 7))) !== 0,
      spooled,
      linkTarget: this.targets.get(ordinal),
      rdevMajor,
      rdevMinor,
    };
  }
}

/** An entry named PATH, and the notice unpack gives it if it refuses or skips it. */
interface Named extends Place {
  notice?: Notice;
}

/**
 * First pass: unpack's rules, run on a model of the tree it would write. Gives what ends up
 * at `wanted` (with the place of the entry its content comes from, by which the second pass
 * finds the one whose data a file holds), the last entry named so, and the archives. With a
 * spool (a pipe, which has no second pass), the data of each entry that lands at `wanted` goes
 * to the spool.
 */
async function unpackModel(image: string, wanted: Buffer, maxOutput: number, spool?: Spool) {
  const model = new ModelUnpack(wanted, spool);
  const { archives } = await walkImage(image, model, {
    select: (index) => {
      model.archive = index;
      return true;
    },
    skipData: !spool,
    // The model beside a decoder: zstd and lz4 go to their commands, gzip into smaller buffers.
    saveMemory: true,
    maxOutput,
  });
  const node = model.tree.get(wanted);
  const from = node && node.from !== NONE ? model.entries.get(node.from) : undefined;
  // Before the second pass, which would otherwise hold the model's garbage beside its decoder's
  // window: a collection might never come. At 300,150 hard links the RSS at the end fell from
  // 82–84 MB to 55–62 (by hand); the peak, the first pass's, stayed.
  model.release();
  return { node, from, last: model.last, archives };
}

/** The writer on the model, placing the entries and watching those named `wanted`. */
class ModelUnpack implements CpioEvents {
  /** A node keeps the ordinal of the entry its content comes from. */
  readonly tree = new ModelTree((e, replaced) => this.entries.add(this.count, this.archive, e, replaced));
  readonly entries: EntryRecords;
  last: Named | undefined;
  /** The index of the archive being read. */
  archive = 0;
  /** The entries so far: the ordinal of the one being written. */
  private count = 0;
  /** The entry being written, when it is named `wanted`: the writer's notice is about it. */
  private current: Named | undefined;
  /** Where the data of the entry being written goes besides the model: the spool, when it lands at `wanted`. */
  private copyTo: Spool | undefined;
  private readonly writer = new TreeWriter(this.tree, {
    onNotice: (notice) => {
      if (this.current) this.current.notice = notice;
    },
  });

  constructor(private readonly wanted: Buffer, private readonly spool?: Spool) {
    this.entries = new EntryRecords(spool !== undefined);
  }

  entry(e: CpioEntry): void {
    this.count++;
    const name = normalizeName(e.name);
    this.current = name.ok && name.rel.equals(this.wanted) ? { archive: this.archive, offset: e.offset } : undefined;
    this.last = this.current ?? this.last;
    this.writer.entry(e);
    this.current = undefined;
    // The file at `wanted` holds this entry's data when the writer created it for the entry or
    // opened it through one of its hard links, whatever the entry's own name. Only a spool needs
    // to know as the data goes by: the model is looked at per entry only then.
    const node = this.spool && e.size > 0 ? this.tree.get(this.wanted) : undefined;
    this.copyTo = node?.type === 'file' && node.from === this.count ? this.spool : undefined;
    this.copyTo?.start(this.count);
  }

  data(chunk: Uint8Array): void {
    this.writer.data(chunk);
    this.copyTo?.write(chunk);
  }

  entryEnd(e: CpioEntry): void {
    this.writer.entryEnd(e);
    this.copyTo = undefined;
  }

  trailer(): void {
    this.writer.trailer();
  }

  /** Frees the model, its path table, the writer's records and the entries' at once: they are not used again. */
  release(): void {
    this.writer.release();
    this.tree.release();
    this.tree.names.release();
    this.entries.release();
  }
}

/** Ends the second pass once its entry's data is out. */
class Printed extends Error {}

/**
 * Second pass: the data of the image's `ordinal`-th entry, straight to stdout. No temporary
 * copy is needed: the first pass walked the whole image without an error, and what is printed
 * is only ever the one entry's data. The walk stops at that entry's end: the first pass chose
 * it knowing all that follows, so nothing after it is read again (a co-process decoding the
 * member is stopped, as where a sink fails).
 */
async function printData(image: string, ordinal: number, maxOutput: number): Promise<void> {
  let count = 0;
  let printing = false;
  try {
    // Saving memory as the first pass did: its co-process's load stays (node:child_process), and
    // beside it an in-process decoder took the real lz4 image's cat to 64.7 MB, where both passes
    // so take 56.7, neither 63.0; for 1.28 times the time on it, 1.04 on the zstd image (by hand).
    await walkImage(image, {
      entry() {
        printing = ++count === ordinal;
      },
      data(chunk) {
        if (printing) writeAllSync(1, chunk);
      },
      entryEnd() {
        if (printing) throw new Printed();
      },
      trailer() {},
    }, { maxOutput, saveMemory: true });
  } catch (err) {
    if (!(err instanceof Printed)) throw err;
  }
}

const SPOOL_CHUNK = 1 << 20;

/**
 * The data of one entry, the latest to land at PATH, kept in a file in the temporary directory
 * until a pipe's image has been read to its end. The file's name goes as soon as it is open:
 * nothing is left behind however the run ends. It is made when first needed: most images
 * hold PATH once.
 */
class Spool {
  /** The ordinal of the entry whose data the spool holds; complete once the walk has gone past it. */
  ordinal: number | undefined;
  private fd: number | undefined;
  private length = 0;

  /** Drops what the spool held: it is now the data of the entry at `ordinal`. */
  start(ordinal: number): void {
    this.fd ??= openInTempDir((dir) => openSync(join(dir, 'data'), 'wx+', 0o600));
    ftruncateSync(this.fd, 0);
    this.length = 0;
    this.ordinal = ordinal;
  }

  write(chunk: Uint8Array): void {
    for (let done = 0; done < chunk.length; ) done += writeSync(this.fd!, chunk, done, chunk.length - done, this.length + done);
    this.length += chunk.length;
  }

  /** What the spool holds, to stdout. */
  print(): void {
    const buf = Buffer.allocUnsafe(SPOOL_CHUNK);
    for (let at = 0; at < this.length; ) {
      const got = readSync(this.fd!, buf, 0, Math.min(buf.length, this.length - at), at);
      writeAllSync(1, buf.subarray(0, got));
      at += got;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

/** `e`: the entry a symlink's or a device's node comes from; none for a directory. */
function describeNode(type: EntryType, e: Kept | undefined): string {
  if (type === 'symlink') return `symlink -> ${escapeName(e!.linkTarget!)}`;
  if (type === 'char' || type === 'block') return `${type} device ${e!.rdevMajor}:${e!.rdevMinor}`;
  return type;
}

/** Where an entry's header is, at `offset` of its archive's stream, as errors say it: in the image, or in a compressed member. */
function location(offset: number, archive: Archive): string {
  return archive.format === 'cpio' ? `byte ${offset}` : `byte ${offset} of the ${archive.format} stream at byte ${archive.start}`;
}
