import { ByteSource } from '../decode/source.js';
import type { ConsoleSink } from '../bench/console.js';
import type { MeasuredTrial } from '../bench/measure.js';
import { type Attempt, parseOrder } from '../restore/orders.js';
import type { Engine } from '../restore/trial.js';
import { walkImage } from '../image/walk.js';
import { SafeExtractor } from '../extract/writer.js';
import { UsageError } from '../errors.js';
import { type Command, type Options, parseCommandArgs, positionals, wantsHelp } from './args.js';
import { parseParts } from './parts.js';
import { Failure, onImage, print, printError, writeJson } from './report.js';
import { maxSizeOption } from './sizes.js';
import { type Column, formatTable } from './table.js';
import { progressBar } from './progress.js';
const { closeSync, openSync } = process.getBuiltinModule('node:fs');

const OPTIONS = {
  parts: { type: 'string' },
  'max-size': { type: 'string' },
  json: { type: 'boolean' },
  order: { type: 'string' },
  engine: { type: 'string' },
  'console-log': { type: 'string' },
  console: { type: 'string' },
  'in-process': { type: 'boolean' },
} satisfies Options;

export const unpack: Command = {
  name: 'unpack',
  options: OPTIONS,
  usage: `Usage: initramfs-restore unpack IMAGE DIR [--parts LIST] [--max-size SIZE] [--in-process] [--json]
       initramfs-restore unpack IMAGE DIR --order ORDER [--engine builtin|native] [--console SINK]
                                [--console-log FILE] [--max-size SIZE] [--in-process] [--json]

Extracts the archives of IMAGE into DIR (created if missing) in image order, later entries
replacing earlier ones, as the kernel populates rootfs. Modes (set-id bits too) and mtimes
are applied; owners and device nodes only when running as root, otherwise device nodes are
skipped and reported.

Nothing is written outside DIR: leading '/' is stripped (and reported), a name with a '..'
component is refused, nothing is written through a symlink, hard links only join files this
run wrote. Refused entries are listed on stderr; the rest is still extracted, and the exit
status is then 1.

With a trial ORDER, unpack does what dracut-initramfs-restore does at shutdown: skipcpio,
then each stage of ORDER in turn until one succeeds, and reports every attempt as measured:
wall and CPU time, the junk entries it left, and with the native engine the bytes it wrote
to the console and whether they are valid UTF-8 (the April 2022 Fedora compose crash).
  ORDER    detect (the default: the magic decides, no trial); dracut-055; dracut-056 (plain
           first); dracut-057 (plain last, as 058, 059 and 106); zstd-first; initramfs-tools;
           dracut-112 (3cpio when on PATH, else extractinitrd); or a comma list of plain gzip
           bzip2 xz lzma lz4 lzop zstd 3cpio extractinitrd (the last two read the whole image
           by magic, as dracut 112 runs them: 3cpio --extract IMG, $dracutbasedir/extractinitrd IMG)
  native   the script's own pipelines ($SKIP IMG | zcat | cpio -id ...), all into DIR as the
           script does: junk from failed attempts included; a stage wins when cpio exits 0,
           whatever format its tool read (Debian's zstd -d also reads gzip)
  builtin  (default) our reader of each stage's format on what skipcpio gives (xz members,
           and zstd frames with a window over 4 MiB, decoded by their CLI, bzip2 by lbzip2,
           as a co-process where installed, see --in-process):
           a stage fails with that reader's own error (message and byte offset) and leaves
           nothing behind; there is no console

Options:
  --order ORDER    try decompressors in this order (see above)
  --engine E       builtin or native, with --order
  --console SINK   where the native engine's console output goes, which decides what it
                   costs: null, file, journal (default) or serial:BAUD (e.g. serial:115200)
  --console-log F  keep the raw console bytes of every attempt in F
  --parts LIST     only these archives, by the index examine shows: 1,3-  2-4  -2
  --max-size SIZE  stop when the compressed members expand beyond SIZE in all (default 4G,
                   or the free space of DIR's filesystem when that is less)
  --in-process     decode with our own decoders only: no format's CLI as a co-process
  --json           a report: counts by type, skipped and refused entries
  -h, --help       this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, unpack)) return 0;
    const [image, dir] = positionals(args, ['IMAGE', 'DIR'], unpack);
    const select = parseParts(values.parts);
    const maxOutput = maxSizeOption(values['max-size'], dir);
    const order = parseOrder(values.order ?? 'detect');
    if (order !== 'detect') {
      // A trial's modules load only for a trial: Node's start is part of every unpack.
      const [{ parseEngine }, { parseConsoleSink }] = await Promise.all([import('../restore/trial.js'), import('../bench/console.js')]);
      if (values.parts !== undefined) throw new UsageError('--parts does not go with a trial --order: the script restores the main archives');
      const engine = parseEngine(values.engine ?? 'builtin');
      if (engine === 'builtin' && (values.console !== undefined || values['console-log'] !== undefined)) {
        throw new UsageError('--console and --console-log go with --engine native: the builtin engine has no console');
      }
      const sink = values.console === undefined ? undefined : parseConsoleSink(values.console);
      return trial(image, dir, order, engine, { json: Boolean(values.json), consoleLog: values['console-log'], maxOutput, console: sink, inProcess: values['in-process'] });
    }
    if (values.engine !== undefined || values['console-log'] !== undefined || values.console !== undefined) {
      throw new UsageError('--engine, --console and --console-log go with a trial --order');
    }
    // The image must be readable before DIR is created.
    await onImage(image, async () => ByteSource.open(image).close());
    const extractor = new SafeExtractor(dir, {
      onNotice: (n) => printError(`${n.kind === 'refused' ? 'refused' : 'skipped'} "${n.name}": ${n.reason}`),
    });
    const bar = progressBar('unpack');
    let result;
    try {
      result = await onImage(image, () => walkImage(image, extractor, { select, maxOutput, progress: bar.update, inProcess: values['in-process'] }));
    } catch (err) {
      try {
        // What was extracted before the failure still gets its directory modes and times.
        extractor.finish();
      } catch {
        // The walk's error says more.
      }
      throw err;
    } finally {
      bar.done();
    }
    extractor.finish();
    if (extractor.strippedAbsolute > 0) {
      printError(`removed the leading '/' from ${extractor.strippedAbsolute} member name${extractor.strippedAbsolute === 1 ? '' : 's'}`);
    }
    const c = extractor.counts;
    const archives = result.archives.filter((a) => !select || select(a.index)).length;
    if (values.json) {
      writeJson({
        image,
        target: dir,
        archives,
        counts: c,
        strippedAbsolute: extractor.strippedAbsolute,
        skippedCount: extractor.skippedCount,
        skipped: extractor.skipped,
        refusedCount: extractor.refusedCount,
        refused: extractor.refused,
      });
    } else {
      const made = Object.entries(c).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}${n === 1 ? '' : 's'}`);
      print(`${image}: ${archives} archive${archives === 1 ? '' : 's'} into ${dir}: ${made.join(', ') || 'nothing'}` +
        `${extractor.skippedCount ? `; ${extractor.skippedCount} skipped` : ''}${extractor.refusedCount ? `; ${extractor.refusedCount} refused` : ''}`);
    }
    if (extractor.refusedCount > 0) throw new Failure(`${extractor.refusedCount} entr${extractor.refusedCount === 1 ? 'y was' : 'ies were'} refused`);
    return 0;
  },
};

