import { type BenchReport, type BenchRow, type ImageResult, defaultTargetDir, imageName, nativeToolsInstalled, runBench } from '../bench/bench.js';
import { renderChart } from '../bench/chart.js';
import { parseConsoleSink } from '../bench/console.js';
import { ByteSource } from '../decode/source.js';
import { PRESET_NAMES, parseOrders } from '../restore/orders.js';
import { parseEngines } from '../restore/trial.js';
import { UsageError } from '../errors.js';
import { type Command, type Options, parseCommandArgs, parseCount, wantsHelp } from './args.js';
import { parseCompression, parseLevel } from './compression.js';
import { progressBar } from './progress.js';
import { Failure, onImage, print } from './report.js';
import { formatBytes } from '../output.js';
import { type Column, formatTable } from './table.js';
const { writeFileSync } = process.getBuiltinModule('node:fs');

const OPTIONS = {
  orders: { type: 'string' },
  engines: { type: 'string' },
  runs: { type: 'string' },
  warmup: { type: 'string' },
  console: { type: 'string' },
  tmp: { type: 'string' },
  json: { type: 'string' },
  chart: { type: 'string' },
  recompress: { type: 'string' },
  level: { type: 'string' },
} satisfies Options;

export const bench: Command = {
  name: 'bench',
  options: OPTIONS,
  usage: `Usage: initramfs-restore bench IMAGE... [--orders LIST] [--engines LIST] [--runs N] [--warmup N]
                              [--console SINK] [--tmp DIR] [--json FILE] [--chart FILE.svg]
                              [--recompress LIST [--level N]]

Restores each IMAGE with each order and engine as dracut-initramfs-restore does (skipcpio, then
the trial chain; or dracut 112's extractor by magic), into a fresh target each run that holds
.need_shutdown as /run/initramfs does, and reports per combination: median, min and
max wall time, user and system CPU, peak RSS, failed attempts and what they cost, console
bytes and whether they are valid UTF-8 (native only: the builtin engine has no console),
junk entries left, and the ratio to the fastest combination of the same engine and to the
native floor: the single right pipeline (skipcpio | DEC | cpio -id) alone. The engines are
two experiments, shown apart: native runs the script's pipelines; builtin runs our CLI, each
stage our reader of that stage's format. Runs are interleaved (A B C A B C ...) after the
warm-ups. Nothing here is a test: the figures are the machine's.

Options:
  --orders LIST   comma list of presets (dracut-055, dracut-056, dracut-057, zstd-first,
                  initramfs-tools, dracut-112: 3cpio when on PATH, else extractinitrd) or
                  stages joined by '+' (zstd+gzip+plain, 3cpio, extractinitrd); default all
                  presets
  --engines LIST  native (the script's own pipelines, each measured by GNU time) and/or
                  builtin (our CLI in a process of its own); default both, builtin alone
                  when cpio is not installed
  --runs N        measured runs per combination (default 5)
  --warmup N      unmeasured runs first (default 1)
  --console SINK  where the console output goes, which decides what the spew costs: null,
                  file, journal (default: a pipe read line by line, as journald does) or
                  serial:BAUD (drained at that line rate, e.g. serial:115200)
  --tmp DIR       where the fresh targets go (default /dev/shm when it is a tmpfs with 2 GiB
                  free, as /run/initramfs is a tmpfs; the system's temporary directory
                  otherwise)
  --json FILE     every raw sample, with the machine, tool and image versions ('-': stdout,
                  instead of the table)
  --chart FILE    an SVG chart: per image, a bar per order and engine, min-max whiskers
  --recompress LIST  bench each IMAGE repacked (as repack does: its compressed members) into
                  each compression of LIST instead, e.g. gzip,xz,zstd,lz4,lzop,bzip2,none;
                  the repacked images go in a scratch directory under --tmp, removed after
  --level N       with --recompress: the compressors' level, their -N (default: each tool's
                  own); every compression of LIST must take it
  -h, --help      this text
`,
  async run(argv) {
    const { values, positionals: images } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, bench)) return 0;
    if (images.length === 0) throw new UsageError('bench takes one or more IMAGEs');
    const orders = parseOrders(values.orders ?? PRESET_NAMES.join(','));
    const native = nativeToolsInstalled();
    const engines = parseEngines(values.engines ?? (native ? 'native,builtin' : 'builtin'));
    const runs = parseCount(values.runs ?? '5', '--runs', 1);
    const warmup = parseCount(values.warmup ?? '1', '--warmup', 0);
    const sink = parseConsoleSink(values.console ?? 'journal');
    const recompress = values.recompress?.split(',').map((name) => parseCompression(name.trim(), '--recompress'));
    if (values.level !== undefined && !recompress) throw new UsageError('--level goes with --recompress: it is the level the images are repacked at');
    const level = parseLevel(values.level, recompress ?? []);
    if (engines.includes('native') && !native) throw new Failure('the native engine runs GNU cpio, which is not installed');
    for (const image of images) await onImage(image, async () => ByteSource.open(image).close());

    const bar = progressBar('bench', String);
    const report = await runBench(images, { orders, engines, runs, warmup, console: sink, tmp: values.tmp ?? defaultTargetDir(), recompress, level, onProgress: bar.update })
      .finally(() => bar.done());
    if (values.json !== undefined) {
      const json = `${JSON.stringify(report, null, 2)}\n`;
      if (values.json === '-') print(json);
      else writeFileSync(values.json, json);
    }
    if (values.chart !== undefined) writeFileSync(values.chart, renderChart(report));
    if (values.json !== '-') print(describe(report));
    return 0;
  },
};

