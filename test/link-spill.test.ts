import fc from 'fast-check';
import { mkdirSync, mkdtempSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ScratchFileError } from '../src/errors.js';
import { ScratchFile } from '../src/extract/scratch-file.js';
import { DiskTree } from '../src/extract/tree.js';
import { removeTree } from '../src/extract/walk-tree.js';
import { SafeExtractor } from '../src/extract/writer.js';
import { walkImage } from '../src/image/walk.js';
import { restore } from '../src/restore/restore.js';
import { sh } from './support/cli.js';
import { DIR, type FakeEntry, SYMLINK, newcArchive } from './support/newc.js';
import { openScratchFiles } from './support/scratch.js';
import { describeTree } from './support/tree.js';

// Past `linkGroupsInMemory` groups the writer's hard-link groups go to runs in a scratch file in
// the target, kept until the archive's trailer as in memory. Each name of a group must still be
// a link of its first, as GNU cpio extracts it.

const work = mkdtempSync(join(tmpdir(), 'irr-link-spill-'));
afterAll(() => removeTree(work));
afterEach(() => {
  vi.restoreAllMocks();
});
let counter = 0;

/**
 * `groups` groups of hard links in two directories, each group's first name before every later
 * one, so that a group is looked for long after it was added (GNU cpio writes a group's names
 * together); the data in the last name, as GNU cpio writes it. Every third group has three names,
 * and every fifth a name of bytes that are not UTF-8.
 */
function farLinks(groups: number): FakeEntry[] {
  const entries: FakeEntry[] = [{ name: 'a', mode: DIR }, { name: 'b', mode: DIR }];
  const names = (g: number): (string | Buffer)[] => {
    const last = g % 5 === 0 ? Buffer.concat([Buffer.from(`b/\xff${g}`, 'latin1'), Buffer.from([0x80])]) : `b/l${g}`;
    return g % 3 === 0 ? [`a/n${g}`, `a/m${g}`, last] : [`a/n${g}`, last];
  };
  for (let round = 0; round < 3; round++) {
    for (let g = 0; g < groups; g++) {
      const all = names(g);
      if (round >= all.length) continue;
      const last = round === all.length - 1;
      entries.push({ name: all[round], ino: 1000 + g, nlink: all.length, data: last ? `group ${g}\n` : undefined });
    }
  }
  return entries;
}

async function unpack(image: string, linkGroupsInMemory?: number): Promise<string> {
  const sandbox = join(work, `case-${counter++}`);
  const extractor = new SafeExtractor(sandbox, { owners: false, devices: false, linkGroupsInMemory });
  await walkImage(image, extractor);
  extractor.finish();
  return sandbox;
}

function image(entries: FakeEntry[]): string {
  const path = join(work, `image-${counter++}.cpio`);
  writeFileSync(path, newcArchive(entries));
  return path;
}

/** The hard-link groups' scratch file, from now until the mocks are restored, one that cannot be written (ENOSPC). */
function groupsOnAFullDisk(): void {
  const open = DiskTree.prototype.openScratch;
  vi.spyOn(DiskTree.prototype, 'openScratch').mockImplementation(function (this: DiskTree, what: string) {
    return what === 'hard-link groups' ? new ScratchFile(openSync('/dev/full', 'r+'), 'the scratch file of a test') : open.call(this, what);
  });
}

