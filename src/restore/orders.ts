import type { CompressionName } from '../decode/formats.js';
import { UsageError } from '../errors.js';
import type { Flavor } from './discovery.js';

/** What the magic says, with lz4's two formats apart: `zstd -d` reads lz4 frames, not legacy. */
export type MagicName = Exclude<CompressionName, 'lz4'> | 'lz4-legacy' | 'lz4-frame';

/**
 * One stage of dracut-initramfs-restore: a pipeline of the trial chain (059 and 106), or one of
 * the extractors by magic that dracut 112 runs instead, on the whole image.
 */
export type Attempt = 'plain' | 'gzip' | 'bzip2' | 'xz' | 'lzma' | 'lz4' | 'lzop' | 'zstd' | '3cpio' | 'extractinitrd';

export const ATTEMPTS: readonly Attempt[] = ['plain', 'gzip', 'bzip2', 'xz', 'lzma', 'lz4', 'lzop', 'zstd', '3cpio', 'extractinitrd'];

/**
 * What each stage runs in the script, and what that command really reads on Debian (checked
 * against the installed tools by test/native-stages.test.ts): the winner of a native trial does
 * not name the format (Debian's `zstd -d` also reads gzip, xz, lzma and lz4 frames; `xzcat`
 * reads lzma), only the magic does. The builtin engine has no use for `reads`: each of its
 * stages runs our reader of the stage's own format.
 */
export const STAGES: Record<Attempt, { command: readonly string[]; reads: readonly MagicName[]; wholeImage?: true }> = {
  plain: { command: [], reads: [] },
  gzip: { command: ['zcat'], reads: ['gzip'] },
  bzip2: { command: ['bzcat'], reads: ['bzip2'] },
  xz: { command: ['xzcat'], reads: ['xz', 'lzma'] },
  lzma: { command: ['xzcat', '--format=lzma'], reads: ['lzma'] },
  lz4: { command: ['lz4', '-d', '-c'], reads: ['lz4-legacy', 'lz4-frame'] },
  lzop: { command: ['lzop', '-d', '-c'], reads: ['lzop'] },
  zstd: { command: ['zstd', '-d', '-c'], reads: ['zstd', 'gzip', 'xz', 'lzma', 'lz4-frame'] },
  // dracut 112: no skipcpio, every archive of the image by its magic, in the target.
  '3cpio': { command: ['3cpio', '--extract'], reads: [], wholeImage: true },
  extractinitrd: { command: ['$dracutbasedir/extractinitrd'], reads: [], wholeImage: true },
};

/** The one stage that decodes what the magic says: the pipeline a script would run if it knew. */
export function rightStage(magic: MagicName | 'cpio'): Exclude<Attempt, '3cpio' | 'extractinitrd'> {
  if (magic === 'cpio') return 'plain';
  if (magic === 'lz4-legacy' || magic === 'lz4-frame') return 'lz4';
  return magic;
}

/** The orders dracut's releases (and initramfs-tools) tried, from the facts page, section 2. */
export const PRESETS: Record<string, readonly Attempt[]> = {
  'dracut-055': ['gzip', 'xz', 'lz4', 'zstd'],
  'dracut-056': ['plain', 'gzip', 'bzip2', 'xz', 'lz4', 'lzop', 'zstd'],
  'dracut-057': ['gzip', 'bzip2', 'xz', 'lz4', 'lzop', 'zstd', 'plain'],
  'zstd-first': ['zstd', 'gzip', 'bzip2', 'xz', 'lz4', 'lzop', 'plain'],
  'initramfs-tools': ['gzip', 'zstd', 'xz', 'lz4', 'bzip2', 'lzop'],
};

/** Where dracut 112 finds extractinitrd: `$dracutbasedir`, from the environment, as the script reads it. */
export function extractinitrdPath(): string {
  return `${process.env.dracutbasedir || '/usr/lib/dracut'}/extractinitrd`;
}

/** dracut 112 runs 3cpio when it is on PATH and extractinitrd otherwise, with no fallback between them. */
export function dracut112Stage(): Attempt {
  return process.getBuiltinModule('node:child_process').spawnSync('bash', ['-c', 'command -v 3cpio']).status === 0 ? '3cpio' : 'extractinitrd';
}

export const PRESET_NAMES = [...Object.keys(PRESETS), 'dracut-112'];

/**
 * How each Debian dracut's script unpacks: 059 and 106 run 057's chain (from 058 on with each
 * stage's stderr thrown away), 112 one extractor by magic.
 */
export function flavorOrder(flavor: Flavor): readonly Attempt[] {
  return flavor === 'dracut-112' ? [dracut112Stage()] : PRESETS['dracut-057'];
}

/**
 * --order: `detect` (no trial: the magic decides), a preset, or a comma list of stages; anything
 * else is a usage error naming `option`.
 */
export function parseOrder(text: string, option = '--order'): readonly Attempt[] | 'detect' {
  const order = orderOf(text, ',');
  if (order === undefined) {
    throw new UsageError(`${option}: "${text}" is not detect, a preset (${PRESET_NAMES.join(', ')}) or a comma list of ${ATTEMPTS.join(' ')}`);
  }
  return order;
}

/** One order of several: a preset's name, or the stages joined by `+`. */
export interface NamedOrder {
  name: string;
  stages: readonly Attempt[];
}

/**
 * --orders: a comma list of orders, each a preset or stages joined by '+' (zstd+gzip+plain);
 * `detect` is no trial, so not one of them.
 */
export function parseOrders(text: string, option = '--orders'): NamedOrder[] {
  return text.split(',').map((item) => {
    const name = item.trim();
    const stages = orderOf(name, '+');
    if (stages === undefined || stages === 'detect') {
      throw new UsageError(`${option}: "${name}" is not a preset (${PRESET_NAMES.join(', ')}) or stages joined by '+' (${ATTEMPTS.join(' ')})`);
    }
    return { name, stages };
  });
}

function orderOf(text: string, separator: string): readonly Attempt[] | 'detect' | undefined {
  if (text === 'detect') return 'detect';
  if (text === 'dracut-112') return [dracut112Stage()];
  if (Object.hasOwn(PRESETS, text)) return PRESETS[text];
  const stages = text.split(separator).map((s) => s.trim());
  return stages.every((s) => (ATTEMPTS as readonly string[]).includes(s)) ? (stages as Attempt[]) : undefined;
}