function describe(report: BenchReport): string {
  const { runs, warmup, console, targets, rusage } = report.settings;
  const out = [
    `${runs} run${runs === 1 ? '' : 's'} per combination after ${warmup} warm-up${warmup === 1 ? '' : 's'}, interleaved; console: ${console}; ` +
      `targets on ${targets.filesystem} (${targets.dir}); ${rusage}`,
  ];
  for (const image of report.images) out.push('', describeImage(image));
  return out.join('\n');
}

const COLUMNS: Column[] = [
  { heading: 'order', align: 'left' },
  { heading: 'restored by', align: 'left' },
  { heading: 'median s', align: 'right' },
  { heading: 'min-max s', align: 'right' },
  { heading: 'user s', align: 'right' },
  { heading: 'sys s', align: 'right' },
  { heading: 'peak RSS', align: 'right' },
  { heading: 'failed', align: 'right' },
  { heading: 'console B', align: 'right' },
  { heading: 'UTF-8', align: 'right' },
  { heading: 'junk', align: 'right' },
  { heading: 'x fastest', align: 'right' },
  { heading: 'x floor', align: 'right' },
];

function describeImage(image: ImageResult): string {
  const facts = [
    image.mainOffset ? `${image.magic} after ${formatBytes(image.mainOffset)} of early cpio` : `${image.magic}, no early cpio`,
    formatBytes(image.bytes),
    ...image.kernels.map((k) => `kernel ${k}`),
    ...(image.release ? [image.release] : []),
  ];
  const groups = [
    { title: "native engine: the script's own pipelines (skipcpio | DEC | cpio -id), the floor first", rows: image.rows.filter((r) => r.engine === 'native') },
    { title: 'builtin engine: our readers (a format\'s CLI as a co-process where it is faster and installed), our CLI timed from its start (a tool, not a run of the script: no console)', rows: image.rows.filter((r) => r.engine === 'builtin') },
  ].filter((g) => g.rows.length > 0);
  // One width per column across both engines' tables, so that they read as one.
  const [heading, ...lines] = formatTable(COLUMNS, groups.flatMap((g) => g.rows.map(cells)));
  const notes = image.rows.filter((r) => r.summary.utf8Error).slice(0, 1)
    .map((r) => `${r.label} (${r.engine}): the console is not UTF-8: ${r.summary.utf8Error}`);
  return [
    `${imageName(image)} (${facts.join('; ')})`,
    ...groups.flatMap((g) => [g.title, heading, ...lines.splice(0, g.rows.length)]),
    ...notes,
  ].join('\n');
}

function cells(row: BenchRow): string[] {
  const s = row.summary;
  const sec = (ms: number) => (ms / 1000).toFixed(3);
  return [
    row.floor ? `floor (${row.order})` : row.label,
    s.winner ?? (s.consistent ? 'NOTHING' : 'VARIES'),
    sec(s.wallMs.median),
    `${sec(s.wallMs.min)}-${sec(s.wallMs.max)}`,
    sec(s.userMs),
    sec(s.sysMs),
    s.peakRssKb === null ? '-' : formatBytes(s.peakRssKb * 1024),
    (s.failedAttempts ? `${s.failedAttempts}, ${sec(s.failedMs)} s` : '0') + (s.skippedAttempts ? ` +${s.skippedAttempts} skipped` : ''),
    s.consoleBytes === null ? 'none' : String(s.consoleBytes),
    s.consoleBytes === null || s.consoleBytes === 0 ? '-' : s.consoleUtf8 ? 'yes' : 'NO',
    String(s.junkEntries),
    s.ratioToFastest === null ? '-' : s.ratioToFastest.toFixed(2),
    s.ratioToFloor === null ? '-' : s.ratioToFloor.toFixed(2),
  ];
}
