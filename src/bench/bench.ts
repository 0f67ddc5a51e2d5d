import { repackImage } from '../create/repack.js';
import type { CreateCompression } from '../create/write.js';
import { hex } from '../decode/bytes.js';
import { removeTree } from '../extract/walk-tree.js';
import { onInterrupt } from '../interrupt.js';
import { type Attempt, type NamedOrder, rightStage } from '../restore/orders.js';
import { skipcpioStart } from '../restore/skipcpio.js';
import { type Engine, type TrialReport, mainArchiveMagic } from '../restore/trial.js';
import { type ConsoleSink, describeSink } from './console.js';
import { type MeasuredTrial, measureTrial, runMeasured, trialWallMs } from './measure.js';
import { haveGnuTime } from './rusage.js';
import { type Machine, describeMachine, describeRestoredTree, describeTools, imageIdentity } from './environment.js';
import { type Spread, median, spread } from './stats.js';
const { spawnSync } = process.getBuiltinModule('node:child_process');
const { mkdirSync, mkdtempSync, readFileSync, statfsSync, writeFileSync } = process.getBuiltinModule('node:fs');
const { tmpdir } = process.getBuiltinModule('node:os');
const { basename, join } = process.getBuiltinModule('node:path');
const { fileURLToPath } = process.getBuiltinModule('node:url');

export interface BenchOptions {
  orders: NamedOrder[];
  engines: Engine[];
  runs: number;
  warmup: number;
  console: ConsoleSink;
  /** Where each run's fresh target is made. */
  tmp: string;
  /**
   * Bench each image repacked into each of these compressions (in a scratch directory, by
   * repack's code, removed at the end) instead of the images themselves.
   */
  recompress?: readonly CreateCompression[];
  /** The compressors' level (their -N) for --recompress; each tool's default when absent. */
  level?: number;
  /** Called after every run, warm-ups included. */
  onProgress?: (done: number, total: number) => void;
}

/** One restore of one image by one combination, into a fresh target. */
export interface Sample {
  warmup: boolean;
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** KiB; null without GNU time. */
  peakRssKb: number | null;
  winner: Attempt | null;
  failedAttempts: number;
  /** Wall time the failed attempts took, all together. */
  failedMs: number;
  /** Stages the script's `command -v` guard skipped: not installed here. */
  skippedAttempts: number;
  /** Null for the builtin engine: our readers have no console. */
  consoleBytes: number | null;
  consoleUtf8: boolean | null;
  junkEntries: number;
  attempts: MeasuredTrial['attempts'];
}

export interface RowSummary {
  runs: number;
  wallMs: Spread;
  userMs: number;
  sysMs: number;
  peakRssKb: number | null;
  /** The stage that restored the image, when every run agrees; null when none did. */
  winner: Attempt | null;
  /** Whether every run ended the same way (the same winner, or none). */
  consistent: boolean;
  failedAttempts: number;
  failedMs: number;
  skippedAttempts: number;
  /** Null for the builtin engine, which has no console. */
  consoleBytes: number | null;
  consoleUtf8: boolean | null;
  /** Python's words for the first byte a strict decoder rejects, as oz crashed on it. */
  utf8Error?: string;
  junkEntries: number;
  /**
   * Median wall over that of the fastest combination of the same engine that restored the
   * image (the two engines are different experiments); null when this one did not.
   */
  ratioToFastest: number | null;
  /** Median wall over the native floor's. */
  ratioToFloor: number | null;
}

export interface BenchRow {
  /** `floor`, or the order's name. */
  label: string;
  order: string;
  stages: readonly Attempt[];
  engine: Engine;
  /** The single right pipeline for the image's magic: what every other row is measured against. */
  floor: boolean;
  summary: RowSummary;
  samples: Sample[];
}

export interface ImageResult {
  path: string;
  bytes: number;
  sha256: string;
  /** What skipcpio leaves, by its magic. */
  magic: TrialReport['magic'];
  /** Where the main archive starts: the early cpio's size. */
  mainOffset: number;
  kernels: string[];
  release?: string;
  /** For --recompress: `path` is `image` repacked with `compress` at `level` (and gone after the run). */
  repackedFrom?: { image: string; compress: CreateCompression; level?: number };
  rows: BenchRow[];
}

