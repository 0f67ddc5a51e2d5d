import { FormatError, isExpectedFailure } from '../errors.js';
import { type Difference, type DifferenceSummary, diffTrees, summarizeDifferences } from '../diff/compare.js';
import { describeDirectoryTree, describeImageTree } from '../diff/views.js';
import { freeSpace } from '../extract/free-space.js';
import { blocksNeeded, measureImage } from '../extract/space.js';
import { extractStaged } from '../extract/staging.js';
import { formatBytes } from '../output.js';
import { type Flavor, findImage, findUki, machineId } from './discovery.js';
import type { Attempt } from './orders.js';
import { skipcpioStart } from './skipcpio.js';
import { type Engine, type TrialReport, runTrial } from './trial.js';
const { existsSync, readFileSync, rmSync, statSync } = process.getBuiltinModule('node:fs');
const { release } = process.getBuiltinModule('node:os');
const { join } = process.getBuiltinModule('node:path');

export interface RestoreOptions {
  /** The system's root (default /): everything below is looked up under it. */
  root: string;
  /** Which Debian dracut's script to follow: its image discovery and what follows the unpack. */
  flavor: Flavor;
  kernelVersion?: string;
  /** Overrides the image discovery. */
  image?: string;
  /**
   * detect: our reader by magic, on what the flavor's own unpack reads (112: every archive;
   * 059, 106: what skipcpio leaves). Otherwise a trial order, run as the trial chain.
   */
  order: readonly Attempt[] | 'detect';
  engine: Engine;
  /** What the compressed members may expand to (see walkImage). */
  maxOutput?: number;
  /** Decode with our decoders only (see walkImage). */
  inProcess?: boolean;
  say: (line: string) => void;
  /** Write nothing: measure what the restore needs against what the target's filesystem has free. */
  dryRun?: boolean;
  /**
   * Then compare /run/initramfs with the image, as diff does: after restoring, or, when an
   * earlier restore left bin/sh there, instead of restoring.
   */
  verify?: boolean;
}

export interface RestoreReport {
  status: 0 | 1;
  /** What happened, in a word: skipped (nothing to do), restored, failed, measured (--dry-run). */
  outcome: 'skipped' | 'restored' | 'failed' | 'measured';
  reason: string;
  flavor: Flavor;
  image?: string;
  /** Which rule chose the image. */
  imageChosenBy?: string;
  machineId?: string;
  kernelVersion: string;
  trial?: TrialReport;
  space?: SpaceReport;
  verification?: Verification;
}

/** What a restore needs and what it has (--dry-run): it fits when `needed` is at most `free`. */
export interface SpaceReport {
  /** The apparent size of the files the restore writes, each hard-link group once: what `du` totals. */
  dataBytes: number;
  files: number;
  /** What they take in the filesystem's blocks (a tmpfs's are pages): each file whole blocks. */
  needed: number;
  blockSize: number;
  /** What statfs says is free for us, and where it was asked. */
  free: number;
  filesystemOf: string;
  fits: boolean;
}

/** /run/initramfs compared with the image (--verify): image as A, the tree as B. */
export interface Verification {
  equal: boolean;
  summary: DifferenceSummary;
  differences: Difference[];
}

/**
 * dracut-initramfs-restore, as the flavor's script runs it under `root`: unpack the initramfs
 * back into /run/initramfs so that systemd can switch back to it at shutdown.
 */
