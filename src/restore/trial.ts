import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectCompression } from '../decode/formats.js';
import { ByteSource } from '../decode/source.js';
import { SafeExtractor } from '../extract/writer.js';
import { walkImage } from '../image/walk.js';
import { type ConsoleSink, drainConsole } from './console.js';
import { type Attempt, type MagicName, STAGES } from './orders.js';
import { onInterrupt } from '../interrupt.js';
import { type ResourceUsage, measuredCommand, readUsage } from './rusage.js';
import { skipcpioStart } from './skipcpio.js';
import { type Utf8Failure, strictUtf8 } from './utf8.js';

export type Engine = 'builtin' | 'native';

export interface AttemptReport {
  stage: Attempt;
  /** The pipeline as the script runs it, or what the builtin engine did. */
  command: string;
  ok: boolean;
  /** Why it failed, when it did. */
  reason?: string;
  /** Not run: the script's `command -v` guard skips a decompressor that is not installed. */
  skipped?: true;
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** The native pipeline's largest process, in KiB, when GNU time is there to say. */
  peakRssKb?: number;
  /** What the attempt wrote to stderr, which reaches the console at shutdown. */
  consoleBytes: number;
  consoleUtf8: boolean;
  utf8Error?: Utf8Failure;
  /** Entries the attempt left in the target although it failed. */
  junkEntries: number;
}

export interface TrialReport {
  engine: Engine;
  order: readonly Attempt[];
  /** The skipcpio the pipelines start with. */
  skipcpio: string;
  attempts: AttemptReport[];
  /** The stage that succeeded: it does not name the format (zstd -d also reads gzip). */
  winner?: Attempt;
  /** The format of what skipcpio gives, by its magic. */
  magic: MagicName | 'cpio' | 'unknown' | 'empty';
}

export interface TrialOptions {
  /** Every console byte of every attempt goes here too, raw. */
  consoleLog?: number;
  /** Where the native engine's console output goes (journal by default). */
  console?: ConsoleSink;
  /** Limit for the builtin engine's decoders (see walkImage). */
  maxOutput?: number;
}

const DRACUT_SKIPCPIO = '/usr/lib/dracut/skipcpio';
const OUR_SKIPCPIO = fileURLToPath(new URL('../../bin/skipcpio.js', import.meta.url));

/**
 * dracut-initramfs-restore's trial chain: skipcpio, then each decompressor of `order` in turn
 * feeding cpio, until one succeeds. The native engine runs the script's own pipelines, all
 * into `target` as the script does, junk included; the builtin engine runs our decoders and
 * extractor, each attempt into a staging directory that only a success moves into place.
 */
export async function runTrial(image: string, target: string, order: readonly Attempt[], engine: Engine, options: TrialOptions = {}): Promise<TrialReport> {
  mkdirSync(target, { recursive: true });
  const start = skipcpioStart(image);
  const report: TrialReport = {
    engine,
    order,
    skipcpio: engine === 'native' ? nativeSkipcpio() : 'builtin',
    attempts: [],
    magic: magicAfter(image, start),
  };
  for (const stage of order) {
    const attempt = engine === 'native'
      ? await nativeAttempt(image, target, stage, report.skipcpio, options)
      : await builtinAttempt(image, target, stage, start, report.magic, options);
    report.attempts.push(attempt);
    if (attempt.ok) {
      report.winner = stage;
      break;
    }
  }
  return report;
}

function nativeSkipcpio(): string {
  return existsSync(DRACUT_SKIPCPIO) ? DRACUT_SKIPCPIO : OUR_SKIPCPIO;
}

/** The format of what skipcpio gives for `image`, by its magic. */
export function mainArchiveMagic(image: string): TrialReport['magic'] {
  return magicAfter(image, skipcpioStart(image));
}

