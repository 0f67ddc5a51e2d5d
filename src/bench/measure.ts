import { monotonicMs } from '../clock.js';
import { makeDirectories, walkTree } from '../extract/walk-tree.js';
import { onInterrupt } from '../interrupt.js';
import type { Attempt } from '../restore/orders.js';
import { type Engine, type StageOutcome, type TrialReport, runTrial } from '../restore/trial.js';
import { type ConsoleSink, type ConsoleSummary, ConsoleTally, drainConsole } from './console.js';
import { type ResourceUsage, measuredCommand, readUsage } from './rusage.js';
import type { Utf8Failure } from './utf8.js';
const { mkdtempSync, rmSync, writeFileSync, writeSync } = process.getBuiltinModule('node:fs');
const { join } = process.getBuiltinModule('node:path');

/** One attempt of the chain with what it cost, as the harness measured it. */
export interface AttemptReport extends StageOutcome {
  /**
   * native: the pipeline's own wall time, from its start to its end (0 when the guard skipped
   * it); builtin: the attempt in our process, staging and the move into place included.
   */
  wallMs: number;
  /** native: the whole pipeline's CPU (bash's `times`); builtin: our process's, every thread. */
  userMs: number;
  sysMs: number;
  /** The native pipeline's largest process, in KiB, when GNU time is there to say. */
  peakRssKb?: number;
  /**
   * What the native pipeline wrote to stderr, which reaches the console at shutdown. Null for
   * the builtin engine: our readers have no console.
   */
  consoleBytes: number | null;
  /** Whether those bytes are valid UTF-8, as a strict decoder (oz's) needs; null: no console. */
  consoleUtf8: boolean | null;
  utf8Error?: Utf8Failure;
  /** The last line of that output, escaped as names are: what says why a stage failed. */
  consoleTail?: string;
  /** Entries the attempt left in the target although it failed, counted after it. */
  junkEntries: number;
}

export type MeasuredTrial = TrialReport<AttemptReport>;

export interface MeasureOptions {
  /** Where the native pipelines' console output goes (journal by default). */
  console?: ConsoleSink;
  /** Every console byte of every attempt goes here too, raw. */
  consoleLog?: number;
  /** Limit for the builtin engine's decoders (see walkImage). */
  maxOutput?: number;
  /** The builtin engine decodes with our decoders only (see walkImage). */
  inProcess?: boolean;
  /**
   * Make the target what /run/initramfs is when the script runs: it holds .need_shutdown
   * (the script exits early otherwise), which a success removes.
   */
  asRunInitramfs?: boolean;
}

export interface MeasuredRun {
  status: number;
  wallMs: number;
  usage: ResourceUsage;
  /** What it wrote to stderr, which is the console at shutdown: how much, where it stops being UTF-8, its start and last line. */
  console: ConsoleSummary;
  stdout: Buffer;
}

/**
 * The trial chain of runTrial, each attempt measured: wall and CPU time, the native pipeline's
 * peak RSS and console output (through `console`, which decides what the output costs), and
 * the junk a failed attempt left.
 */
export async function measureTrial(image: string, target: string, order: readonly Attempt[], engine: Engine, options: MeasureOptions = {}): Promise<MeasuredTrial> {
  const attempts: AttemptReport[] = [];
  const needShutdown = join(target, '.need_shutdown');
  if (options.asRunInitramfs) {
    makeDirectories(target);
    writeFileSync(needShutdown, '');
  }
  // Set by runPipeline during the attempt that ran it.
  const last: { pipeline?: MeasuredRun } = {};
  const report = await runTrial(image, target, order, engine, {
    maxOutput: options.maxOutput,
    inProcess: options.inProcess,
    async runPipeline(argv, cwd) {
      last.pipeline = await runMeasured(argv, cwd, options.console, options.consoleLog);
      return last.pipeline.status;
    },
    async aroundAttempt(_stage, attempt) {
      last.pipeline = undefined;
      const before = countEntries(target);
      const cpu = process.cpuUsage();
      const began = monotonicMs();
      const outcome = await attempt();
      const wallMs = monotonicMs() - began;
      const used = process.cpuUsage(cpu);
      const junkEntries = outcome.ok ? 0 : countEntries(target) - before;
      if (engine === 'builtin') {
        attempts.push({ ...outcome, wallMs, userMs: used.user / 1000, sysMs: used.system / 1000, consoleBytes: null, consoleUtf8: null, junkEntries });
      } else {
        const pipeline = last.pipeline as MeasuredRun | undefined;
        const utf8Error = pipeline?.console.utf8Error;
        const tail = pipeline?.console.lastLine;
        attempts.push({
          ...outcome,
          wallMs: pipeline?.wallMs ?? 0,
          userMs: pipeline?.usage.userMs ?? 0,
          sysMs: pipeline?.usage.sysMs ?? 0,
          ...(pipeline?.usage.peakRssKb !== undefined ? { peakRssKb: pipeline.usage.peakRssKb } : {}),
          consoleBytes: pipeline?.console.bytes ?? 0,
          consoleUtf8: !utf8Error,
          ...(utf8Error ? { utf8Error } : {}),
          ...(tail ? { consoleTail: tail } : {}),
          junkEntries,
        });
      }
      return outcome;
    },
  });
  if (options.asRunInitramfs && report.winner) rmSync(needShutdown, { force: true });
  return { ...report, attempts };
}

/** What a trial's pipelines (native) or attempts (builtin) took, one after the other. */
export function trialWallMs(trial: MeasuredTrial): number {
  return trial.attempts.reduce((ms, a) => ms + a.wallMs, 0);
}

/**
 * One command in a process group of its own (so that an interrupted run can stop all of it),
 * its CPU and peak RSS measured from outside, its stderr drained into the console sink.
 */
export async function runMeasured(argv: readonly string[], cwd: string | undefined, sink: ConsoleSink = { kind: 'journal' }, consoleLog?: number): Promise<MeasuredRun> {
  // Here, not at the top: the builtin engine's trial spawns nothing, and node:child_process
  // adds to its peak RSS (bench/startup.sh).
  const { spawn } = process.getBuiltinModule('node:child_process');
  const scratch = mkdtempSync(join(process.getBuiltinModule('node:os').tmpdir(), 'initramfs-restore-usage-'));
  const stdout: Buffer[] = [];
  const tally = new ConsoleTally();
  try {
    const [program, ...args] = measuredCommand(argv, scratch);
    const began = monotonicMs();
    const child = spawn(program, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const dropUndo = onInterrupt(() => process.kill(-child.pid!, 'SIGTERM'));
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    const releaseConsole = drainConsole(child.stderr!, sink, (chunk) => {
      tally.push(chunk);
      if (consoleLog !== undefined) writeSync(consoleLog, chunk);
    });
    const status = await new Promise<number>((done) => {
      child.on('error', () => done(127));
      child.on('close', (code) => done(code ?? 1));
    });
    const wallMs = monotonicMs() - began;
    dropUndo();
    releaseConsole();
    return { status, wallMs, usage: readUsage(scratch), console: tally.end(), stdout: Buffer.concat(stdout) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Entries below `dir`; what cannot be read (cpio's junk may be mode 000) counts as itself. */
function countEntries(dir: string): number {
  let n = 0;
  walkTree(dir, () => {
    n++;
  }, { unlistable: 'skip' });
  return n;
}
