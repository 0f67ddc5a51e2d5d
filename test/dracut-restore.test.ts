import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES } from './support/fixtures.js';
import { newcArchive } from './support/newc.js';
import { skipUnlessCI, titled, whyNotRunScripts } from './support/needs.js';
import { REAL_EXPECTED, realImage, realImagesFound } from './support/real.js';
import { runOurRestore, runRestoreScript } from './support/dracut-script.js';
import { describeTree } from './support/tree.js';

/**
 * Debian's own /usr/lib/dracut/dracut-initramfs-restore, run for real in a private mount
 * namespace (a tmpfs on /run, the image bind-mounted at /lib/modules/$(uname -r)/initrd where
 * the script looks), against ours on the same image: the same exit status and the same tree.
 * The script runs `cpio -id` without -m, so file times are not compared. /run/initramfs holds
 * only .need_shutdown before, as at a real shutdown (cpio would not overwrite an older file).
 */
const SCRIPT = '/usr/lib/dracut/dracut-initramfs-restore';
const whyNotRun = whyNotRunScripts([SCRIPT]);
const work = mkdtempSync(join(tmpdir(), 'irr-dracut-restore-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;

function dracutRestore(image: string): { status: number; tree: string } {
  return runRestoreScript(SCRIPT, image, join(work, `dracut${counter++}`));
}

function ourRestore(image: string, ...args: string[]): { status: number; tree: string } {
  // Debian 12's script is 059's: its discovery, and by magic the archives its chain restores.
  return runOurRestore(join(work, `ours${counter++}`), image, ['--flavor', 'dracut-059', ...args]);
}

/** Both restores of an image dracut's script restores: status 0 for both, and the same tree. */
function same(image: string, ...args: string[]): void {
  const theirs = dracutRestore(image);
  const ours = ourRestore(image, ...args);
  expect({ image, status: theirs.status }).toEqual({ image, status: 0 });
  expect({ image, status: ours.status }).toEqual({ image, status: theirs.status });
  const tree = describeTree(theirs.tree, { owners: true, mtimes: false });
  expect(Object.keys(tree).length, `${image}: dracut's script restored nothing`).toBeGreaterThan(1);
  expect(describeTree(ours.tree, { owners: true, mtimes: false })).toEqual(tree);
}

// The three real images build-real-images.sh makes without --extra; skipped, visibly, where none are expected.
const realImages = ['fedora-like-gzip.img', 'fedora-like-xz.img', 'fedora-like-zstd.img'];
const fixtures = ['dracut-zstd', 'dracut-gzip', 'dracut-xz', 'dracut-bzip2', 'dracut-lz4-legacy', 'dracut-lzop', 'dracut-none'].map((n) => join(FIXTURES, `${n}.img`));

const skipRun = skipUnlessCI(whyNotRun);

describe.skipIf(skipRun !== undefined)(titled("restore against Debian's dracut-initramfs-restore", skipRun), () => {
  it('can run the real script (root, unshare, dracut-core)', () => {
    expect(whyNotRun).toBeUndefined();
  });

  it.each(fixtures)('%s: both restore it, to the same tree, by magic and by the script\'s own order', (image) => {
    same(image);
    same(image, '--order', 'dracut-057', '--engine', 'native');
  });

  describe.skipIf(!REAL_EXPECTED)('on real dracut images', () => {
    it.each(realImages)('%s: there, and both restore it, to the same tree', (name) => {
      expect(realImagesFound()).toContain(name);
      same(realImage(name));
    });
  });

  it('a lone uncompressed archive: dracut fails (dracut-ng #2255) and so do its orders, while detect restores it', () => {
    const lone = join(work, 'lone.img');
    writeFileSync(lone, newcArchive([{ name: 'lone', data: 'x' }]));
    const theirs = dracutRestore(lone);
    expect(theirs.status).toBe(1);
    const trial = ourRestore(lone, '--order', 'dracut-057');
    expect(trial.status).toBe(1);
    // Both leave .need_shutdown as it was; each made its own, so its time is not compared.
    expect(describeTree(trial.tree, { mtimes: false })).toEqual(describeTree(theirs.tree, { mtimes: false }));
    const detect = ourRestore(lone);
    expect(detect.status).toBe(0);
    expect(Object.keys(describeTree(detect.tree))).toContain('lone');
  });
});
