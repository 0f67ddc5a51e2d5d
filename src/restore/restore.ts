import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { FormatError, isExpectedFailure } from '../errors.js';
import { extractStaged } from '../extract/staging.js';
import type { Attempt } from './orders.js';
import { skipcpioStart } from './skipcpio.js';
import { type Engine, type TrialReport, runTrial } from './trial.js';

export interface RestoreOptions {
  /** The system's root (default /): everything below is looked up under it. */
  root: string;
  kernelVersion?: string;
  /** Overrides the image discovery. */
  image?: string;
  order: readonly Attempt[] | 'detect';
  engine: Engine;
  /** What the compressed members may expand to (see walkImage). */
  maxOutput?: number;
  say: (line: string) => void;
}

export interface RestoreReport {
  status: 0 | 1;
  /** What happened, in a word: skipped (nothing to do), restored, failed. */
  outcome: 'skipped' | 'restored' | 'failed';
  reason: string;
  image?: string;
  /** Which rule chose the image. */
  imageChosenBy?: string;
  machineId?: string;
  kernelVersion: string;
  trial?: TrialReport;
}

/**
 * dracut-initramfs-restore, run under `root`: unpack the initramfs back into /run/initramfs
 * so that systemd can switch back to it at shutdown.
 */
export async function restore(options: RestoreOptions): Promise<RestoreReport> {
  const { root } = options;
  const runInitramfs = join(root, 'run/initramfs');
  const kernelVersion = options.kernelVersion ?? release();
  const done = (status: 0 | 1, outcome: RestoreReport['outcome'], reason: string, extra: Partial<RestoreReport> = {}): RestoreReport =>
    ({ status, outcome, reason, kernelVersion, ...extra });

  if (existsSync(join(runInitramfs, 'bin/sh'))) return done(0, 'skipped', '/run/initramfs/bin/sh exists: already unpacked');
  if (!existsSync(join(runInitramfs, '.need_shutdown'))) return done(0, 'skipped', '/run/initramfs/.need_shutdown does not exist: nothing asked for it');

  const machineId = findMachineId(root);
  const found = options.image ? { image: options.image, rule: '--image' } : findImage(root, machineId, kernelVersion);
  if (!found) return done(1, 'failed', 'No initramfs image found to restore!', { machineId });
  options.say(`restoring ${found.image} (chosen by ${found.rule}) into ${runInitramfs}`);
  const where = { image: found.image, imageChosenBy: found.rule, machineId };

  const failed = (reason: string, trial?: TrialReport): RestoreReport => {
    options.say(`Unpacking of ${found.image} to /run/initramfs failed`);
    rmSync(join(runInitramfs, 'shutdown'), { force: true });
    return done(1, 'failed', reason, { ...where, trial });
  };

  let trial: TrialReport | undefined;
  if (options.order === 'detect') {
    // The main archives, as the script restores them; when skipcpio leaves nothing or fails
    // (a lone uncompressed archive, dracut-ng issue #2255; an image under 120 bytes), the
    // whole image, read as the kernel reads it, instead of the script's failure.
    const skipped = skipcpioStart(found.image);
    const start = 'start' in skipped && skipped.start < statSync(found.image).size ? skipped.start : 0;
    try {
      await extractStaged(found.image, runInitramfs, { start, maxOutput: options.maxOutput });
    } catch (err) {
      if (!isExpectedFailure(err)) throw err;
      return failed(err instanceof FormatError ? `${err.message} ${err.location}` : err.message);
    }
  } else {
    // A stage's failure is an outcome of the trial, not an error: what escapes here is one.
    trial = await runTrial(found.image, runInitramfs, options.order, options.engine, { maxOutput: options.maxOutput });
    if (!trial.winner) return failed('no stage of the trial chain succeeded', trial);
  }
  rmSync(join(runInitramfs, '.need_shutdown'), { force: true });

  if (isDir(join(runInitramfs, 'squash'))) {
    const squash = spawnSync('unsquashfs', ['-no-xattrs', '-f', '-d', '.', 'squash-root.img'], {
      cwd: runInitramfs,
      encoding: 'utf8',
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (squash.error || squash.status !== 0) {
      const code = (squash.error as NodeJS.ErrnoException | undefined)?.code;
      const why = code === 'ENOENT' ? 'unsquashfs is not installed (Debian: squashfs-tools)' : squash.error?.message ?? squash.stderr.trim();
      options.say(`Squash module is enabled for this initramfs but failed to unpack squash-root.img: ${why}`);
      rmSync(join(runInitramfs, 'shutdown'), { force: true });
      return done(1, 'failed', `unsquashfs failed: ${why}`, { ...where, trial });
    }
  }
  return done(0, 'restored', `${found.image} restored into ${runInitramfs}${trial ? ` by the ${trial.winner} stage` : ''}`, { ...where, trial });
}

/** /etc/machine-id's first line, or "Default" where dracut uses it. */
export function findMachineId(root: string): string {
  if (['efi', 'boot', 'boot/efi'].some((base) => isDir(join(root, base, 'Default')))) return 'Default';
  try {
    const id = readFileSync(join(root, 'etc/machine-id'), 'utf8').split('\n')[0].trim();
    return id === '' || id === 'uninitialized' ? 'Default' : id;
  } catch {
    return 'Default';
  }
}

/**
 * The newest dracut's discovery, with existence checks so that a missing path is never
 * picked (dracut issue #1840): the boot loader spec paths, then the module directory, then
 * Fedora's and Debian's names in /boot.
 */
export function findImage(root: string, machineId: string, kv: string): { image: string; rule: string } | undefined {
  const candidates = [
    ...['efi', 'boot', 'boot/efi'].map((base) => `${base}/${machineId}/${kv}/initrd`),
    `lib/modules/${kv}/initrd`,
    `boot/initramfs-${kv}.img`,
    `boot/initrd.img-${kv}`,
  ];
  for (const rel of candidates) {
    const image = join(root, rel);
    if (isFile(image)) return { image, rule: `/${rel}` };
  }
  return undefined;
}

function isDir(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}
