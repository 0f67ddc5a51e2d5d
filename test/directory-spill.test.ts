import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ScratchFile } from '../src/extract/scratch-file.js';
import { DiskTree } from '../src/extract/tree.js';
import { ScratchFileError } from '../src/errors.js';
import { removeTree } from '../src/extract/walk-tree.js';
import { SafeExtractor } from '../src/extract/writer.js';
import { walkImage } from '../src/image/walk.js';
import { restore } from '../src/restore/restore.js';
import { cli } from './support/cli.js';
import { AS_ROOT } from './support/needs.js';
import { type FakeEntry, newcArchive } from './support/newc.js';
import { openScratchFiles } from './support/scratch.js';
import { listPaths } from './support/tree.js';

// Past `directoriesInMemory` paths the writer's directory records go to sorted runs in a scratch
// file in the target, merged at the end. What the end applies must be what records held in
// memory apply: each named directory gets its last entry's mode, owner and mtime, and a record
// of a directory removed since applies to nothing.

const work = mkdtempSync(join(tmpdir(), 'irr-spill-'));
afterAll(() => removeTree(work));
afterEach(() => {
  vi.restoreAllMocks();
});
let counter = 0;

async function unpack(entries: FakeEntry[], directoriesInMemory?: number): Promise<string> {
  const sandbox = join(work, `case-${counter++}`);
  const image = `${sandbox}.cpio`;
  writeFileSync(image, newcArchive(entries));
  const extractor = new SafeExtractor(sandbox, { owners: AS_ROOT, devices: false, directoriesInMemory });
  await walkImage(image, extractor);
  extractor.finish();
  return sandbox;
}

/** The mode, owner and mtime of the directory that each directory entry names, by its last entry. */
function expectedDirectories(entries: FakeEntry[]): Map<string, { mode: number; uid: number; gid: number; mtime: number }> {
  const expected = new Map<string, { mode: number; uid: number; gid: number; mtime: number }>();
  for (const e of entries) {
    const name = Buffer.isBuffer(e.name) ? e.name.toString('latin1') : e.name;
    if (((e.mode ?? 0) & 0o170000) === 0o040000) expected.set(name, { mode: e.mode! & 0o7777, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: e.mtime ?? 0 });
    else expected.delete(name);
  }
  return expected;
}

function directoryOf(root: string, name: string) {
  const st = lstatSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from(name, 'latin1')]));
  expect(st.isDirectory(), name).toBe(true);
  return { mode: st.mode & 0o7777, uid: AS_ROOT ? st.uid : 0, gid: AS_ROOT ? st.gid : 0, mtime: Math.floor(st.mtimeMs / 1000) };
}

/**
 * Directories whose byte order is not their depth's ("a" < "a-b" < "a/b"), names of any byte, a
 * child's entry before its parent's, and entries of one directory given again later with
 * another mode and mtime: 268 in all, so that 8 paths in memory make more runs than are
 * merged at once.
 */
function manyDirectories(): FakeEntry[] {
  const entries: FakeEntry[] = [];
  const modes = [0o755, 0o700, 0o750, 0o711, 0o555, 0o1777, 0o2755, 0o775];
  let mtime = 1_500_000_000;
  const dir = (name: string | Buffer, i: number): FakeEntry => ({
    name, mode: 0o040000 | modes[i % modes.length], mtime: mtime++, uid: 1000 + (i % 3), gid: 2000 + (i % 5),
  });
  for (let i = 0; i < 40; i++) {
    entries.push(dir(`a${i}/b/c`, i), dir(`a${i}`, i + 1), dir(`a${i}-b`, i + 2), dir(`a${i}/b`, i + 3), dir(`a${i}.b/c`, i + 4));
    entries.push(dir(Buffer.concat([Buffer.from(`a${i}/`), Buffer.from([0xff, 0x80, 0x01])]), i + 5));
  }
  for (let i = 0; i < 40; i += 3) entries.push(dir(`a${i}`, i + 6), dir(`a${i}/b/c`, i + 7));
  return entries;
}

