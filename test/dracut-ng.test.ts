import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, cli, sh } from './support/cli.js';
import { FIXTURES } from './support/fixtures.js';
import { WHY_NOT_NATIVE, skipUnlessCI, titled, whyNotRunScripts } from './support/needs.js';
import { DIR, SYMLINK, newcArchive } from './support/newc.js';
import { REAL_EXPECTED, realImage, realImagesFound } from './support/real.js';
import { runOurRestore, runRestoreScript } from './support/dracut-script.js';
import { describeTree } from './support/tree.js';

/**
 * After 057: Debian trixie's dracut 106 (the 057 chain, new discovery) and forky's 112 (3cpio
 * or extractinitrd, by magic), unpacked by test-images/get-dracut-ng.sh (CI runs it), run for
 * real in a private mount namespace against ours: the same exit status and the same tree.
 */
const NG = `${ROOT}test-images/dracut-ng`;
const SCRIPTS = {
  'dracut-106': { script: `${NG}/dracut-106/usr/lib/dracut/dracut-initramfs-restore`, basedir: `${NG}/basedir-106` },
  'dracut-112': { script: `${NG}/dracut-112/usr/lib/dracut/dracut-initramfs-restore`, basedir: `${NG}/basedir-112` },
};
const THREE_CPIO_BIN = `${NG}/3cpio/bin`;
const haveNg = existsSync(SCRIPTS['dracut-112'].script) && existsSync(`${THREE_CPIO_BIN}/3cpio`);
const whyNotRun = whyNotRunScripts([SCRIPTS['dracut-106'].script, SCRIPTS['dracut-112'].script, `${THREE_CPIO_BIN}/3cpio`]);
const work = mkdtempSync(join(tmpdir(), 'irr-dracut-ng-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;

/** PATH without 3cpio, or with it first. */
const PATH_WITHOUT = process.env.PATH!;
const PATH_WITH = `${THREE_CPIO_BIN}:${PATH_WITHOUT}`;

interface Report {
  order: string[];
  winner?: string;
  attempts: { stage: string; ok: boolean; reason?: string; consoleTail?: string }[];
}

function script(flavor: keyof typeof SCRIPTS, image: string, path: string): { status: number; tree: string; stderr: string } {
  const { script: file, basedir } = SCRIPTS[flavor];
  return runRestoreScript(file, image, join(work, `theirs${counter++}`), { dracutbasedir: basedir, path });
}

function ours(flavor: string, image: string, path: string, ...args: string[]): { status: number; tree: string; stderr: string } {
  return runOurRestore(join(work, `ours${counter++}`), image, ['--flavor', flavor, ...args], { PATH: path, dracutbasedir: SCRIPTS['dracut-112'].basedir });
}

function sameAs(theirs: { status: number; tree: string }, mine: { status: number; tree: string }, label: string): void {
  expect({ label, status: mine.status }).toEqual({ label, status: theirs.status });
  // The 057 chain runs cpio without -m: times are compared only where both keep them.
  const tree = describeTree(theirs.tree, { owners: true, mtimes: false });
  expect(describeTree(mine.tree, { owners: true, mtimes: false }), label).toEqual(tree);
}

const fixtures = ['dracut-gzip', 'dracut-xz', 'dracut-lz4-legacy', 'dracut-none'].map((n) => join(FIXTURES, `${n}.img`));
const lone = join(work, 'lone.img');
writeFileSync(lone, newcArchive([{ name: 'lone', data: 'x' }]));

const skipRun = skipUnlessCI(whyNotRun);

describe.skipIf(skipRun !== undefined)(titled("restore against Debian's dracut 106 and 112, run for real", skipRun), () => {
  it('has the scripts, extractinitrd and 3cpio (test-images/get-dracut-ng.sh)', () => {
    expect(whyNotRun).toBeUndefined();
  });

  it.each(fixtures)('dracut-106, %s: the same status and tree by magic and by the chain', (image) => {
    const theirs = script('dracut-106', image, PATH_WITHOUT);
    expect(theirs.status).toBe(0);
    sameAs(theirs, ours('dracut-106', image, PATH_WITHOUT), `${image} by magic`);
    sameAs(theirs, ours('dracut-106', image, PATH_WITHOUT, '--order', 'dracut-057', '--engine', 'native'), `${image} by the chain`);
  });

  it.each(fixtures)('dracut-112 without 3cpio (extractinitrd), %s: the same status and every archive, early ones included', (image) => {
    const theirs = script('dracut-112', image, PATH_WITHOUT);
    expect(theirs.status).toBe(0);
    sameAs(theirs, ours('dracut-112', image, PATH_WITHOUT), `${image} by magic`);
    const native = ours('dracut-112', image, PATH_WITHOUT, '--order', 'dracut-112', '--engine', 'native');
    sameAs(theirs, native, `${image} by extractinitrd`);
  });

  it('dracut-112 with 3cpio on PATH fails on every image: 3cpio refuses /run/initramfs, which holds .need_shutdown', () => {
    const image = fixtures[0];
    const theirs = script('dracut-112', image, PATH_WITH);
    expect(theirs.status).toBe(1);
    expect(theirs.stderr).toMatch(/Target directory '\.' is not empty/);
    const native = ours('dracut-112', image, PATH_WITH, '--order', 'dracut-112', '--engine', 'native', '--json');
    sameAs(theirs, native, '3cpio');
    expect(native.stderr).toMatch(/Target directory '\.' is not empty/);
    // Ours by magic restores it.
    expect(ours('dracut-112', image, PATH_WITH).status).toBe(0);
  });

  it('a lone uncompressed archive: 106 fails (dracut-ng #2255), 112 restores it, and so does ours for each', () => {
    expect(script('dracut-106', lone, PATH_WITHOUT).status).toBe(1);
    expect(ours('dracut-106', lone, PATH_WITHOUT, '--order', 'dracut-057').status).toBe(1);
    const theirs = script('dracut-112', lone, PATH_WITHOUT);
    expect(theirs.status).toBe(0);
    sameAs(theirs, ours('dracut-112', lone, PATH_WITHOUT), 'lone');
  });

  describe.skipIf(!REAL_EXPECTED)('on the real zstd image', () => {
    it('106 and 112 (extractinitrd) restore what ours restores for each', () => {
      expect(realImagesFound()).toContain('fedora-like-zstd.img');
      const image = realImage('fedora-like-zstd.img');
      for (const flavor of ['dracut-106', 'dracut-112'] as const) {
        const theirs = script(flavor, image, PATH_WITHOUT);
        expect(theirs.status).toBe(0);
        sameAs(theirs, ours(flavor, image, PATH_WITHOUT), flavor);
      }
    });
  });
});

describe.skipIf(!haveNg && !process.env.CI)("dracut 112's extractors as stages of unpack --order", () => {
  const unpack = (image: string, order: string, engine: string, path: string) => {
    const target = join(work, `u${counter++}`);
    const run = cli(['unpack', image, target, '--order', order, '--engine', engine, '--json'], { env: { PATH: path, dracutbasedir: SCRIPTS['dracut-112'].basedir } });
    return { run, target, report: JSON.parse(run.stdout.toString()) as Report };
  };

  it('dracut-112 is 3cpio when it is on PATH and extractinitrd otherwise, never both', () => {
    expect(unpack(fixtures[0], 'dracut-112', 'native', PATH_WITH).report.order).toEqual(['3cpio']);
    expect(unpack(fixtures[0], 'dracut-112', 'native', PATH_WITHOUT).report.order).toEqual(['extractinitrd']);
  });

  it('3cpio, extractinitrd and our reader by magic restore the same whole image into an empty target', () => {
    // UTF-8 names only: 3cpio 0.14 panics on others.
    const image = join(work, 'two-archives.img');
    writeFileSync(image, Buffer.concat([
      newcArchive([{ name: 'early_cpio', data: '1' }]),
      sh(`zstd -q -c`, { input: newcArchive([{ name: 'etc', mode: DIR }, { name: 'etc/os-release', data: 'ID=test\n' }, { name: 'bin', mode: DIR }, { name: 'bin/sh', mode: SYMLINK, data: 'bash' }]) }),
    ]));
    const whole = join(work, `whole${counter++}`);
    expect(cli(['unpack', image, whole]).status).toBe(0);
    const expected = describeTree(whole, { mtimes: false });
    expect(Object.keys(expected)).toContain('early_cpio');
    for (const [order, engine] of [['3cpio', 'native'], ['extractinitrd', 'native'], ['3cpio', 'builtin']]) {
      const { run, target, report } = unpack(image, order, engine, PATH_WITH);
      expect(run.status, `${order} ${engine}`).toBe(0);
      expect(report.winner).toBe(order);
      expect(describeTree(target, { mtimes: false }), `${order} ${engine}`).toEqual(expected);
    }
  });
});

describe.skipIf(!haveNg && !process.env.CI)('validate reports each flavor', () => {
  it.skipIf(WHY_NOT_NATIVE !== undefined)(titled("112 with 3cpio fails in 3cpio's own words; without it extractinitrd restores the whole image", WHY_NOT_NATIVE), () => {
    const image = join(FIXTURES, 'dracut-gzip.img');
    const env = { dracutbasedir: SCRIPTS['dracut-112'].basedir };
    const withIt = cli(['validate', '--runs', '1', '--json', image], { env: { ...env, PATH: PATH_WITH } });
    const flavors = JSON.parse(withIt.stdout.toString()).images[0].flavors as { flavor: string; restored: boolean; sameTree: boolean; reason?: string }[];
    expect(flavors.map((f) => [f.flavor, f.restored, f.sameTree])).toEqual([['dracut-059', true, true], ['dracut-106', true, true], ['dracut-112', false, false]]);
    expect(flavors[2].reason).toMatch(/^3cpio exited with status 1: .*Target directory '\.' is not empty/);
    expect(withIt.status).toBe(0);
    const without = cli(['validate', '--runs', '1', '--json', image], { env: { ...env, PATH: PATH_WITHOUT } });
    expect(JSON.parse(without.stdout.toString()).images[0].flavors[2]).toMatchObject({ flavor: 'dracut-112', stages: ['extractinitrd'], restored: true, sameTree: true });
  });
});
