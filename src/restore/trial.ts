import { type CompressionName, detectCompression } from '../decode/formats.js';
import { ByteSource } from '../decode/source.js';
import { FormatError, RefusedEntriesError, UsageError, isExpectedFailure } from '../errors.js';
import { type StagedOptions, extractStaged } from '../extract/staging.js';
import { makeDirectories } from '../extract/walk-tree.js';
import type { Notice } from '../extract/writer.js';
import { onInterrupt } from '../interrupt.js';
import { type Attempt, type MagicName, STAGES, extractinitrdPath, rightStage } from './orders.js';
import { skipcpioStart } from './skipcpio.js';
const { existsSync, statSync } = process.getBuiltinModule('node:fs');
const { resolve } = process.getBuiltinModule('node:path');
const { fileURLToPath } = process.getBuiltinModule('node:url');

/**
 * native: the script's own pipelines ($SKIP IMG | DEC | cpio -id), all into the target.
 * builtin: our reader for each stage's format (see walkImage for co-process decoders), into staging.
 */
export type Engine = 'builtin' | 'native';

export const ENGINES: readonly Engine[] = ['builtin', 'native'];

/** --engine: one of ENGINES; anything else is a usage error naming `option`. */
export function parseEngine(text: string, option = '--engine'): Engine {
  if (!(ENGINES as readonly string[]).includes(text)) throw new UsageError(`${option}: "${text}" is not ${ENGINES.join(' or ')}`);
  return text as Engine;
}

/** --engines: a comma list of engines, each kept once. */
export function parseEngines(text: string, option = '--engines'): Engine[] {
  return [...new Set(text.split(',').map((item) => parseEngine(item.trim(), option)))];
}

/** What one stage of the chain did. */
export interface StageOutcome {
  stage: Attempt;
  /** The pipeline as the script runs it, or which of our readers ran. */
  command: string;
  ok: boolean;
  /** Why it failed: cpio's exit status (native), or our decoder's or parser's own error (builtin). */
  reason?: string;
  /** Where our decoder or parser failed: the byte offset, absolute in the image unless `where` says otherwise. */
  offset?: number;
  where?: string;
  /** Not run: the script's `command -v` guard skips a decompressor that is not installed. */
  skipped?: true;
}

export interface TrialReport<A extends StageOutcome = StageOutcome> {
  engine: Engine;
  order: readonly Attempt[];
  /** The skipcpio the pipelines start with. */
  skipcpio: string;
  attempts: A[];
  /** The stage that succeeded: with the native engine it does not name the format (zstd -d also reads gzip). */
  winner?: Attempt;
  /** The format of what skipcpio gives, by its magic. */
  magic: MagicName | 'cpio' | 'unknown' | 'empty';
  /** When a native stage restored another format than its own: which tool read what. */
  note?: string;
}

/**
 * How a harness looks at the chain without the chain knowing it is measured: the restore at
 * shutdown passes none of these.
 */
export interface TrialHooks {
  /** Runs one native pipeline (`bash -c SCRIPT`) in `cwd` and resolves to its exit status. */
  runPipeline?: (argv: readonly string[], cwd: string) => Promise<number>;
  /** Runs around each attempt. */
  aroundAttempt?: (stage: Attempt, attempt: () => Promise<StageOutcome>) => Promise<StageOutcome>;
}

export interface TrialOptions extends TrialHooks {
  /** Limit for the builtin engine's decoders (see walkImage). */
  maxOutput?: number;
  /** The builtin engine decodes with our decoders only (see walkImage). */
  inProcess?: boolean;
}

/** Where Debian's dracut-core puts skipcpio. */
export const DRACUT_SKIPCPIO = '/usr/lib/dracut/skipcpio';
const OUR_SKIPCPIO = fileURLToPath(new URL('../../bin/skipcpio.js', import.meta.url));

/**
 * dracut-initramfs-restore's trial chain: skipcpio, then each stage of `order` in turn until one
 * succeeds. The native engine runs the script's own pipelines, all into `target` as the script
 * does, junk included, their console output on our stderr unless a hook takes it. The builtin
 * engine runs, for each stage, our reader of that stage's format on what skipcpio gives, into a
 * staging directory that only a success moves into place.
 */