export async function restore(options: RestoreOptions): Promise<RestoreReport> {
  const { root, flavor } = options;
  const runInitramfs = join(root, 'run/initramfs');
  const kernelVersion = options.kernelVersion ?? release();
  const done = (status: 0 | 1, outcome: RestoreReport['outcome'], reason: string, extra: Partial<RestoreReport> = {}): RestoreReport =>
    ({ status, outcome, reason, flavor, kernelVersion, ...extra });

  const unpacked = existsSync(join(runInitramfs, 'bin/sh'));
  const alreadyUnpacked = '/run/initramfs/bin/sh exists: already unpacked';
  if (unpacked && !options.verify) return done(0, 'skipped', alreadyUnpacked);
  if (!unpacked && !existsSync(join(runInitramfs, '.need_shutdown'))) return done(0, 'skipped', '/run/initramfs/.need_shutdown does not exist: nothing asked for it');

  const id = machineId(root, flavor);
  if ('fails' in id) return done(1, 'failed', id.fails);
  const found = options.image ? { image: options.image, rule: '--image' } : findImage(root, flavor, kernelVersion, id.id) ?? findUki(root, kernelVersion, id.id);
  if (!found) return done(1, 'failed', 'No initramfs image found to restore!', { machineId: id.id });
  const where = { image: found.image, imageChosenBy: found.rule, machineId: id.id };
  /** Verifies the tree if asked: status 1 when it differs, or when the image cannot be read. */
  const finish = async (outcome: 'skipped' | 'restored', reason: string, trial?: TrialReport): Promise<RestoreReport> => {
    if (!options.verify) return done(0, outcome, reason, { ...where, trial });
    try {
      const verification = await verifyTree(found.image, detectStart(found.image, flavor), runInitramfs, options.maxOutput);
      return done(verification.equal ? 0 : 1, outcome, reason, { ...where, trial, verification });
    } catch (err) {
      if (!isExpectedFailure(err)) throw err;
      return done(1, 'failed', `cannot verify against ${found.image}: ${describeFailure(err)}`, where);
    }
  };
  if (unpacked) return finish('skipped', alreadyUnpacked);
  if (options.dryRun) return measure(found.image, detectStart(found.image, flavor), runInitramfs, options.maxOutput, (status, reason, space) => done(status, 'measured', reason, { ...where, space }));
  options.say(`restoring ${found.image} (chosen by ${found.rule}${'uki' in found ? '' : `, as ${flavor} does`}) into ${runInitramfs}`);

  const failed = (reason: string, trial?: TrialReport): RestoreReport => {
    options.say(`Unpacking of ${found.image} to /run/initramfs failed`);
    rmSync(join(runInitramfs, 'shutdown'), { force: true });
    return done(1, 'failed', reason, { ...where, trial });
  };

  let trial: TrialReport | undefined;
  if (options.order === 'detect') {
    try {
      await extractStaged(found.image, runInitramfs, { start: detectStart(found.image, flavor), maxOutput: options.maxOutput, inProcess: options.inProcess });
    } catch (err) {
      if (!isExpectedFailure(err)) throw err;
      return failed(describeFailure(err));
    }
  } else {
    // A stage's failure is an outcome of the trial, not an error: what escapes here is one.
    trial = await runTrial(found.image, runInitramfs, options.order, options.engine, { maxOutput: options.maxOutput, inProcess: options.inProcess });
    if (!trial.winner) return failed('no stage of the trial chain succeeded', trial);
  }
  rmSync(join(runInitramfs, '.need_shutdown'), { force: true });

  const expanded = expandRootImage(runInitramfs, flavor);
  if (expanded) {
    options.say(`Squash module is enabled for this initramfs but failed to unpack ${expanded.image}`);
    rmSync(join(runInitramfs, 'shutdown'), { force: true });
    return done(1, 'failed', `${expanded.tool} failed: ${expanded.why}`, { ...where, trial });
  }
  const relabel = selinuxRelabel(root, flavor);
  if (relabel) return done(1, 'failed', relabel, { ...where, trial });
  return finish('restored', `${found.image} restored into ${runInitramfs}${trial ? ` by the ${trial.winner} stage` : ''}`, trial);
}

function describeFailure(err: Error): string {
  return err instanceof FormatError ? `${err.message} ${err.location}` : err.message;
}

/**
 * --dry-run: the space the tree takes (what du measures, from where the flavor's restore
 * starts) against what the filesystem of /run/initramfs has free. The staged tree is made
 * inside the target, so it needs no more than that.
 */
async function measure(
  image: string,
  start: number,
  target: string,
  maxOutput: number | undefined,
  report: (status: 0 | 1, reason: string, space?: SpaceReport) => RestoreReport,
): Promise<RestoreReport> {
  let measured;
  try {
    measured = await measureImage(image, { start, maxOutput });
  } catch (err) {
    if (!isExpectedFailure(err)) throw err;
    return report(1, `cannot measure ${image}: ${describeFailure(err)}`);
  }
  const free = freeSpace(target);
  if (!free) return report(1, `cannot tell what the filesystem of ${target} has free: statfs fails there and on every directory above`);
  const { bytes: dataBytes, files } = measured.total;
  const needed = blocksNeeded(measured.fileSizes, free.blockSize);
  const fits = needed <= free.bytes;
  const space: SpaceReport = { dataBytes, files, needed, blockSize: free.blockSize, free: free.bytes, filesystemOf: free.path, fits };
  return report(fits ? 0 : 1, `restoring ${image} into ${target} needs ${formatBytes(needed)} (${dataBytes} bytes of data in ${files} files, ${needed} in ${free.blockSize}-byte blocks); the filesystem of ${free.path} has ${formatBytes(free.bytes)} (${free.bytes} bytes) free: ${fits ? 'it fits' : 'it does not fit'}`, space);
}