export interface BenchReport {
  tool: { name: string; version: string };
  date: string;
  machine: Machine;
  tools: Record<string, string | null>;
  settings: {
    orders: NamedOrder[];
    engines: Engine[];
    runs: number;
    warmup: number;
    console: string;
    /** --recompress: each image was benched repacked into each of these, not as it is. */
    recompress?: CreateCompression[];
    /** Where the targets were, and on what filesystem. */
    targets: { dir: string; filesystem: string };
    /** How CPU time and peak RSS were measured. */
    rusage: string;
  };
  images: ImageResult[];
}

const BIN = fileURLToPath(new URL('../../bin/initramfs-restore.js', import.meta.url));
const PACKAGE = fileURLToPath(new URL('../../package.json', import.meta.url));

interface Combination {
  label: string;
  order: string;
  stages: readonly Attempt[];
  engine: Engine;
  floor: boolean;
  samples: Sample[];
}

/**
 * Restores every image with every order and engine, `warmup` + `runs` times each, into a fresh
 * target each time. Runs are interleaved (A B C A B C …) so that the machine's drift falls on
 * every combination alike. With the native engine each stage runs as the script's pipeline,
 * measured by GNU time when installed; the builtin engine runs as our CLI in a process of its
 * own, so that its peak RSS is its own.
 */
export async function runBench(images: string[], options: BenchOptions): Promise<BenchReport> {
  if (!(options.runs >= 1)) throw new RangeError('runBench needs at least one measured run');
  const report: BenchReport = {
    tool: { name: 'initramfs-restore', version: packageVersion() },
    date: new Date().toISOString(),
    machine: describeMachine(),
    tools: describeTools(),
    settings: {
      orders: options.orders,
      engines: options.engines,
      runs: options.runs,
      warmup: options.warmup,
      console: describeSink(options.console),
      ...(options.recompress ? { recompress: [...options.recompress] } : {}),
      targets: { dir: options.tmp, filesystem: filesystemOf(options.tmp) },
      rusage: haveGnuTime() ? "CPU by bash's times, peak RSS by GNU time (wait4)" : "CPU by bash's times, no peak RSS (GNU time is not installed)",
    },
    images: [],
  };
  const work = mkdtempSync(join(options.tmp, 'initramfs-restore-bench-'));
  const dropUndo = onInterrupt(() => removeTree(work));
  const target = join(work, 'target');
  try {
    const sources: { image: string; repackedFrom?: ImageResult['repackedFrom'] }[] = options.recompress
      ? await repackAll(images, options.recompress, options.level, work)
      : images.map((image) => ({ image }));
    const plan = sources.map((source) => ({ ...source, magic: mainArchiveMagic(source.image) }));
    const combinations = plan.map(({ magic }) => combinationsFor(magic, options));
    const total = combinations.reduce((n, c) => n + c.length, 0) * (options.warmup + options.runs);
    let done = 0;
    for (const [i, { image, magic, repackedFrom }] of plan.entries()) {
      const start = skipcpioStart(image);
      const result: ImageResult = {
        path: image,
        ...imageIdentity(image),
        magic,
        mainOffset: 'start' in start ? start.start : 0,
        kernels: [],
        ...(repackedFrom ? { repackedFrom } : {}),
        rows: [],
      };
      let described = false;
      for (let round = 0; round < options.warmup + options.runs; round++) {
        for (const combination of combinations[i]) {
          const sample = await runOnce(image, target, combination, options.console, round < options.warmup);
          if (sample.winner && !described) {
            Object.assign(result, describeRestoredTree(target));
            described = true;
          }
          removeTree(target);
          combination.samples.push(sample);
          options.onProgress?.(++done, total);
        }
      }
      result.rows = summarize(combinations[i]);
      report.images.push(result);
    }
  } finally {
    dropUndo();
    removeTree(work);
  }
  return report;
}

