import { escapeName } from '../cpio/names.js';
import { type WalkOptions, type WalkResult, walkImage } from '../image/walk.js';
import { MoveConflictError, RefusedEntriesError } from '../errors.js';
import { onInterrupt } from '../interrupt.js';
import { makeDirectories, walkTree } from './walk-tree.js';
import { SafeExtractor } from './writer.js';
const {
  accessSync, constants, lstatSync, mkdtempSync, readdirSync, renameSync, rmSync, rmdirSync,
} = process.getBuiltinModule('node:fs');
const { join, resolve } = process.getBuiltinModule('node:path');

/** Where the walk begins, what the member there must be, limits and decoders: see walkImage. */
export type StagedOptions = Pick<WalkOptions, 'start' | 'first' | 'maxOutput' | 'inProcess'>;

/**
 * Extracts the image into a staging directory inside `target` (so that moving the result is a
 * rename on one filesystem), then moves it into `target` only when everything extracted
 * cleanly and every move has been checked to succeed, so that a failure never leaves a half
 * tree. Directory modes are applied after the move: a read-only directory could not be moved
 * out of otherwise.
 */
export async function extractStaged(image: string, target: string, options: StagedOptions = {}): Promise<WalkResult> {
  makeDirectories(target);
  const staging = mkdtempSync(join(resolve(target), STAGING_PREFIX));
  const dropUndo = onInterrupt(() => rmSync(staging, { recursive: true, force: true }));
  const extractor = new SafeExtractor(staging);
  try {
    const result = await walkImage(image, extractor, options);
    if (extractor.refusedCount > 0) throw new RefusedEntriesError(extractor.refused, extractor.refusedCount);
    const moves: Move[] = [];
    planMoves(Buffer.from(staging), Buffer.from(resolve(target)), lstatSync(staging).dev, moves);
    for (const move of moves) {
      if (move.replace === 'dir') rmdirSync(move.dest);
      else if (move.replace === 'other') rmSync(move.dest);
      renameSync(move.src, move.dest);
    }
    extractor.finish(target);
    return result;
  } finally {
    // Its scratch file's descriptor too: a trial runs many extractions in one process.
    extractor.release();
    dropUndo();
    try {
      rmSync(staging, { recursive: true, force: true });
    } catch {
      // The original error matters more than a staging directory left behind.
    }
  }
}

const STAGING_PREFIX = '.initramfs-restore-staging-';
const SLASH = Buffer.from('/');

interface Move {
  src: Buffer;
  dest: Buffer;
  /** What is in the way and goes first: an empty directory, or anything but a directory. */
  replace?: 'dir' | 'other';
}

/**
 * The renames that put what `from` holds into `to`, merging directories and replacing other
 * entries (a directory only when empty, as the kernel and cpio replace one), after checking
 * each: a non-empty directory in the way, a directory on another filesystem (rename cannot
 * cross) or one that cannot be written stops the move before anything has moved.
 */
function planMoves(from: Buffer, to: Buffer, dev: number, moves: Move[]): void {
  mergeInto(to, dev);
  walkTree(from, ({ path: src, rel, stats }) => {
    const dest = Buffer.concat([to, SLASH, rel]);
    if (dest.equals(from)) return 'skip'; // the staging directory itself, should the archive name it
    const existing = lstatSync(dest, { throwIfNoEntry: false });
    if (existing?.isDirectory() && stats.isDirectory()) {
      mergeInto(dest, dev);
      return undefined; // walk into it: its entries move one by one
    }
    if (existing?.isDirectory()) {
      if (readdirSync(dest).length > 0) throw new MoveConflictError(`"${escapeName(dest)}" is a directory that is not empty: the archive's entry cannot replace it`);
      moves.push({ src, dest, replace: 'dir' });
    } else {
      moves.push({ src, dest, ...(existing ? { replace: 'other' as const } : {}) });
    }
    return 'skip'; // moves whole
  });
}

/** Checks that entries can be moved into the directory `dir`. */
function mergeInto(dir: Buffer, dev: number): void {
  if (lstatSync(dir).dev !== dev) throw new MoveConflictError(`"${escapeName(dir)}" is on another filesystem than the staged tree`);
  accessSync(dir, constants.W_OK | constants.X_OK);
}
