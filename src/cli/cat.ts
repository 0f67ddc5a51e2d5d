import type { CpioEntry } from '../cpio/entry.js';
import { escapeName } from '../cpio/names.js';
import type { CpioEvents } from '../cpio/parser.js';
import { type ModelNode, ModelTree } from '../extract/model.js';
import { joinParts, normalizeName } from '../extract/paths.js';
import { type Notice, TreeWriter } from '../extract/writer.js';
import { type Archive, walkImage } from '../image/walk.js';
import { ByteSource } from '../decode/source.js';
import { UsageError } from '../errors.js';
import { writeAllSync } from '../output.js';
import { type Command, type Options, parseCommandArgs, positionals, wantsHelp } from './args.js';
import { Failure, onImage, printError } from './report.js';
import { maxSizeOption } from './sizes.js';

const OPTIONS = { 'max-size': { type: 'string' } } satisfies Options;

export const cat: Command = {
  name: 'cat',
  options: OPTIONS,
  usage: `Usage: initramfs-restore cat IMAGE PATH [--max-size SIZE]

Writes to stdout the content of the file PATH in IMAGE: what 'unpack IMAGE DIR' leaves at
DIR/PATH in a new DIR, decided by unpack's own rules. So when several entries name PATH the
last one unpack writes wins, and a hard link gives the data of its group. PATH may start with
'/' or './'. A PATH unpack does not write (a '..' component, a name below a symlink, an entry
it refuses) is an error, as is a PATH that is a directory, a symlink or a special file: exit
status 1. The image is read twice: once to find the entry whose data ends up at PATH, once
for that data; so IMAGE '-' (standard input) must be a file redirected (- < FILE), not a pipe.

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
    if (!wanted.ok) throw new Failure(`${image}: unpack never writes ${path}: ${wanted.reason}`);
    if (wanted.parts.length === 0) throw new UsageError(`cat: "${path}" does not name a file`);
    if (image === '-' && !(await onImage(image, async () => readsTwice(image)))) {
      throw new UsageError('cat reads IMAGE twice, and standard input is a pipe: give the file, or redirect it (- < FILE)');
    }
    return onImage(image, async () => {
      const { node, last, ordinals, archives } = await unpackModel(image, joinParts(wanted.parts), maxOutput);
      const lastFailed = last?.notice &&
        `the last entry named ${path}, at ${location(last.entry, archives[last.archive - 1])}, was ${last.notice.kind}: ${last.notice.reason}`;
      if (!node) throw new Failure(`${image}: ${lastFailed ? `unpack leaves nothing at ${path}: ${lastFailed}` : `no entry named ${path}`}`);
      if (node.type !== 'file') throw new Failure(`${image}: ${path} is a ${describeNode(node)}, not a regular file${lastFailed ? `; ${lastFailed}` : ''}`);
      if (lastFailed) printError(`${image}: ${path} is what an earlier entry wrote: ${lastFailed}`);
      if (node.from!.size > 0) await printData(image, ordinals.get(node.from!)!, maxOutput);
      return 0;
    });
  },
};

/** Whether `image` can be read a second time: a file, not a pipe. */
function readsTwice(image: string): boolean {
  const src = ByteSource.open(image);
  src.close();
  return src.seekable;
}

/** An entry named PATH, its archive's index, and the notice unpack gives it if it refuses or skips it. */
interface Named {
  entry: CpioEntry;
  archive: number;
  notice?: Notice;
}

/**
 * First pass: unpack's rules, run on a model of the tree it would write. Gives what ends up
 * at `wanted`, the last entry named so, the archives, and each entry's position in the image,
 * by which the second pass finds the one whose data a file holds.
 */
async function unpackModel(image: string, wanted: Buffer, maxOutput: number) {
  const model = new ModelUnpack(wanted);
  const { archives } = await walkImage(image, model, {
    select: (index) => {
      model.archive = index;
      return true;
    },
    skipData: true,
    maxOutput,
  });
  return { node: model.tree.get(wanted), last: model.last, ordinals: model.ordinals, archives };
}

/** The writer on the model, numbering the entries and watching those named `wanted`. */
class ModelUnpack implements CpioEvents {
  readonly tree = new ModelTree();
  readonly ordinals = new WeakMap<CpioEntry, number>();
  last: Named | undefined;
  /** The index of the archive being read. */
  archive = 0;
  private count = 0;
  /** The entry being written, when it is named `wanted`: the writer's notice is about it. */
  private current: Named | undefined;
  private readonly writer = new TreeWriter(this.tree, {
    onNotice: (notice) => {
      if (this.current) this.current.notice = notice;
    },
  });

  constructor(private readonly wanted: Buffer) {}

  entry(e: CpioEntry): void {
    this.ordinals.set(e, ++this.count);
    const name = normalizeName(e.name);
    this.current = name.ok && joinParts(name.parts).equals(this.wanted) ? { entry: e, archive: this.archive } : undefined;
    this.last = this.current ?? this.last;
    this.writer.entry(e);
    this.current = undefined;
  }

  data(chunk: Uint8Array): void {
    this.writer.data(chunk);
  }

  entryEnd(e: CpioEntry): void {
    this.writer.entryEnd(e);
  }

  trailer(): void {
    this.writer.trailer();
  }
}

/**
 * Second pass: the data of the image's `ordinal`-th entry, straight to stdout. No temporary
 * copy is needed: the first pass walked the whole image without an error, and what is printed
 * is only ever the one entry's data.
 */
async function printData(image: string, ordinal: number, maxOutput: number): Promise<void> {
  let count = 0;
  let printing = false;
  await walkImage(image, {
    entry() {
      printing = ++count === ordinal;
    },
    data(chunk) {
      if (printing) writeAllSync(1, chunk);
    },
    entryEnd() {
      printing = false;
    },
    trailer() {},
  }, { maxOutput });
}

function describeNode(node: ModelNode): string {
  const e = node.from;
  if (node.type === 'symlink') return `symlink -> ${escapeName(e!.linkTarget!)}`;
  if (node.type === 'char' || node.type === 'block') return `${node.type} device ${e!.rdevMajor}:${e!.rdevMinor}`;
  return node.type;
}

/** Where an entry's header is, as errors say it: in the image, or in a compressed member. */
function location(e: CpioEntry, archive: Archive): string {
  return archive.format === 'cpio' ? `byte ${e.offset}` : `byte ${e.offset} of the ${archive.format} stream at byte ${archive.start}`;
}
