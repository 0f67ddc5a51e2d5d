import { type CpioEntry, entryType } from '../cpio/entry.js';
import { escapeName } from '../cpio/names.js';
import { UsageError } from '../errors.js';
import type { CpioEvents } from '../cpio/parser.js';
import { walkImage } from '../image/walk.js';
import { LineWriter } from '../output.js';
import { type Command, type Options, parseCommandArgs, positionals, wantsHelp } from './args.js';
import { parseParts } from './parts.js';
import { onImage } from './report.js';
import { maxSizeOption } from './sizes.js';
import { progressBar } from './progress.js';

const OPTIONS = {
  verbose: { type: 'boolean', short: 'v' },
  json: { type: 'boolean' },
  parts: { type: 'string' },
  'max-size': { type: 'string' },
  'in-process': { type: 'boolean' },
  sizes: { type: 'boolean' },
} satisfies Options;

export const list: Command = {
  name: 'list',
  options: OPTIONS,
  usage: `Usage: initramfs-restore list IMAGE [-v] [--json] [--parts LIST] [--max-size SIZE] [--in-process]
                                    [--sizes]

Lists every entry of every cpio archive in IMAGE, in archive order. Names are bytes: bytes
that are not printable UTF-8 are shown as \\xNN and a backslash as \\\\.

Options:
  -v, --verbose  ls-style: mode, links, uid, gid, size, mtime (UTC), name, -> target
  --json         one object per entry: archive, name, type, mode, uid, gid, nlink, mtime,
                 size, ino, dev, rdev, target
  --parts LIST   only these archives, by the index examine shows: 1,3-  2-4  -2
  --max-size SIZE
                 stop when the compressed members expand beyond SIZE in all (default 4G)
  --in-process   decode with our own decoders only: no format's CLI as a co-process
  --sizes        the extracted size per directory and per archive instead: 'du IMAGE'
                 (with --json, du's JSON)
  -h, --help     this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, list)) return 0;
    const maxOutput = maxSizeOption(values['max-size']);
    const [image] = positionals(args, ['IMAGE'], list);
    if (values.sizes) {
      if (values.verbose || values.parts || values['in-process']) throw new UsageError('--sizes is du IMAGE: it takes only --json and --max-size');
      return (await import('./du.js')).reportSizes(image, { json: values.json, maxOutput });
    }
    const select = parseParts(values.parts);
    const out = new LineWriter();
    let archiveIndex = 0;
    let first = true;
    if (values.json) out.write(`{"image":${JSON.stringify(image)},"entries":[`);
    const events: CpioEvents = {
      entry(e) {
        if (values.json) {
          out.write(`${first ? '\n' : ',\n'}${JSON.stringify(entryJson(e, archiveIndex))}`);
          first = false;
        } else {
          out.write(`${values.verbose ? verboseLine(e) : escapeName(e.name)}\n`);
        }
      },
      data() {},
      entryEnd() {},
      trailer() {},
    };
    const bar = progressBar('list');
    try {
      await onImage(image, () => walkImage(image, events, {
        skipData: true,
        inProcess: values['in-process'],
        select: (index) => {
          archiveIndex = index;
          return select ? select(index) : true;
        },
        progress: bar.update,
        maxOutput,
      }));
    } finally {
      bar.done();
      // What was listed before a failure is still shown, but JSON is closed only when complete.
      out.flush();
    }
    if (values.json) out.write('\n]}\n');
    out.flush();
    return 0;
  },
};

function entryJson(e: CpioEntry, archive: number) {
  return {
    archive,
    name: escapeName(e.name),
    type: entryType(e.mode) ?? 'unknown',
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    nlink: e.nlink,
    mtime: e.mtime,
    size: e.size,
    ino: e.ino,
    dev: [e.devMajor, e.devMinor],
    rdev: [e.rdevMajor, e.rdevMinor],
    ...(e.linkTarget ? { target: escapeName(e.linkTarget) } : {}),
  };
}

const TYPE_CHAR: Record<string, string> = { file: '-', dir: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p', socket: 's' };

export function modeString(mode: number): string {
  const type = TYPE_CHAR[entryType(mode) ?? ''] ?? '?';
  const bits = 'rwxrwxrwx'.split('').map((c, i) => (mode & (0o400 >> i) ? c : '-'));
  if (mode & 0o4000) bits[2] = bits[2] === 'x' ? 's' : 'S';
  if (mode & 0o2000) bits[5] = bits[5] === 'x' ? 's' : 'S';
  if (mode & 0o1000) bits[8] = bits[8] === 'x' ? 't' : 'T';
  return type + bits.join('');
}

function verboseLine(e: CpioEntry): string {
  const type = entryType(e.mode);
  const size = type === 'char' || type === 'block' ? `${e.rdevMajor}, ${e.rdevMinor}` : String(e.size);
  const date = new Date(e.mtime * 1000).toISOString().slice(0, 16).replace('T', ' ');
  const target = e.linkTarget ? ` -> ${escapeName(e.linkTarget)}` : '';
  return `${modeString(e.mode)} ${String(e.nlink).padStart(3)} ${String(e.uid).padEnd(5)} ${String(e.gid).padEnd(5)} ${size.padStart(10)} ${date} ${escapeName(e.name)}${target}`;
}