function magicAfter(image: string, start: ReturnType<typeof skipcpioStart>): TrialReport['magic'] {
  if (!('start' in start)) return 'empty';
  const src = ByteSource.open(image);
  try {
    src.seek(start.start);
    const head = src.peek(8);
    if (head.length === 0) return 'empty';
    if (head.length >= 6 && Buffer.from(head.subarray(0, 5)).toString('latin1') === '07070') return 'cpio';
    const name = detectCompression(head)?.name;
    if (name === 'lz4') return head[0] === 0x02 ? 'lz4-legacy' : 'lz4-frame';
    return name ?? 'unknown';
  } finally {
    src.close();
  }
}

function quote(word: string): string {
  return /^[\w./=-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * One stage exactly as the script runs it, in `target`:
 *   $SKIP "$IMG" | DEC | cpio -id --no-absolute-filenames --quiet > /dev/null
 * Success is cpio's exit status alone (the script has no pipefail). The CPU time (and peak RSS)
 * is the whole pipeline's.
 */
async function nativeAttempt(image: string, target: string, stage: Attempt, skip: string, options: TrialOptions): Promise<AttemptReport> {
  const dec = STAGES[stage].command;
  const skipWords = skip.endsWith('.js') ? [process.execPath, skip] : [skip];
  const words = [...skipWords.map(quote), quote(resolve(image)), ...(dec.length ? ['|', ...dec.map(quote)] : []), '|', 'cpio -id --no-absolute-filenames --quiet > /dev/null'];
  const command = words.join(' ').replace(process.execPath, 'node');
  const base = { stage, command, junkEntries: 0, userMs: 0, sysMs: 0, consoleBytes: 0, consoleUtf8: true };
  if (dec.length > 0 && spawnSync('bash', ['-c', 'command -v "$1"', '_', dec[0]]).status !== 0) {
    return { ...base, ok: false, skipped: true, reason: `${dec[0]} is not installed (the script's command -v guard skips this stage)`, wallMs: 0 };
  }
  const before = countEntries(target);
  const scratch = mkdtempSync(join(tmpdir(), 'initramfs-restore-usage-'));
  const consoleChunks: Buffer[] = [];
  let status: number;
  let wallMs: number;
  let usage: ResourceUsage;
  try {
    const [program, ...args] = measuredCommand(['bash', '-c', words.join(' ')], scratch);
    const began = performance.now();
    // A group of its own, so that an interrupted run can stop the whole pipeline.
    const child = spawn(program, args, { cwd: target, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    const dropUndo = onInterrupt(() => process.kill(-child.pid!, 'SIGTERM'));
    const releaseConsole = drainConsole(child.stderr!, options.console ?? { kind: 'journal' }, (chunk) => {
      consoleChunks.push(chunk);
      if (options.consoleLog !== undefined) writeSync(options.consoleLog, chunk);
    });
    status = await new Promise<number>((done) => {
      child.on('error', () => done(127));
      child.on('close', (code) => done(code ?? 1));
    });
    wallMs = performance.now() - began;
    dropUndo();
    releaseConsole();
    usage = readUsage(scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const consoleOutput = Buffer.concat(consoleChunks);
  const utf8Error = strictUtf8(consoleOutput);
  const ok = status === 0;
  return {
    ...base,
    ok,
    ...(ok ? {} : { reason: `cpio exited with status ${status}` }),
    wallMs,
    ...usage,
    consoleBytes: consoleOutput.length,
    consoleUtf8: !utf8Error,
    ...(utf8Error ? { utf8Error } : {}),
    junkEntries: ok ? 0 : countEntries(target) - before,
  };
}

/**
 * One stage with our own decoders: it succeeds when the command it stands for would decode
 * what skipcpio gives (by magic) and the whole walk from there extracts cleanly, into a
 * staging directory beside the target that only success moves into place.
 */
async function builtinAttempt(
  image: string,
  target: string,
  stage: Attempt,
  start: { start: number } | { status: number; message?: string },
  magic: TrialReport['magic'],
  options: TrialOptions,
): Promise<AttemptReport> {
  const command = stage === 'plain' ? 'builtin: cpio' : `builtin: ${STAGES[stage].decodes.join('/')} decoder`;
  const began = performance.now();
  const cpuBefore = process.cpuUsage();
  const finish = (ok: boolean, reason?: string): AttemptReport => {
    const cpu = process.cpuUsage(cpuBefore);
    const consoleOutput = Buffer.from(reason ? `initramfs-restore: ${stage}: ${reason}\n` : '');
    if (options.consoleLog !== undefined && consoleOutput.length) writeSync(options.consoleLog, consoleOutput);
    return {
      stage, command, ok, ...(reason ? { reason } : {}),
      wallMs: performance.now() - began,
      userMs: cpu.user / 1000,
      sysMs: cpu.system / 1000,
      consoleBytes: consoleOutput.length,
      consoleUtf8: true,
      junkEntries: 0,
    };
  };
  if (!('start' in start)) return finish(false, `skipcpio failed${start.message ? `: ${start.message}` : ''}`);
  const accepted = stage === 'plain' ? magic === 'cpio' : (STAGES[stage].decodes as readonly string[]).includes(magic);
  if (!accepted) return finish(false, `not ${stage === 'plain' ? 'a cpio archive' : `${stage} data`} (the magic says ${magic})`);

  try {
    await extractStaged(image, start.start, target, options.maxOutput);
    return finish(true);
  } catch (err) {
    return finish(false, (err as Error).message);
  }
}

/**
 * Extracts the image from `start` into a staging directory inside `target` (so that moving the
 * result is a rename on one filesystem) and moves the result into `target` only when everything
 * extracted cleanly, so that a failure never leaves a half tree. Directory modes are applied
 * after the move: a read-only directory could not be moved out of otherwise. Throws on
 * failure, refused entries included.
 */
export async function extractStaged(image: string, start: number, target: string, maxOutput?: number): Promise<void> {
  mkdirSync(target, { recursive: true });
  const staging = mkdtempSync(join(resolve(target), STAGING_PREFIX));
  const dropUndo = onInterrupt(() => rmSync(staging, { recursive: true, force: true }));
  try {
    const extractor = new SafeExtractor(staging);
    await walkImage(image, extractor, { start, maxOutput });
    if (extractor.refusedCount > 0) {
      throw new Error(`${extractor.refusedCount} entries were refused, the first: "${extractor.refused[0].name}": ${extractor.refused[0].reason}`);
    }
    moveInto(Buffer.from(staging), Buffer.from(resolve(target)));
    extractor.finish(target);
  } finally {
    dropUndo();
    try {
      rmSync(staging, { recursive: true, force: true });
    } catch {
      // The original error matters more than a staging directory left behind.
    }
  }
}

const STAGING_PREFIX = '.initramfs-restore-staging-';

/**
 * Moves what `from` holds into `to`, merging directories; other entries of `to` are replaced,
 * but a directory only when empty, as the kernel and cpio replace one.
 */
function moveInto(from: Buffer, to: Buffer): void {
  for (const name of readdirSync(from, { encoding: 'buffer' })) {
    const src = Buffer.concat([from, SLASH, name]);
    const dest = Buffer.concat([to, SLASH, name]);
    if (dest.equals(from)) continue;
    const existing = lstatSync(dest, { throwIfNoEntry: false });
    const srcIsDir = lstatSync(src).isDirectory();
    if (existing?.isDirectory() && srcIsDir) {
      moveInto(src, dest);
      continue;
    }
    if (existing?.isDirectory()) rmdirSync(dest);
    else if (existing) rmSync(dest);
    renameSync(src, dest);
  }
}

const SLASH = Buffer.from('/');

/** Entries below `dir`; what cannot be read (cpio's junk may be mode 000) counts as itself. */
function countEntries(dir: string | Buffer): number {
  let n = 0;
  let names: Buffer[];
  try {
    names = readdirSync(dir, { encoding: 'buffer' });
  } catch {
    return 0;
  }
  for (const name of names) {
    n++;
    const path = Buffer.concat([Buffer.from(dir), SLASH, name]);
    if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) n += countEntries(path);
  }
  return n;
}