export async function runTrial(image: string, target: string, order: readonly Attempt[], engine: Engine, options: TrialOptions = {}): Promise<TrialReport> {
  const kind = imageKind(image);
  if (kind === 'stream') throw new UsageError('a trial reads the image once per stage, and standard input is a pipe: give the file, or redirect it (- < FILE)');
  if (engine === 'native' && kind === 'uki') {
    throw new UsageError(`${image} is a unified kernel image: the native engine runs dracut's pipelines on the file, where they find no initrd; the builtin engine reads its sections`);
  }
  if (engine === 'native') await refuseWhatCpioWouldWriteOutside(image, options.maxOutput);
  makeDirectories(target);
  const start = skipcpioStart(image);
  const report: TrialReport = {
    engine,
    order,
    skipcpio: engine === 'native' ? nativeSkipcpio() : 'ours, in process',
    attempts: [],
    magic: magicAfter(image, start),
  };
  const around = options.aroundAttempt ?? ((_stage, attempt) => attempt());
  for (const stage of order) {
    const attempt = await around(stage, () => engine === 'native'
      ? nativeAttempt(image, target, stage, report.skipcpio, options.runPipeline ?? runOnConsole)
      : builtinAttempt(image, target, stage, start, { maxOutput: options.maxOutput, inProcess: options.inProcess }));
    report.attempts.push(attempt);
    if (attempt.ok) {
      report.winner = stage;
      break;
    }
  }
  if (engine === 'native' && report.winner && !STAGES[report.winner].wholeImage && report.magic !== 'cpio' && report.magic !== 'empty' &&
    report.magic !== 'unknown' && report.winner !== rightStage(report.magic)) {
    report.note = `the ${report.winner} stage read a ${report.magic} member: Debian's ${STAGES[report.winner].command[0]} reads ${STAGES[report.winner].reads.join(', ')}`;
  }
  return report;
}

/** Images read whole by our writer's rules in this process, unchanged since: bench runs a trial of each many times. */
const vouchedFor = new Set<string>();

/**
 * GNU cpio, which the native engine's pipelines run, writes through a symlink the archive made,
 * outside the target: the native engine runs only on an image that our reader reads whole and
 * whose every entry our writer takes (as `validate` asks of its detect tree), found by a walk
 * on a model of the tree, the file data skipped. Nothing times the walk: a format's command
 * decodes where it saves our memory (zstd's window was 6 MB of `bench`'s peak RSS).
 */
async function refuseWhatCpioWouldWriteOutside(image: string, maxOutput: number | undefined): Promise<void> {
  const key = imageKey(image);
  if (key !== undefined && vouchedFor.has(key)) return;
  const [{ ModelTree, NONE }, { TreeWriter }, { walkImage }] = await Promise.all([import('../extract/model.js'), import('../extract/writer.js'), import('../image/walk.js')]);
  const writer = new TreeWriter(new ModelTree(() => NONE), { devices: true });
  await walkImage(image, writer, { skipData: true, maxOutput, saveMemory: true });
  vouchFor(key, writer);
}

/**
 * The native engine's check on the image of `key` (imageKey, taken before the walk: a file
 * replaced meanwhile is not vouched for), from a walk of all of it, from its first byte, already
 * made by a writer with device nodes (a TreeWriter with `devices`, such as describeImageTree's):
 * it throws where the writer refused an entry, and spares the trials after another walk where
 * it refused none.
 */
export function vouchFor(key: string | undefined, writer: { refused: readonly Notice[]; refusedCount: number }): void {
  if (writer.refusedCount > 0) {
    const [first] = writer.refused;
    throw new RefusedEntriesError([{ name: first.name, reason: `${first.reason}; the native engine's pipelines run only on an image whose every entry unpack takes (their GNU cpio writes through a symlink the archive made)` }], writer.refusedCount);
  }
  if (key !== undefined) vouchedFor.add(key);
}

/** The image by its path, size and mtime; standard input redirected from a file has no name to know it by again. */
export function imageKey(image: string): string | undefined {
  if (image === '-') return undefined;
  const stats = statSync(image);
  return `${resolve(image)}\0${stats.size}\0${stats.mtimeMs}`;
}

function nativeSkipcpio(): string {
  return existsSync(DRACUT_SKIPCPIO) ? DRACUT_SKIPCPIO : OUR_SKIPCPIO;
}

/** What `image` opens as; what does not open (undefined) fails later, where it always has. */
function imageKind(image: string): 'uki' | 'stream' | 'file' | undefined {
  try {
    const src = ByteSource.open(image);
    src.close();
    return src.sections ? 'uki' : src.seekable ? 'file' : 'stream';
  } catch {
    return undefined;
  }
}

/** The format of what skipcpio gives for `image`, by its magic. */
export function mainArchiveMagic(image: string): TrialReport['magic'] {
  return magicAfter(image, skipcpioStart(image));
}

const MAGIC_BYTES = 8;