/** The tree in `dir` against the image's from `start`, as diff compares them. */
async function verifyTree(image: string, start: number, dir: string, maxOutput: number | undefined): Promise<Verification> {
  const { tree } = await describeImageTree(image, { start, maxOutput });
  let restored;
  let differences;
  try {
    restored = describeDirectoryTree(dir);
    differences = diffTrees(tree, restored);
  } finally {
    restored?.close();
    tree.close();
  }
  return { equal: differences.length === 0, summary: summarizeDifferences(differences), differences };
}

/**
 * Where detect starts: 112's extractors read every archive; 059's and 106's chain reads what
 * skipcpio leaves, and when that is nothing (a lone uncompressed archive, dracut-ng issue #2255)
 * or skipcpio fails (an image under 120 bytes), the whole image instead of the script's failure.
 */
function detectStart(image: string, flavor: Flavor): number {
  if (flavor === 'dracut-112') return 0;
  const skipped = skipcpioStart(image);
  return 'start' in skipped && skipped.start < skipped.imageSize ? skipped.start : 0;
}

/**
 * The root filesystem image some initramfs carry, expanded in place: 059 looks for a squash
 * directory and squash-root.img; 106 and 112 for squashfs-root.img, else erofs-root.img.
 * Returns what failed, if anything did.
 */
function expandRootImage(dir: string, flavor: Flavor): { image: string; tool: string; why: string } | undefined {
  let image: string;
  let argv: string[];
  if (flavor === 'dracut-059') {
    if (!isDir(join(dir, 'squash'))) return undefined;
    [image, argv] = ['squash-root.img', ['unsquashfs', '-no-xattrs', '-f', '-d', '.', 'squash-root.img']];
  } else if (isFile(join(dir, 'squashfs-root.img'))) {
    [image, argv] = ['squash-root.img', ['unsquashfs', '-no-xattrs', '-f', '-d', '.', 'squashfs-root.img']];
  } else if (isFile(join(dir, 'erofs-root.img'))) {
    [image, argv] = ['erofs-root.img', ['fsck.erofs', '--extract=.', '--overwrite', 'erofs-root.img']];
  } else {
    return undefined;
  }
  const run = process.getBuiltinModule('node:child_process').spawnSync(argv[0], argv.slice(1), { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (!run.error && run.status === 0) return undefined;
  const code = (run.error as NodeJS.ErrnoException | undefined)?.code;
  const why = code === 'ENOENT' ? `${argv[0]} is not installed (Debian: ${argv[0] === 'unsquashfs' ? 'squashfs-tools' : 'erofs-utils'})` : run.error?.message ?? run.stderr.trim();
  return { image, tool: argv[0], why };
}

/**
 * The SELinux relabel: with /etc/selinux/config and setfiles there (and, from 106 on, SELinux
 * among the kernel's security modules and not disabled), setfiles relabels the restored tree.
 * Returns why it failed, if it did.
 */
function selinuxRelabel(root: string, flavor: Flavor): string | undefined {
  const setfiles = join(root, 'usr/sbin/setfiles');
  const configPath = join(root, 'etc/selinux/config');
  if (!isFile(configPath) || !isFile(setfiles) || (statSync(setfiles).mode & 0o111) === 0) return undefined;
  const config = readFileSync(configPath, 'utf8');
  const value = (key: string): string => new RegExp(`^\\s*${key}=["']?([^"'\\s#]*)`, 'm').exec(config)?.[1] ?? '';
  if (flavor !== 'dracut-059') {
    const lsmPath = join(root, 'sys/kernel/security/lsm');
    const lsm = isFile(lsmPath) ? readFileSync(lsmPath, 'utf8') : '';
    if (!/(^|[^\w])selinux([^\w]|$)/.test(lsm) || value('SELINUX') === 'disabled') return undefined;
  }
  const type = value('SELINUXTYPE');
  if (!type) return undefined;
  const tree = join(root, 'run/initramfs');
  const run = process.getBuiltinModule('node:child_process').spawnSync(setfiles, ['-v', '-r', tree, join(root, 'etc/selinux', type, 'contexts/files/file_contexts'), tree], {
    encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (!run.error && run.status === 0) return undefined;
  return `setfiles failed: ${run.error?.message ?? `exit status ${run.status}: ${run.stderr.trim()}`}`;
}

function isDir(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}
