import { ByteSource } from '../decode/source.js';
import { walkImage } from '../image/walk.js';
import { SafeExtractor } from '../extract/writer.js';
import { type Command, Failure, onImage, parseCommandArgs, parseParts, parseSize, positionals, print, printError, wantsHelp, writeJson } from './common.js';
import { progressBar } from './progress.js';

export const unpack: Command = {
  name: 'unpack',
  summary: 'extract every archive into DIR as the kernel populates rootfs, safely',
  usage: `Usage: initramfs-restore unpack IMAGE DIR [--parts LIST] [--max-size SIZE] [--json]

Extracts the archives of IMAGE into DIR (created if missing) in image order, later entries
replacing earlier ones, as the kernel populates rootfs. Modes (set-id bits too) and mtimes
are applied; owners and device nodes only when running as root, otherwise device nodes are
skipped and reported.

Nothing is written outside DIR: leading '/' is stripped (and reported), a name with a '..'
component is refused, nothing is written through a symlink, hard links only join files this
run wrote. Refused entries are listed on stderr; the rest is still extracted, and the exit
status is then 1.

Options:
  --parts LIST     only these archives, by the index examine shows: 1,3-  2-4  -2
  --max-size SIZE  stop when the compressed members expand beyond SIZE in all (default 16G)
  --json           a report: counts by type, skipped and refused entries
  -h, --help       this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, {
      parts: { type: 'string' },
      'max-size': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (wantsHelp(values, unpack)) return 0;
    const [image, dir] = positionals(args, ['IMAGE', 'DIR'], unpack);
    const select = parseParts(values.parts);
    const maxOutput = values['max-size'] === undefined ? undefined : parseSize(values['max-size'], '--max-size');
    // The image must be readable before DIR is created.
    await onImage(image, async () => ByteSource.open(image).close());
    const extractor = new SafeExtractor(dir, {
      onNotice: (n) => printError(`${n.kind === 'refused' ? 'refused' : 'skipped'} "${n.name}": ${n.reason}`),
    });
    const bar = progressBar('unpack');
    const result = await onImage(image, () => walkImage(image, extractor, { select, maxOutput, progress: bar.update }))
      .finally(() => {
        bar.done();
        // What was extracted before a failure still gets its directory modes and times.
        extractor.finish();
      });
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