describe('hard-link groups past what memory holds', () => {
  it('link each later name to its group\'s first, as GNU cpio extracts them and as groups held in memory do', async () => {
    const archive = image(farLinks(3000));
    const byCpio = join(work, `cpio-${counter++}`);
    mkdirSync(byCpio);
    sh(`cpio -id --quiet < ${archive}`, { cwd: byCpio });
    const expected = describeTree(byCpio, { mtimes: false });
    expect(Object.values(expected).filter((node) => node.linkGroup !== undefined)).toHaveLength(7000);
    for (const held of [16, 1, undefined]) {
      const root = await unpack(archive, held);
      expect(describeTree(root, { mtimes: false }), `${held} groups held`).toEqual(expected);
      expect(readdirSync(root).filter((name) => name.startsWith('.')), 'a scratch file left').toEqual([]);
    }
  });

  it('forget the groups at the trailer, as the kernel does: a later archive\'s name is no link of an earlier one\'s', async () => {
    // The same inos again after the first archive's trailer, past 16 groups held.
    const first = newcArchive(Array.from({ length: 40 }, (_, g) => ({ name: `n${g}`, ino: 1000 + g, nlink: 2, data: 'first\n' })));
    const second = newcArchive(Array.from({ length: 40 }, (_, g) => ({ name: `l${g}`, ino: 1000 + g, nlink: 2, data: 'second\n' })));
    const path = join(work, `image-${counter++}.cpio`);
    writeFileSync(path, Buffer.concat([first, second]));
    const tree = describeTree(await unpack(path, 16), { mtimes: false });
    expect(Object.values(tree).filter((node) => node.linkGroup !== undefined)).toEqual([]);
    expect(Object.keys(tree)).toHaveLength(80);
  });

  it('close their scratch file at the trailer, and at finish() where the stream has none', async () => {
    for (const trailer of [true, false]) {
      const path = join(work, `image-${counter++}.cpio`);
      writeFileSync(path, newcArchive(farLinks(100), trailer));
      const sandbox = join(work, `case-${counter++}`);
      const opened = vi.spyOn(DiskTree.prototype, 'openScratch');
      const extractor = new SafeExtractor(sandbox, { owners: false, devices: false, linkGroupsInMemory: 16 });
      await walkImage(path, extractor);
      expect(opened).toHaveBeenCalledWith('hard-link groups');
      expect(openScratchFiles(), `with a trailer: ${trailer}`).toHaveLength(trailer ? 0 : 1);
      extractor.finish();
      expect(openScratchFiles()).toEqual([]);
      expect(describeTree(sandbox, { mtimes: false })['b/l1'].linkGroup).toBe('a/n1');
      vi.restoreAllMocks();
    }
  });

  it('stop the run where their scratch file cannot be written, naming it', async () => {
    groupsOnAFullDisk();
    const sandbox = join(work, `case-${counter++}`);
    const extractor = new SafeExtractor(sandbox, { owners: false, devices: false, linkGroupsInMemory: 16 });
    const walk = walkImage(image(farLinks(100)), extractor);
    await expect(walk).rejects.toThrow(/^writing the scratch file of a test: ENOSPC/);
    await expect(walk).rejects.toBeInstanceOf(ScratchFileError);
    expect(extractor.refusedCount).toBe(0);
    extractor.release();
  });

  it('fail a restore whose scratch file of groups cannot be written as a restore fails: a report, nothing moved into place', async () => {
    groupsOnAFullDisk();
    const root = join(work, `case-${counter++}`);
    mkdirSync(join(root, 'run/initramfs'), { recursive: true });
    writeFileSync(join(root, 'run/initramfs/.need_shutdown'), '');
    // Past the 16,384 groups a writer holds by default.
    const path = image(farLinks(17_000));
    const said: string[] = [];
    const report = await restore({ root, flavor: 'dracut-112', kernelVersion: '0', image: path, order: 'detect', engine: 'builtin', say: (line) => said.push(line) });
    expect(report).toMatchObject({ status: 1, outcome: 'failed' });
    expect(report.reason).toMatch(/writing the scratch file of a test: ENOSPC/);
    expect(said.at(-1)).toMatch(/^Unpacking of .* failed$/);
    expect(readdirSync(join(root, 'run/initramfs'))).toEqual(['.need_shutdown']);
  });

  it('leave the same tree as records and groups held in memory, for any archive of a few names, types and inodes', async () => {
    const names = ['a', 'b', 'c', 'a/b', 'a/c', 'b/a', 'a/b/c'];
    const types = [0o100644, 0o100755, DIR, 0o040700, SYMLINK, 0o010644];
    const entry = fc.record({
      name: fc.constantFrom(...names),
      mode: fc.constantFrom(...types),
      ino: fc.integer({ min: 1, max: 6 }),
      nlink: fc.constantFrom(1, 2, 3),
      data: fc.constantFrom(undefined, 'x', 'other\n'),
      mtime: fc.integer({ min: 0, max: 3 }),
    });
    // Two archives, so that a trailer comes between groups.
    await fc.assert(fc.asyncProperty(fc.array(entry, { maxLength: 30, size: 'max' }), fc.array(entry, { maxLength: 10 }), async (first, second) => {
      const fix = (e: FakeEntry): FakeEntry => ((e.mode! & 0o170000) === 0o100000 || e.mode === SYMLINK ? e : { ...e, data: undefined });
      const path = join(work, `image-${counter++}.cpio`);
      writeFileSync(path, Buffer.concat([newcArchive(first.map(fix)), newcArchive(second.map(fix))]));
      const trees = [];
      for (const options of [{}, { linkGroupsInMemory: 1, directoriesInMemory: 2 }]) {
        const sandbox = join(work, `case-${counter++}`);
        const extractor = new SafeExtractor(sandbox, { owners: false, devices: false, ...options });
        await walkImage(path, extractor);
        extractor.finish();
        trees.push({ tree: describeTree(sandbox), refused: extractor.refused.map((n) => `${n.name}: ${n.reason}`), counts: extractor.counts });
      }
      expect(trees[1]).toEqual(trees[0]);
    }), { numRuns: 150 });
  });

  it('reject a number held that is not a whole number of one or more', () => {
    for (const linkGroupsInMemory of [0, 1.5, Number.NaN]) {
      expect(() => new SafeExtractor(join(work, `case-${counter++}`), { linkGroupsInMemory })).toThrow(RangeError);
    }
  });
});
