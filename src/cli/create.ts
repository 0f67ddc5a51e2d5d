import { type ArchivePlan, CREATE_COMPRESSIONS, type CreateResult, createImage, writeArchives } from '../create/image.js';
import { readManifest } from '../create/manifest.js';
import type { CreateCompression } from '../create/write.js';
import { UsageError } from '../errors.js';
import { type Command, type Options, parseCommandArgs, parseCount, wantsHelp } from './args.js';
import { parseCompression, parseLevel } from './compression.js';
import { progressBar } from './progress.js';
import { print, writeJson } from './report.js';
import { ARCHIVE_COLUMNS, formatTable } from './table.js';
const { readFileSync } = process.getBuiltinModule('node:fs');

const OPTIONS = {
  compress: { type: 'string', multiple: true },
  level: { type: 'string' },
  format: { type: 'string' },
  'data-align': { type: 'string' },
  mtime: { type: 'string' },
  'keep-owners': { type: 'boolean' },
  'root-owner': { type: 'boolean' },
  manifest: { type: 'string' },
  directory: { type: 'string', short: 'C' },
  json: { type: 'boolean' },
} satisfies Options;

export const create: Command = {
  name: 'create',
  options: OPTIONS,
  usage: `Usage: initramfs-restore create OUT [--compress FMT]... [--level N] [--format newc|crc] [--data-align N] [--mtime EPOCH] [--keep-owners|--root-owner] [--json] DIR...
       initramfs-restore create OUT --manifest FILE [-C DIR] [options as above]

Writes the initramfs OUT: one cpio archive per DIR, in the order given, each ending in
TRAILER!!!, each compressed as asked, as the kernel reads them. The same trees give the same
bytes: entries sorted by name, inode numbers from 1, owners 0:0, mtimes clamped to
SOURCE_DATE_EPOCH. OUT appears only when complete.
With --manifest, 3cpio's manifest says what goes in, in its order, and where each archive
begins (#cpio) and with what compressor (#cpio: zstd -3); no DIR then.

Options:
  --compress FMT   ${CREATE_COMPRESSIONS.join(', ')} (default none); the k-th applies to the k-th
                   DIR (or archive whose #cpio line names no compressor) and the last to the
                   rest: --compress none --compress zstd early main
  --level N        the compressor's level, its -N (default: the tool's own; a manifest's level
                   wins)
  --manifest FILE  3cpio's manifest (- for stdin): tab-separated location, name, type, mode,
                   uid, gid, mtime, size or major minor or target; - or empty takes it from the
                   file at location
  -C, --directory DIR
                   where the manifest's relative locations are (default: the current directory)
  --format FMT     newc (070701, the default) or crc (070702: each file's data sum, checked)
  --data-align N   in plain archives, the data of each entry of at least N bytes starts at a
                   multiple of N in OUT (its name is padded with NULs), as 3cpio's; N a
                   multiple of 4; compressed archives are unchanged
  --mtime EPOCH    clamp mtimes to EPOCH seconds instead of SOURCE_DATE_EPOCH
  --keep-owners    the files' uid and gid instead of 0:0
  --root-owner     0:0 for every entry, also where a manifest's uid and gid columns say
                   otherwise (for a tree, 0:0 is the default)
  --json           {"image","size","archives":[{"index","start","end","size","format","entries","extractedSize"}]}
  -h, --help       this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, create)) return 0;
    const compress = (values.compress ?? []).map((name) => parseCompression(name, '--compress'));
    const format = values.format ?? 'newc';
    if (format !== 'newc' && format !== 'crc') throw new UsageError(`--format: "${format}" is not newc or crc`);
    const mtimeClamp = epoch(values.mtime, '--mtime') ?? epoch(process.env.SOURCE_DATE_EPOCH, 'SOURCE_DATE_EPOCH');
    const keepOwners = values['keep-owners'];
    const rootOwner = values['root-owner'];
    if (keepOwners && rootOwner) throw new UsageError('--keep-owners and --root-owner say the opposite: give one');
    const dataAlign = values['data-align'] === undefined ? undefined : parseCount(values['data-align'], '--data-align', 4);
    if (dataAlign !== undefined && (dataAlign % 4 !== 0 || dataAlign > 0xffffffff)) throw new UsageError(`--data-align: ${dataAlign} is not a multiple of 4 below 2^32, as 3cpio takes`);
    let result: CreateResult;
    let out: string;
    const bar = progressBar('create');
    if (values.manifest !== undefined) {
      if (args.length !== 1) throw new UsageError(`create --manifest takes OUT only (got ${args.length} arguments): the manifest names what goes in`);
      [out] = args;
      const text = values.manifest === '-' ? readFileSync(0) : readFileSync(values.manifest);
      const source = { name: values.manifest === '-' ? 'stdin' : values.manifest, directory: values.directory ?? '.' };
      const archives = readManifest(text, source, { mtimeClamp, keepOwners, rootOwner });
      if (compress.length > archives.length) throw new UsageError(`${compress.length} --compress for the manifest's ${archives.length} archive${archives.length === 1 ? '' : 's'}: at most one per archive`);
      const compressions = archives.map((a, i): CreateCompression => a.compression ?? compress[Math.min(i, compress.length - 1)] ?? 'none');
      const level = parseLevel(values.level, compressions.filter((_, i) => archives[i].level === undefined));
      const plans = archives.map((a, i): ArchivePlan => ({ entries: a.entries, compression: compressions[i], level: a.level ?? level }));
      result = await writeArchives(out, plans, { format, dataAlign, progress: bar.update }).finally(bar.done);
    } else {
      if (values.directory !== undefined) throw new UsageError('-C/--directory goes with --manifest: a DIR argument is a directory already');
      if (args.length < 2) throw new UsageError(`create takes OUT DIR... (got ${args.length} argument${args.length === 1 ? '' : 's'})`);
      let dirs: string[];
      [out, ...dirs] = args;
      if (compress.length > dirs.length) throw new UsageError(`${compress.length} --compress for ${dirs.length} DIR${dirs.length === 1 ? '' : 's'}: at most one per DIR`);
      const level = parseLevel(values.level, compress);
      result = await createImage(out, dirs, { compress, level, format, dataAlign, mtimeClamp, keepOwners, progress: bar.update }).finally(bar.done);
    }
    if (values.json) {
      writeJson(result);
      return 0;
    }
    const rows = result.archives.map((a) => [a.index, a.start, a.end, a.size, a.format, a.entries, a.extractedSize].map(String));
    print([
      `${out}: ${result.size} bytes, ${rows.length} archive${rows.length === 1 ? '' : 's'}`,
      ...formatTable(ARCHIVE_COLUMNS, rows),
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
