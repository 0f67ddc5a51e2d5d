import type { CpioEvents } from '../cpio/parser.js';
import { walkImage } from '../image/walk.js';
import { type Command, type Options, parseCommandArgs, positionals, wantsHelp } from './args.js';
import { onImage, print, writeJson } from './report.js';
import { maxSizeOption } from './sizes.js';
import { ARCHIVE_COLUMNS, type Column, formatTable } from './table.js';
import { progressBar } from './progress.js';

const IGNORE: CpioEvents = { entry() {}, data() {}, entryEnd() {}, trailer() {} };

const COLUMNS: readonly Column[] = [...ARCHIVE_COLUMNS, { heading: 'decoded by', align: 'left' }];

const SECTION_COLUMNS: readonly Column[] = [
  { heading: 'section', align: 'left' },
  { heading: 'file offset', align: 'right' },
  { heading: 'size', align: 'right' },
  { heading: 'virtual size', align: 'right' },
  { heading: 'image offset', align: 'right' },
];

const OPTIONS = {
  json: { type: 'boolean' },
  'max-size': { type: 'string' },
  'in-process': { type: 'boolean' },
} satisfies Options;

export const examine: Command = {
  name: 'examine',
  options: OPTIONS,
  usage: `Usage: initramfs-restore examine IMAGE [--max-size SIZE] [--in-process] [--json]

Walks IMAGE as the kernel does and prints one row per cpio archive: its start and end offset
in the file, size, format (cpio, or the compression of the member that holds it), number of
entries and extracted size (the sum of the entries' data sizes). Archives inside one
compressed member share that member's start, end and format, and what decoded it: ours, or
the format's CLI run as a co-process where installed (xz, and lbzip2 for bzip2: they are
faster than ours; zstd for a frame whose window is over 4 MiB, levels 17 and up and --long,
which it then holds in its own process).

IMAGE may be a unified kernel image (a PE file with systemd-stub): its .ucode and .initrd
sections are then read as one image, in the order the stub hands them to the kernel, and the
sections are shown first: where each starts in the file, its size there and in memory (the
rest zeros), and where it starts in the image. Archive offsets are in that image. IMAGE '-'
reads standard input (see docs/uki.md). list, unpack, cat and diff read both alike.

Options:
  --max-size SIZE  stop when the compressed members expand beyond SIZE in all (default 4G)
  --in-process     decode with our own decoders only: no format's CLI as a co-process
  --json           {"image","size","archives":[{"index","start","end","size","format","entries","extractedSize","decodedBy"}]}
                   (decodedBy: "ours" or the command; absent for plain cpio); for a UKI also
                   "sections":[{"name","fileOffset","size","virtualSize","imageOffset"}]. "segments", the
                   same array under its old name, is kept until the next release
  -h, --help       this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, examine)) return 0;
    const [image] = positionals(args, ['IMAGE'], examine);
    const maxOutput = maxSizeOption(values['max-size']);
    const bar = progressBar('examine');
    const result = await onImage(image, () => walkImage(image, IGNORE, { progress: bar.update, maxOutput, skipData: true, inProcess: values['in-process'] })).finally(bar.done);
    const archives = result.archives.map((a) => ({
      index: a.index,
      start: a.start,
      end: a.end,
      size: a.end - a.start,
      format: a.format,
      entries: a.entries,
      extractedSize: a.extractedSize,
      ...(a.decodedBy ? { decodedBy: a.decodedBy } : {}),
    }));
    if (values.json) {
      // segments: the old name of archives, for the readers of 0.1.0's JSON until the next release.
      writeJson({ image, size: result.size, ...(result.sections && { sections: result.sections }), archives, segments: archives });
      return 0;
    }
    const rows = archives.map((a) => [a.index, a.start, a.end, a.size, a.format, a.entries, a.extractedSize, a.decodedBy ?? '-'].map(String));
    const sections = result.sections?.map((s) => [s.name, s.fileOffset, s.size, s.virtualSize, s.imageOffset].map(String));
    print([
      ...(sections ? [`${image}: unified kernel image, initrd sections:`, ...formatTable(SECTION_COLUMNS, sections)] : []),
      `${image}: ${result.size} bytes${sections ? ' of initrd' : ''}, ${archives.length} archive${archives.length === 1 ? '' : 's'}`,
      ...formatTable(COLUMNS, rows),
    ].join('\n'));
    return 0;
  },
};
