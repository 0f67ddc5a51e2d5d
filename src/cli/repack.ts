import { CREATE_COMPRESSIONS } from '../create/write.js';
import { repackImage } from '../create/repack.js';
import { UsageError } from '../errors.js';
import { type Command, type Options, parseCommandArgs, positionals, wantsHelp } from './args.js';
import { parseCompression, parseLevel } from './compression.js';
import { parseParts } from './parts.js';
import { progressBar } from './progress.js';
import { onImage, print, writeJson } from './report.js';
import { type Column, formatTable } from './table.js';

const COLUMNS: Column[] = [
  { heading: 'archives', align: 'left' },
  { heading: 'start', align: 'right' },
  { heading: 'end', align: 'right' },
  { heading: 'size', align: 'right' },
  { heading: 'format', align: 'left' },
  { heading: 'was', align: 'left' },
  { heading: 'old size', align: 'right' },
  { heading: '', align: 'left' },
];

const OPTIONS = {
  compress: { type: 'string' },
  level: { type: 'string' },
  parts: { type: 'string' },
  json: { type: 'boolean' },
} satisfies Options;

export const repack: Command = {
  name: 'repack',
  options: OPTIONS,
  usage: `Usage: initramfs-restore repack IN OUT --compress FMT [--level N] [--parts LIST] [--json]

Writes OUT, the image IN with its members in the same order, each compressed member (all the
archives its stream holds, and the zeros between them) decoded and compressed anew as FMT;
plain cpio archives, such as the early microcode, are copied byte for byte, and keep their
offsets as long as nothing before them changed size. IN is read first, whole: an error in it
names the byte and leaves no OUT. OUT appears only when complete. IN is read twice, so it is
a file, not standard input; a unified kernel image gives its initramfs (its initrd sections,
as one), not a UKI.

Options:
  --compress FMT   ${CREATE_COMPRESSIONS.join(', ')} (required); none writes the decoded
                   cpio plainly
  --level N        the compressor's level, its -N (default: the tool's own)
  --parts LIST     rewrite only the members holding these archives, by the index examine
                   shows: 2  3-  1,4; a plain cpio archive named here is compressed too
  --json           {"image","size","source","sourceSize","compress","members":[{"archives",
                   "start","end","size","format","rewritten","source":{"start","end","size","format"}}]}
  -h, --help       this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, repack)) return 0;
    const [source, out] = positionals(args, ['IN', 'OUT'], repack);
    if (source === '-') throw new UsageError('repack reads IN twice (checked, then rewritten): IN must be a file, not standard input');
    if (values.compress === undefined) throw new UsageError(`repack needs --compress: one of ${CREATE_COMPRESSIONS.join(', ')}`);
    const compress = parseCompression(values.compress, '--compress');
    const level = parseLevel(values.level, [compress]);
    const select = parseParts(values.parts);
    const bars = { check: progressBar('repack: check'), write: progressBar('repack: write') };
    const progress = (phase: 'check' | 'write', offset: number, size: number): void => {
      if (phase === 'write') bars.check.done();
      bars[phase].update(offset, size);
    };
    const result = await onImage(source, () => repackImage(source, out, { compress, level, select, progress })).finally(() => {
      bars.check.done();
      bars.write.done();
    });
    if (values.json) {
      writeJson(result);
      return 0;
    }
    const rows = result.members.map((m) => [
      m.archives.join(','),
      String(m.start),
      String(m.end),
      String(m.size),
      m.format,
      m.source.format,
      String(m.source.size),
      m.rewritten ? 'rewritten' : 'copied',
    ]);
    print([
      `${out}: ${result.size} bytes, from ${source} (${result.sourceSize} bytes)`,
      ...formatTable(COLUMNS, rows),
    ].join('\n'));
    return 0;
  },
};
