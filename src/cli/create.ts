import { CREATE_COMPRESSIONS, createImage } from '../create/image.js';
import { UsageError } from '../errors.js';
import { type Command, type Options, parseCommandArgs, parseCount, wantsHelp } from './args.js';
import { parseCompression, parseLevel } from './compression.js';
import { print, writeJson } from './report.js';
import { type Column, formatTable } from './table.js';

const COLUMNS: Column[] = [
  { heading: '#', align: 'right' },
  { heading: 'start', align: 'right' },
  { heading: 'end', align: 'right' },
  { heading: 'size', align: 'right' },
  { heading: 'format', align: 'left' },
  { heading: 'entries', align: 'right' },
  { heading: 'extracted', align: 'right' },
];

const OPTIONS = {
  compress: { type: 'string', multiple: true },
  level: { type: 'string' },
  format: { type: 'string' },
  mtime: { type: 'string' },
  'keep-owners': { type: 'boolean' },
  json: { type: 'boolean' },
} satisfies Options;

export const create: Command = {
  name: 'create',
  options: OPTIONS,
  usage: `Usage: initramfs-restore create OUT [--compress FMT]... [--level N] [--format newc|crc] [--mtime EPOCH] [--keep-owners] [--json] DIR...

Writes the initramfs OUT: one cpio archive per DIR, in the order given, each ending in
TRAILER!!!, each compressed as asked, as the kernel reads them. The same trees give the same
bytes: entries sorted by name, inode numbers from 1, owners 0:0, mtimes clamped to
SOURCE_DATE_EPOCH. OUT appears only when complete.

Options:
  --compress FMT   ${CREATE_COMPRESSIONS.join(', ')} (default none); the k-th applies to the k-th
                   DIR and the last to the rest: --compress none --compress zstd early main
  --level N        the compressor's level, its -N (default: the tool's own)
  --format FMT     newc (070701, the default) or crc (070702: each file's data sum, checked)
  --mtime EPOCH    clamp mtimes to EPOCH seconds instead of SOURCE_DATE_EPOCH
  --keep-owners    the files' uid and gid instead of 0:0
  --json           {"image","size","archives":[{"index","start","end","size","format","entries","extractedSize"}]}
  -h, --help       this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, create)) return 0;
    if (args.length < 2) throw new UsageError(`create takes OUT DIR... (got ${args.length} argument${args.length === 1 ? '' : 's'})`);
    const [out, ...dirs] = args;
    const compress = (values.compress ?? []).map((name) => parseCompression(name, '--compress'));
    if (compress.length > dirs.length) throw new UsageError(`${compress.length} --compress for ${dirs.length} DIR${dirs.length === 1 ? '' : 's'}: at most one per DIR`);
    const level = parseLevel(values.level, compress);
    const format = values.format ?? 'newc';
    if (format !== 'newc' && format !== 'crc') throw new UsageError(`--format: "${format}" is not newc or crc`);
    const mtimeClamp = epoch(values.mtime, '--mtime') ?? epoch(process.env.SOURCE_DATE_EPOCH, 'SOURCE_DATE_EPOCH');
    const result = await createImage(out, dirs, { compress, level, format, mtimeClamp, keepOwners: values['keep-owners'] });
    if (values.json) {
      writeJson(result);
      return 0;
    }
    const rows = result.archives.map((a) => [a.index, a.start, a.end, a.size, a.format, a.entries, a.extractedSize].map(String));
    print([
      `${out}: ${result.size} bytes, ${rows.length} archive${rows.length === 1 ? '' : 's'}`,
      ...formatTable(COLUMNS, rows),
    ].join('\n'));
    return 0;
  },
};

/** Seconds since 1970 that newc's 32-bit mtime holds, or undefined when not given. */
function epoch(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  const seconds = parseCount(text, name, 0);
  if (seconds > 0xffffffff) throw new UsageError(`${name}: ${text} is beyond newc's 32-bit mtime`);
  return seconds;
}