const TRIAL_COLUMNS: Column[] = [
  { heading: 'stage', align: 'left' },
  { heading: 'result', align: 'left' },
  { heading: 'wall ms', align: 'right' },
  { heading: 'cpu ms', align: 'right' },
  { heading: 'console B', align: 'right' },
  { heading: 'UTF-8', align: 'right' },
  { heading: 'junk', align: 'right' },
  { heading: 'why', align: 'left' },
];

async function trial(
  image: string,
  dir: string,
  order: readonly Attempt[],
  engine: Engine,
  options: { json: boolean; consoleLog?: string; maxOutput?: number; console?: ConsoleSink; inProcess?: boolean },
): Promise<number> {
  await onImage(image, async () => ByteSource.open(image).close());
  const logFd = options.consoleLog === undefined ? undefined : openSync(options.consoleLog, 'w');
  let report: MeasuredTrial;
  const { measureTrial } = await import('../bench/measure.js');
  try {
    report = await onImage(image, () => measureTrial(image, dir, order, engine, { consoleLog: logFd, maxOutput: options.maxOutput, console: options.console, inProcess: options.inProcess }));
  } finally {
    if (logFd !== undefined) closeSync(logFd);
  }
  if (options.json) {
    writeJson({ image, target: dir, ...report });
  } else {
    const rows = report.attempts.map((a) => [
      a.stage,
      a.skipped ? 'skipped' : a.ok ? 'ok' : 'failed',
      a.wallMs.toFixed(0),
      (a.userMs + a.sysMs).toFixed(0),
      a.consoleBytes === null ? 'none' : String(a.consoleBytes),
      a.consoleBytes === null || a.consoleBytes === 0 ? '-' : a.consoleUtf8 ? 'yes' : `no, at ${a.utf8Error!.position}`,
      String(a.junkEntries),
      a.ok ? '' : a.reason ?? '',
    ]);
    const engineSays = engine === 'native'
      ? `native engine (the script's pipelines, skipcpio: ${report.skipcpio})`
      : 'builtin engine (our readers: no console)';
    print([
      `${image}: ${engineSays}, order ${order.join(',')}; after skipcpio the magic says ${report.magic}`,
      ...formatTable(TRIAL_COLUMNS, rows),
      report.winner ? `restored into ${dir} by the ${report.winner} stage` : `Unpacking of ${image} to ${dir} failed`,
      ...(report.note ? [report.note] : []),
      ...report.attempts.filter((a) => a.utf8Error).slice(0, 1).map((a) => `the ${a.stage} stage's console output is not UTF-8: ${a.utf8Error!.message}`),
    ].join('\n'));
  }
  return report.winner ? 0 : 1;
}