function magicAfter(image: string, start: ReturnType<typeof skipcpioStart>): TrialReport['magic'] {
  if (!('start' in start)) return 'empty';
  // A window of the magic's bytes: the default's MiB, allocated by each trial, stayed until V8 collected.
  const src = ByteSource.open(image, MAGIC_BYTES);
  try {
    src.seek(start.start);
    const head = src.peek(MAGIC_BYTES);
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
 * One stage exactly as the script runs it, in `target`. A stage of the trial chain (059, 106):
 *   $SKIP "$IMG" | DEC | cpio -id --no-absolute-filenames --quiet > /dev/null
 * whose success is cpio's exit status alone (the script has no pipefail); dracut 112's:
 *   3cpio --extract "$IMG"     or     "$dracutbasedir/extractinitrd" "$IMG"
 */
async function nativeAttempt(
  image: string,
  target: string,
  stage: Attempt,
  skip: string,
  runPipeline: NonNullable<TrialHooks['runPipeline']>,
): Promise<StageOutcome> {
  const { wholeImage } = STAGES[stage];
  const dec = stage === 'extractinitrd' ? [extractinitrdPath()] : STAGES[stage].command;
  const skipWords = skip.endsWith('.js') ? [process.execPath, skip] : [skip];
  const words = wholeImage
    ? [...dec.map(quote), quote(resolve(image))]
    : [...skipWords.map(quote), quote(resolve(image)), ...(dec.length ? ['|', ...dec.map(quote)] : []), '|', 'cpio -id --no-absolute-filenames --quiet > /dev/null'];
  const command = words.join(' ').replace(process.execPath, 'node');
  if (dec.length > 0 && process.getBuiltinModule('node:child_process').spawnSync('bash', ['-c', 'command -v "$1"', '_', dec[0]]).status !== 0) {
    return { stage, command, ok: false, skipped: true, reason: `${dec[0]} is not installed (the script's command -v guard skips this stage)` };
  }
  const status = await runPipeline(['bash', '-c', words.join(' ')], target);
  const who = wholeImage ? dec[0].replace(/.*\//, '') : 'cpio';
  return { stage, command, ok: status === 0, ...(status === 0 ? {} : { reason: `${who} exited with status ${status}` }) };
}

/** As at shutdown: the pipeline's console output is ours. */
async function runOnConsole(argv: readonly string[], cwd: string): Promise<number> {
  // A group of its own, so that an interrupted run can stop the whole pipeline.
  const child = process.getBuiltinModule('node:child_process').spawn(argv[0], argv.slice(1), { cwd, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  const dropUndo = onInterrupt(() => process.kill(-child.pid!, 'SIGTERM'));
  try {
    return await new Promise<number>((done) => {
      child.on('error', () => done(127));
      child.on('close', (code) => done(code ?? 1));
    });
  } finally {
    dropUndo();
  }
}

/**
 * One stage with our reader of its format (plain: our cpio reader) on what skipcpio gives, where
 * the script runs `DEC | cpio -id`: it fails with that reader's own error when the bytes are
 * not its format or are broken, and succeeds when the whole walk from there extracts cleanly,
 * into staging that only success moves into place. dracut 112's stages read the whole image
 * by magic, as 3cpio and extractinitrd do.
 */
async function builtinAttempt(
  image: string,
  target: string,
  stage: Attempt,
  start: ReturnType<typeof skipcpioStart>,
  decoding: Pick<StagedOptions, 'maxOutput' | 'inProcess'>,
): Promise<StageOutcome> {
  if (STAGES[stage].wholeImage) return staged(stage, 'our reader by magic, on the whole image', image, target, { start: 0, ...decoding });
  const command = stage === 'plain' ? 'our cpio reader' : `our ${stage} decoder`;
  if (!('start' in start)) return { stage, command, ok: false, reason: `skipcpio failed${start.message ? `: ${start.message}` : ''}` };
  return staged(stage, command, image, target, { start: start.start, first: stage === 'plain' ? 'cpio' : (stage as CompressionName), ...decoding });
}

async function staged(stage: Attempt, command: string, image: string, target: string, options: StagedOptions): Promise<StageOutcome> {
  try {
    const { archives } = await extractStaged(image, target, options);
    // Where a format's CLI decoded a member, the row says so: it is not our decoder's time.
    const coprocesses = [...new Set(archives.flatMap((a) => (a.decodedBy && a.decodedBy !== 'ours' ? [a.decodedBy] : [])))];
    return { stage, command: coprocesses.length ? `${command}, decoding through \`${coprocesses.join('`, `')}\`` : command, ok: true };
  } catch (err) {
    if (!isExpectedFailure(err)) throw err;
    if (err instanceof FormatError) {
      return { stage, command, ok: false, reason: `${err.message} ${err.location}`, offset: err.offset, ...(err.where ? { where: err.where } : {}) };
    }
    return { stage, command, ok: false, reason: err.message };
  }
}