/** What the report calls an image: its file name, or the one it was repacked from and how. */
export function imageName(image: ImageResult): string {
  if (!image.repackedFrom) return basename(image.path);
  const { image: source, compress, level } = image.repackedFrom;
  return `${basename(source)} repacked as ${compress}${level === undefined ? '' : ` -${level}`}`;
}

/** Each image repacked into each compression, in `dir`: what --recompress benches. */
async function repackAll(images: readonly string[], compressions: readonly CreateCompression[], level: number | undefined, dir: string): Promise<{ image: string; repackedFrom: NonNullable<ImageResult['repackedFrom']> }[]> {
  const repacked: { image: string; repackedFrom: NonNullable<ImageResult['repackedFrom']> }[] = [];
  for (const [i, image] of images.entries()) {
    for (const compress of compressions) {
      // The image's own name, the compression after it: what the report calls each.
      const out = join(dir, `${i}-${basename(image).replace(/\.img$/, '')}.${compress}.img`);
      await repackImage(image, out, { compress, level });
      repacked.push({ image: out, repackedFrom: { image, compress, ...(level === undefined ? {} : { level }) } });
    }
  }
  return repacked;
}

/** The native floor first (when cpio is there to run it), then every order with every engine. */
function combinationsFor(magic: TrialReport['magic'], options: BenchOptions): Combination[] {
  const list: Combination[] = [];
  if (magic !== 'empty' && magic !== 'unknown' && nativeToolsInstalled()) {
    const stage = rightStage(magic);
    list.push({ label: 'floor', order: stage, stages: [stage], engine: 'native', floor: true, samples: [] });
  }
  for (const order of options.orders) {
    for (const engine of options.engines) {
      list.push({ label: order.name, order: order.name, stages: order.stages, engine, floor: false, samples: [] });
    }
  }
  return list;
}

/**
 * One restore. The native engine's wall time is its pipelines' alone, as the script runs them:
 * not our checks between them (junk counts, the `command -v` guard). The builtin engine's is
 * our whole process, Node's start included, as a user pays it.
 */
async function runOnce(image: string, target: string, combination: Combination, sink: ConsoleSink, warmup: boolean): Promise<Sample> {
  mkdirSync(target);
  // As /run/initramfs holds it when the script runs (3cpio refuses a target that is not empty).
  writeFileSync(join(target, '.need_shutdown'), '');
  if (combination.engine === 'native') {
    const trial = await measureTrial(image, target, combination.stages, 'native', { console: sink });
    const rss = trial.attempts.map((a) => a.peakRssKb).filter((kb) => kb !== undefined);
    return sampleOf(trial, warmup, {
      wallMs: trialWallMs(trial),
      userMs: sum(trial.attempts.map((a) => a.userMs)),
      sysMs: sum(trial.attempts.map((a) => a.sysMs)),
      peakRssKb: rss.length ? Math.max(...rss) : null,
    });
  }
  return builtinRun(image, target, combination.stages, sink, warmup);
}

/** Our CLI in a process of its own, as a user runs it: `unpack IMAGE DIR --order … --engine builtin`. */
async function builtinRun(image: string, target: string, stages: readonly Attempt[], sink: ConsoleSink, warmup: boolean): Promise<Sample> {
  // Our CLI removes its own staging on SIGTERM; its group gets it, GNU time and bash included.
  const { status, wallMs, usage, console, stdout } = await runMeasured(
    [process.execPath, BIN, 'unpack', image, target, '--order', stages.join(','), '--engine', 'builtin', '--json'], undefined, sink);
  let trial: MeasuredTrial;
  try {
    trial = JSON.parse(stdout.toString()) as MeasuredTrial;
  } catch {
    throw new Error(`the builtin engine exited with status ${status} and no report: ${console.head || 'nothing on stderr'}`);
  }
  return sampleOf(trial, warmup, { wallMs, userMs: usage.userMs, sysMs: usage.sysMs, peakRssKb: usage.peakRssKb ?? null });
}