describe('directory records past what memory holds', () => {
  it('apply what records held in memory apply: the last entry of each directory', async () => {
    const entries = manyDirectories();
    const expected = expectedDirectories(entries);
    const opened = vi.spyOn(DiskTree.prototype, 'openScratch');
    const spilled = await unpack(entries, 8);
    expect(opened).toHaveBeenCalledTimes(1);
    const inMemory = await unpack(entries);
    expect(opened).toHaveBeenCalledTimes(1);
    for (const [name, want] of expected) {
      expect(directoryOf(spilled, name), name).toEqual(want);
      expect(directoryOf(inMemory, name), name).toEqual(want);
    }
    expect(listPaths(spilled)).toEqual(listPaths(inMemory));
  });

  it('apply nothing to what replaced a directory whose record went to disk', async () => {
    const fillers = Array.from({ length: 30 }, (_, i): FakeEntry => ({ name: `filler${i}`, mode: 0o040755, mtime: 1_000 }));
    const entries: FakeEntry[] = [
      { name: 'was-dir', mode: 0o040700, mtime: 1_111 },
      { name: 'dir-again', mode: 0o040700, mtime: 2_222 },
      ...fillers,
      // Each replaces an empty directory whose record is in a run on disk by now.
      { name: 'was-dir', mode: 0o100644, mtime: 3_333, data: 'now a file' },
      { name: 'dir-again', mode: 0o100644, mtime: 4_444 },
      ...fillers,
      { name: 'dir-again', mode: 0o040750, mtime: 5_555 },
    ];
    const root = await unpack(entries, 8);
    const file = lstatSync(join(root, 'was-dir'));
    expect(file.isFile()).toBe(true);
    expect(file.mtimeMs).toBe(3_333_000);
    expect(file.mode & 0o7777).toBe(0o644);
    const dir = lstatSync(join(root, 'dir-again'));
    expect(dir.isDirectory()).toBe(true);
    expect(dir.mtimeMs).toBe(5_555_000);
    expect(dir.mode & 0o7777).toBe(0o750);
  });

  it('leave no scratch file in the target', async () => {
    const root = await unpack(manyDirectories(), 8);
    expect(readdirSync(root).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('stay in memory where the scratch file cannot be made, and still apply', async () => {
    vi.spyOn(DiskTree.prototype, 'openScratch').mockImplementation(() => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    });
    const entries = manyDirectories();
    const root = await unpack(entries, 8);
    for (const [name, want] of expectedDirectories(entries)) expect(directoryOf(root, name), name).toEqual(want);
  });

  it('stop the run where the scratch file cannot be written, naming it, and still apply what is in memory', async () => {
    vi.spyOn(DiskTree.prototype, 'openScratch').mockImplementation(() => new ScratchFile(openSync('/dev/full', 'r+'), 'the scratch file of a test'));
    const sandbox = join(work, `case-${counter++}`);
    writeFileSync(`${sandbox}.cpio`, newcArchive(manyDirectories()));
    const extractor = new SafeExtractor(sandbox, { owners: false, devices: false, directoriesInMemory: 8 });
    const walk = walkImage(`${sandbox}.cpio`, extractor);
    await expect(walk).rejects.toThrow(/^writing the scratch file of a test: ENOSPC/);
    await expect(walk).rejects.toBeInstanceOf(ScratchFileError);
    expect(extractor.refusedCount).toBe(0);
    extractor.finish();
    // a0's entry came before the first spill: its record was still in memory.
    expect(lstatSync(join(sandbox, 'a0')).mtimeMs).toBe(1_500_000_001_000);
  });

  it('fail a restore whose scratch file cannot be written as a restore fails: a report, nothing moved into place', async () => {
    vi.spyOn(DiskTree.prototype, 'openScratch').mockImplementation(() => new ScratchFile(openSync('/dev/full', 'r+'), 'the scratch file of a test'));
    const root = join(work, `case-${counter++}`);
    mkdirSync(join(root, 'run/initramfs'), { recursive: true });
    writeFileSync(join(root, 'run/initramfs/.need_shutdown'), '');
    const image = `${root}.cpio`;
    // Past the 16,384 paths a writer holds by default.
    writeFileSync(image, newcArchive(Array.from({ length: 17_000 }, (_, i) => ({ name: `d${i}`, mode: 0o040755 }))));
    const said: string[] = [];
    const report = await restore({ root, flavor: 'dracut-112', kernelVersion: '0', image, order: 'detect', engine: 'builtin', say: (line) => said.push(line) });
    expect(report).toMatchObject({ status: 1, outcome: 'failed' });
    expect(report.reason).toMatch(/writing the scratch file of a test: ENOSPC/);
    expect(said.at(-1)).toMatch(/^Unpacking of .* failed$/);
    expect(readdirSync(join(root, 'run/initramfs'))).toEqual(['.need_shutdown']);
  });

  it('close the scratch file when released, as a failed or refused restore is', async () => {
    const sandbox = join(work, `case-${counter++}`);
    writeFileSync(`${sandbox}.cpio`, newcArchive(manyDirectories()));
    const extractor = new SafeExtractor(sandbox, { owners: false, devices: false, directoriesInMemory: 8 });
    await walkImage(`${sandbox}.cpio`, extractor);
    expect(openScratchFiles()).toHaveLength(1);
    extractor.release();
    expect(openScratchFiles()).toEqual([]);
  });
});

// As a user, chmod and lutimes of a directory need search permission on each one above it: a
// parent given mode 0600 before its children are done would fail them (EACCES). Root passes any
// mode, so root runs the CLI as nobody.
describe('directories whose modes forbid search, each applied before its parent', () => {
  const NOBODY = 65534;
  const shared = mkdtempSync(join(tmpdir(), 'irr-spill-user-'));
  chmodSync(shared, 0o755);
  afterAll(() => removeTree(shared));

  it.each([
    ['records held in memory', 100],
    ['records past the 16,384 paths held in memory', 17_000],
  ])('%s', (_, children) => {
    const base = join(shared, `case-${counter++}`);
    mkdirSync(base);
    const entries: FakeEntry[] = [{ name: 'p', mode: 0o040600, mtime: 1_234 }];
    for (let i = 0; i < children; i++) entries.push({ name: `p/d${i}`, mode: 0o040500, mtime: 5_678 });
    writeFileSync(join(base, 'image.cpio'), newcArchive(entries));
    if (AS_ROOT) chownSync(base, NOBODY, NOBODY);
    const run = cli(['unpack', join(base, 'image.cpio'), join(base, 'target')], { uid: AS_ROOT ? NOBODY : undefined });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // Root reads below 0600; a user could not, and does not need to.
    const parent = lstatSync(join(base, 'target/p'));
    expect([parent.mode & 0o7777, parent.mtimeMs]).toEqual([0o600, 1_234_000]);
    const child = lstatSync(join(base, `target/p/d${children - 1}`));
    expect([child.mode & 0o7777, child.mtimeMs]).toEqual([0o500, 5_678_000]);
  });
});

