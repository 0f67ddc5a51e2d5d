import { escapeName } from '../cpio/names.js';
import { summarizeArchive } from '../diff/compare.js';
import { measureImage } from '../extract/space.js';
import { type Command, type Options, parseCommandArgs, parseCount, positionals, wantsHelp } from './args.js';
import { onImage, writeJsonWithArray } from './report.js';
import { LineWriter, formatBytes } from '../output.js';
import { maxSizeOption } from './sizes.js';
import { ARCHIVE_COLUMNS, type Column, formatRow, formatTable } from './table.js';

const OPTIONS = {
  depth: { type: 'string', short: 'd' },
  json: { type: 'boolean' },
  'max-size': { type: 'string' },
} satisfies Options;

const ARCHIVE_SPACE_COLUMNS: readonly Column[] = [...ARCHIVE_COLUMNS, { heading: 'in tree', align: 'right' }];

const DIRECTORY_COLUMNS: readonly Column[] = [
  { heading: 'bytes', align: 'right' },
  { heading: 'size', align: 'right' },
  { heading: 'files', align: 'right' },
  { heading: 'directory', align: 'left' },
];

export const du: Command = {
  name: 'du',
  options: OPTIONS,
  usage: `Usage: initramfs-restore du IMAGE [-d N] [--json] [--max-size SIZE]

The extracted size of each directory of the tree 'unpack IMAGE DIR' leaves as root (the last
entry named a path wins, refused entries are left out), largest first: which firmware or
module tree makes the image big. A directory's size is the apparent size of the regular
files below it, at any depth (as 'du --apparent-size -b' counts file data; directories,
symlinks and devices count 0), a hard-link group once however many of its names are below.
Then per archive, as examine shows them: 'extracted' is the sum of its entries' data sizes,
'in tree' what of it the tree still holds when later entries have replaced theirs. The same
as 'list --sizes'. Names are escaped as list prints them; the root is '.'. Past 16,384
directories or hard-link groups their records go to a file in the temporary directory
($TMPDIR) whose name is removed as soon as it is open.

Options:
  -d, --depth N    only directories at most N levels below the root (0: the total), as du -d
  --json           {"image","bytes","files","archives":[{"index","start","end","size","format",
                   "entries","extractedSize","inTree"}],"directories":[{"path","bytes","files"}]}
  --max-size SIZE  stop when the compressed members expand beyond SIZE in all (default 4G)
  -h, --help       this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, du)) return 0;
    const [image] = positionals(args, ['IMAGE'], du);
    const depth = values.depth === undefined ? Infinity : parseCount(values.depth, '--depth', 0);
    return reportSizes(image, { json: values.json, depth, maxOutput: maxSizeOption(values['max-size']) });
  },
};

/** du's report on `image`, which `list --sizes` prints too. */
export async function reportSizes(image: string, options: { json?: boolean; depth?: number; maxOutput: number }): Promise<number> {
  const space = await onImage(image, () => measureImage(image, { maxOutput: options.maxOutput }));
  const { total } = space;
  const archives = space.archives.map((a) => ({ ...summarizeArchive(a), inTree: space.inTree.get(a.index) ?? 0 }));
  const depth = options.depth ?? Infinity;
  /** The directories at most `depth` levels down, largest first, then by name (raw bytes); paths escaped, the root '.'. */
  const directories = function* (): Generator<{ path: string; bytes: number; files: number }> {
    for (const d of space.directories) if (d.depth <= depth) yield { path: d.depth === 0 ? '.' : escapeName(d.path), bytes: d.bytes, files: d.files };
  };
  const out = new LineWriter();
  if (options.json) {
    writeJsonWithArray(out, { image, bytes: total.bytes, files: total.files, archives }, 'directories', directories());
  } else {
    const lines = [
      `${image}: ${formatBytes(total.bytes)} in ${total.files} file${total.files === 1 ? '' : 's'}, ${archives.length} archive${archives.length === 1 ? '' : 's'}`,
      ...formatTable(ARCHIVE_SPACE_COLUMNS, archives.map((a) => [a.index, a.start, a.end, a.size, a.format, a.entries, a.extractedSize, a.inTree].map(String))),
      '',
    ];
    for (const line of lines) out.write(`${line}\n`);
    // A row per directory, which an image may have many of: the widths first, then each row as it is made.
    const cells = (d: { path: string; bytes: number; files: number }) => [String(d.bytes), formatBytes(d.bytes), String(d.files), d.path];
    const widths = DIRECTORY_COLUMNS.map((c) => c.heading.length);
    for (const d of directories()) cells(d).forEach((cell, i) => (widths[i] = Math.max(widths[i], cell.length)));
    out.write(`${formatRow(DIRECTORY_COLUMNS, widths, DIRECTORY_COLUMNS.map((c) => c.heading))}\n`);
    for (const d of directories()) out.write(`${formatRow(DIRECTORY_COLUMNS, widths, cells(d))}\n`);
  }
  out.flush();
  return 0;
}