function sampleOf(trial: MeasuredTrial, warmup: boolean, cost: Pick<Sample, 'wallMs' | 'userMs' | 'sysMs' | 'peakRssKb'>): Sample {
  const failed = trial.attempts.filter((a) => !a.ok && !a.skipped);
  return {
    warmup,
    ...cost,
    winner: trial.winner ?? null,
    failedAttempts: failed.length,
    failedMs: sum(failed.map((a) => a.wallMs)),
    skippedAttempts: trial.attempts.filter((a) => a.skipped).length,
    ...(trial.engine === 'builtin'
      ? { consoleBytes: null, consoleUtf8: null }
      : { consoleBytes: sum(trial.attempts.map((a) => a.consoleBytes ?? 0)), consoleUtf8: trial.attempts.every((a) => a.consoleUtf8) }),
    junkEntries: sum(trial.attempts.map((a) => a.junkEntries)),
    attempts: trial.attempts,
  };
}

function summarize(combinations: Combination[]): BenchRow[] {
  const rows = combinations.map((c): BenchRow => {
    const measured = c.samples.filter((s) => !s.warmup);
    const consistent = measured.every((s) => s.winner === measured[0].winner);
    const rss = measured.map((s) => s.peakRssKb).filter((kb) => kb !== null);
    const utf8Error = measured.flatMap((s) => s.attempts).find((a) => a.utf8Error)?.utf8Error?.message;
    return {
      label: c.label,
      order: c.order,
      stages: c.stages,
      engine: c.engine,
      floor: c.floor,
      summary: {
        runs: measured.length,
        wallMs: spread(measured.map((s) => s.wallMs)),
        userMs: median(measured.map((s) => s.userMs)),
        sysMs: median(measured.map((s) => s.sysMs)),
        peakRssKb: rss.length ? Math.max(...rss) : null,
        winner: consistent ? measured[0].winner : null,
        consistent,
        failedAttempts: median(measured.map((s) => s.failedAttempts)),
        failedMs: median(measured.map((s) => s.failedMs)),
        skippedAttempts: median(measured.map((s) => s.skippedAttempts)),
        ...(c.engine === 'builtin'
          ? { consoleBytes: null, consoleUtf8: null }
          : { consoleBytes: median(measured.map((s) => s.consoleBytes ?? 0)), consoleUtf8: measured.every((s) => s.consoleUtf8) }),
        ...(utf8Error ? { utf8Error } : {}),
        junkEntries: Math.max(...measured.map((s) => s.junkEntries)),
        ratioToFastest: null,
        ratioToFloor: null,
      },
      samples: c.samples,
    };
  });
  const restored = rows.filter((r) => r.summary.winner);
  const floor = rows.find((r) => r.floor && r.summary.winner)?.summary.wallMs.median;
  for (const row of restored) {
    const fastest = Math.min(...restored.filter((r) => r.engine === row.engine).map((r) => r.summary.wallMs.median));
    row.summary.ratioToFastest = row.summary.wallMs.median / fastest;
    row.summary.ratioToFloor = floor ? row.summary.wallMs.median / floor : null;
  }
  return rows;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** The native engine and its floor need GNU cpio; the decompressors are checked per stage. */
export function nativeToolsInstalled(): boolean {
  return spawnSync('bash', ['-c', 'command -v cpio']).status === 0;
}

/**
 * Where fresh targets go by default: a tmpfs, as /run/initramfs is, when /dev/shm is one with
 * room for a whole initramfs; the system's temporary directory otherwise.
 */
export function defaultTargetDir(): string {
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= 2 * 2 ** 30) return '/dev/shm';
  } catch {
    // No /dev/shm.
  }
  return tmpdir();
}

const TMPFS_MAGIC = 0x01021994;

const FILESYSTEMS: Record<number, string> = {
  [TMPFS_MAGIC]: 'tmpfs',
  0xef53: 'ext2/3/4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x794c7630: 'overlayfs',
};

function filesystemOf(dir: string): string {
  const type = statfsSync(dir).type;
  return FILESYSTEMS[type] ?? `0x${hex(type)}`;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(PACKAGE, 'utf8')) as { version: string }).version;
}
