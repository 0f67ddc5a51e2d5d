import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CpioEntry } from '../src/cpio/entry.js';
import { removeTree } from '../src/extract/walk-tree.js';
import { SafeExtractor } from '../src/extract/writer.js';
import { walkImage } from '../src/image/walk.js';
import { BIN, cli } from './support/cli.js';
import { AS_ROOT } from './support/needs.js';
import { DIR, SYMLINK, type FakeEntry, newcArchive } from './support/newc.js';
import { listPaths } from './support/tree.js';

const work = mkdtempSync(join(tmpdir(), 'irr-safety-'));
// Some trees hold directories of mode 000, which a user cannot empty as they are.
afterAll(() => removeTree(work));

let counter = 0;

/** Unpacks into sandbox/target and returns what the sandbox holds outside the target. */
function unpack(entries: FakeEntry[] | Buffer, options: { timeout?: number } = {}) {
  const sandbox = join(work, `case-${counter++}`);
  mkdirSync(join(sandbox, 'outside'), { recursive: true });
  writeFileSync(join(sandbox, 'outside', 'victim'), 'untouched');
  const image = join(sandbox, 'image.cpio');
  writeFileSync(image, Buffer.isBuffer(entries) ? entries : newcArchive(entries));
  const target = join(sandbox, 'target');
  const run = cli(['unpack', image, target, '--json'], options);
  const outside = listPaths(sandbox).filter((p) => !p.startsWith('target/') && p !== 'target' && p !== 'image.cpio');
  return { run, target, outside, sandbox };
}

const UNTOUCHED = ['outside', 'outside/victim'];

describe('unpack never writes outside the target', () => {
  it("refuses names with a '..' component and reports them", () => {
    const { run, outside, target } = unpack([
      { name: '../outside/victim', data: 'pwned' },
      { name: 'a/../../escape', data: 'pwned' },
      { name: 'fine', data: 'ok' },
    ]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('refused "../outside/victim"');
    expect(run.stderr).toContain('refused "a/../../escape"');
    expect(outside).toEqual(UNTOUCHED);
    expect(readFileSync(join(target, 'fine'), 'utf8')).toBe('ok');
    expect(JSON.parse(run.stdout.toString()).refusedCount).toBe(2);
  });

  it("strips a leading '/' and says so", () => {
    const { run, target, outside } = unpack([{ name: '/etc/abs', data: 'x' }, { name: '//twice', data: 'y' }]);
    expect(run.status).toBe(0);
    expect(readFileSync(join(target, 'etc/abs'), 'utf8')).toBe('x');
    expect(readFileSync(join(target, 'twice'), 'utf8')).toBe('y');
    expect(run.stderr).toMatch(/removed the leading '\/' from 2 member names/);
    expect(outside).toEqual(UNTOUCHED);
  });

  it('does not write through a directory symlink the same archive made', () => {
    const { run, outside, target } = unpack([
      { name: 'link', mode: SYMLINK, data: '../outside' },
      { name: 'link/victim', data: 'pwned' },
      { name: 'link/new', data: 'pwned' },
    ]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/"link" is a symlink/);
    expect(outside).toEqual(UNTOUCHED);
    expect(readlinkSync(join(target, 'link'))).toBe('../outside');
  });

  it('replaces a symlink by a same-name file instead of writing through it', () => {
    const { run, outside, target, sandbox } = unpack([
      { name: 'victim', mode: SYMLINK, data: '../outside/victim' },
      { name: 'victim', data: 'replaced' },
    ]);
    expect(run.status).toBe(0);
    expect(lstatSync(join(target, 'victim')).isFile()).toBe(true);
    expect(readFileSync(join(sandbox, 'outside/victim'), 'utf8')).toBe('untouched');
    expect(outside).toEqual(UNTOUCHED);
  });

  it('does not follow a chain of symlinks that leaves the tree', () => {
    const { run, outside } = unpack([
      { name: 'a', mode: SYMLINK, data: 'b' },
      { name: 'b', mode: SYMLINK, data: '../outside' },
      { name: 'a/victim', data: 'pwned' },
    ]);
    expect(run.status).toBe(1);
    expect(outside).toEqual(UNTOUCHED);
  });

  it('joins hard links only to files this run wrote, not through symlinks', () => {
    const { run, outside, sandbox, target } = unpack([
      { name: 'first', ino: 7, nlink: 2, data: '' },
      { name: 'first', mode: SYMLINK, data: '../outside/victim' },
      { name: 'second', ino: 7, nlink: 2, data: 'pwned' },
      { name: 'x', ino: 9, nlink: 2 },
      { name: 'y', ino: 9, nlink: 2, data: 'shared' },
    ]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/refused "second": its hard-link target/);
    expect(readFileSync(join(sandbox, 'outside/victim'), 'utf8')).toBe('untouched');
    expect(outside).toEqual(UNTOUCHED);
    expect(lstatSync(join(target, 'x')).ino).toBe(lstatSync(join(target, 'y')).ino);
    expect(readFileSync(join(target, 'x'), 'utf8')).toBe('shared');
  });

  it("writes a later link's data into its group's file when an earlier entry left it unwritable, as root can", () => {
    const { run, target } = unpack([
      { name: 'locked', mode: 0o100000, ino: 3, nlink: 2, data: '' },
      { name: 'later', mode: 0o100640, ino: 3, nlink: 2, data: 'data' },
    ]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(lstatSync(join(target, 'later')).ino).toBe(lstatSync(join(target, 'locked')).ino);
    expect(lstatSync(join(target, 'later')).mode & 0o7777).toBe(0o640);
    expect(readFileSync(join(target, 'later'), 'utf8')).toBe('data');
  });

  it("joins a hard link only to a node of its group's type: not to a FIFO or a device that replaced the group's first name", () => {
    // Linked to the FIFO, y's data would be written by opening the FIFO, which blocks for ever;
    // linked to a device (root makes devices), it would go into the device.
    const { run, target, outside } = unpack([
      { name: 'x', ino: 5, nlink: 2, data: '' },
      { name: 'x', mode: 0o010644 },
      { name: 'y', ino: 5, nlink: 2, data: 'into the FIFO' },
      { name: 'd', ino: 6, nlink: 2, data: '' },
      { name: 'd', mode: 0o020666, rdevMajor: 1, rdevMinor: 3 },
      { name: 'e', ino: 6, nlink: 2, data: 'into the device' },
    ], { timeout: 30_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/refused "y": its hard-link target "x" is now a fifo, not the file this archive wrote/);
    expect(lstatSync(join(target, 'x')).isFIFO()).toBe(true);
    expect(lstatSync(join(target, 'y'), { throwIfNoEntry: false })).toBeUndefined();
    if (AS_ROOT) {
      expect(run.stderr).toMatch(/refused "e": its hard-link target "d" is now a char device, not the file this archive wrote/);
      expect(lstatSync(join(target, 'd')).isCharacterDevice()).toBe(true);
      expect(lstatSync(join(target, 'e'), { throwIfNoEntry: false })).toBeUndefined();
    } else {
      // No device was made: d is still the group's file, and e joins it.
      expect(run.stderr).toMatch(/skipped "d": char device 1:3 needs root to create/);
      expect(lstatSync(join(target, 'e')).ino).toBe(lstatSync(join(target, 'd')).ino);
      expect(readFileSync(join(target, 'd'), 'utf8')).toBe('into the device');
    }
    expect(outside).toEqual(UNTOUCHED);
  });

  it('forgets hard links at TRAILER!!!, as the kernel does', () => {
    const image = Buffer.concat([
      newcArchive([{ name: 'one', ino: 5, nlink: 2, data: 'first archive' }]),
      newcArchive([{ name: 'two', ino: 5, nlink: 2, data: 'second archive' }]),
    ]);
    const { run, target } = unpack(image);
    expect(run.status).toBe(0);
    expect(lstatSync(join(target, 'one')).ino).not.toBe(lstatSync(join(target, 'two')).ino);
    expect(readFileSync(join(target, 'one'), 'utf8')).toBe('first archive');
  });

  it('replaces a file by a directory and back, later entries winning', () => {
    const { run, target } = unpack([
      { name: 'p', data: 'file' },
      { name: 'p', mode: DIR },
      { name: 'p/inner', data: 'x' },
      { name: 'q', mode: DIR },
      { name: 'q', data: 'now a file' },
    ]);
    expect(run.status).toBe(0);
    expect(lstatSync(join(target, 'p')).isDirectory()).toBe(true);
    expect(readFileSync(join(target, 'q'), 'utf8')).toBe('now a file');
  });

  it('refuses to replace a non-empty directory, and an empty name', () => {
    const { run } = unpack([
      { name: 'd', mode: DIR },
      { name: 'd/f', data: 'x' },
      { name: 'd', data: 'file' },
      { name: '', data: 'x' },
    ]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/refused "d": it would replace a directory that is not empty/);
    expect(run.stderr).toMatch(/refused "": the name is empty/);
  });

  it('replaces and refuses inside directories this run made as it does at the top', () => {
    // The writer skips the lstat for a name new to a directory it made: a name it made before
    // must still be looked at and replaced, never written through.
    const { run, outside, target, sandbox } = unpack([
      { name: 'top', mode: DIR },
      { name: 'top/link', mode: SYMLINK, data: '../../outside' },
      { name: 'top/link/victim', data: 'pwned' },
      { name: 'top/victim', mode: SYMLINK, data: '../../outside/victim' },
      { name: 'top/victim', data: 'replaced' },
      { name: 'top/p', data: 'file' },
      { name: 'top/p', mode: DIR },
      { name: 'top/p/inner', data: 'x' },
      { name: 'top/q', mode: DIR },
      { name: 'top/q', data: 'now a file' },
      { name: 'top/d', mode: DIR },
      { name: 'top/d/f', data: 'x' },
      { name: 'top/d', data: 'file' },
      { name: 'made/by/parents', data: 'first' },
      { name: 'made/by/parents', mode: SYMLINK, data: 'second' },
    ]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/"top\/link" is a symlink/);
    expect(run.stderr).toMatch(/refused "top\/d": it would replace a directory that is not empty/);
    expect(outside).toEqual(UNTOUCHED);
    expect(readFileSync(join(sandbox, 'outside/victim'), 'utf8')).toBe('untouched');
    expect(readFileSync(join(target, 'top/victim'), 'utf8')).toBe('replaced');
    expect(readFileSync(join(target, 'top/p/inner'), 'utf8')).toBe('x');
    expect(readFileSync(join(target, 'top/q'), 'utf8')).toBe('now a file');
    expect(readFileSync(join(target, 'top/d/f'), 'utf8')).toBe('x');
    expect(readlinkSync(join(target, 'made/by/parents'))).toBe('second');
  });

  it('round-trips non-UTF-8 names exactly', () => {
    const raw = Buffer.from([0x66, 0x85, 0xff, 0x20, 0x5c]);
    const { run, target } = unpack([{ name: raw, data: 'bytes' }]);
    expect(run.status).toBe(0);
    const names = readdirSync(target, { encoding: 'buffer' });
    expect(names).toEqual([raw]);
  });

  it('applies modes including set-id bits, and directory modes last', () => {
    const { run, target } = unpack([
      { name: 'ro', mode: 0o040555 },
      { name: 'ro/inside', data: 'x' },
      { name: 'suid', mode: 0o104755, data: '#!/bin/sh\n' },
      { name: 'secret', mode: 0o100600, mtime: 1_000_000, data: 's' },
    ]);
    expect(run.status).toBe(0);
    expect(lstatSync(join(target, 'ro')).mode & 0o7777).toBe(0o555);
    expect(lstatSync(join(target, 'suid')).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(target, 'secret')).mtimeMs).toBe(1_000_000_000);
  });

  it('creates FIFOs and sockets, and device nodes only as root', () => {
    const { run, target } = unpack([
      { name: 'fifo', mode: 0o010640 },
      { name: 'sock', mode: 0o140755 },
      { name: 'null', mode: 0o020666, rdevMajor: 1, rdevMinor: 3 },
    ]);
    expect(lstatSync(join(target, 'fifo')).isFIFO()).toBe(true);
    expect(lstatSync(join(target, 'fifo')).mode & 0o7777).toBe(0o640);
    expect(lstatSync(join(target, 'sock')).isSocket()).toBe(true);
    expect(readdirSync(target)).not.toContainEqual(expect.stringMatching(/initramfs-restore-node/));
    if (AS_ROOT) {
      expect(run.status).toBe(0);
      expect(lstatSync(join(target, 'null')).rdev).toBe(lstatSync('/dev/null').rdev);
    } else {
      expect(run.stderr).toMatch(/skipped "null": char device 1:3 needs root/);
    }
  });

  it('refuses an entry the filesystem rejects and goes on with the rest', () => {
    const { run, target } = unpack([
      { name: `${'L'.repeat(300)}/x`, data: 'too long' },
      { name: 'empty-target', mode: SYMLINK, data: '' },
      { name: 'after', data: 'still here' },
    ]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/refused "L+\/x": \w+ failed: ENAMETOOLONG/);
    expect(run.stderr).toMatch(/refused "empty-target": symlink failed: ENOENT/);
    expect(readFileSync(join(target, 'after'), 'utf8')).toBe('still here');
  });

  it('cuts a symlink target at its first NUL, as the kernel does', () => {
    const { run, target } = unpack([{ name: 'l', mode: SYMLINK, data: Buffer.from('tgt\0junk') }]);
    expect(run.status).toBe(0);
    expect(readlinkSync(join(target, 'l'))).toBe('tgt');
  });

  it('gives a hard-link group the data of its last link with data, truncated to it', () => {
    const { run, target } = unpack([
      { name: 'a', ino: 3, nlink: 2, data: 'A'.repeat(100) },
      { name: 'b', ino: 3, nlink: 2, data: 'B'.repeat(10) },
      { name: 'fifo1', mode: 0o010644, ino: 8, nlink: 2 },
      { name: 'fifo2', mode: 0o010644, ino: 8, nlink: 2 },
    ]);
    expect(run.status).toBe(0);
    expect(readFileSync(join(target, 'a'), 'utf8')).toBe('B'.repeat(10));
    expect(lstatSync(join(target, 'fifo1')).ino).toBe(lstatSync(join(target, 'fifo2')).ino);
  });

  it('skips a directory that carries data, as the kernel does', () => {
    const { run, target } = unpack([{ name: 'd', mode: DIR, data: 'data' }, { name: 'f', data: 'x' }]);
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/skipped "d": a dir with 4 bytes of data/);
    expect(readdirSync(target)).toEqual(['f']);
  });

  it('fails with the offset on a truncated archive, exit status 1', () => {
    const full = newcArchive([{ name: 'f', data: 'x'.repeat(1000) }]);
    const { run } = unpack(full.subarray(0, 600));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/truncated cpio archive.*at byte 600/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

/**
 * Unpacks into a target that `prepare` has made, the CLI run under `umask`, and returns each
 * name's mode, uid and gid as lstat gives them.
 */
function unpackInto(entries: FakeEntry[], prepare: (target: string) => void, umask = '022') {
  const sandbox = join(work, `case-${counter++}`);
  const target = join(sandbox, 'target');
  mkdirSync(target, { recursive: true });
  prepare(target);
  const image = join(sandbox, 'image.cpio');
  writeFileSync(image, newcArchive(entries));
  const run = spawnSync('sh', ['-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, BIN, 'unpack', image, target], { encoding: 'utf8' });
  const stat = (name: string) => {
    const st = lstatSync(join(target, name));
    return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  };
  return { run, stat };
}

// A file is made with the entry's mode less its set-id and others' write bits (a directory also
// with the owner's), and chmod and chown follow only where that and the umask, or our own owner,
// leave it short.
describe('unpack gives every name its entry\'s mode and owner, whatever the file was made with', () => {
  const modes = [0o100644, 0o100755, 0o100444, 0o100664, 0o100600, 0o106755, 0o40755, 0o40555, 0o40700, 0o40775, 0o42755, 0o41777];
  const entries = modes.map((mode) => ({ name: mode.toString(8), mode, data: mode & 0o40000 ? '' : 'x' }));

  it.each(['022', '077', '000'])('under umask %s, and for a directory that was there', (umask) => {
    const kept = { name: 'kept', mode: 0o40755 };
    const { run, stat } = unpackInto([...entries, kept], (target) => mkdirSync(join(target, 'kept'), 0o700), umask);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(modes.map((mode) => stat(mode.toString(8)).mode)).toEqual(modes.map((mode) => mode & 0o7777));
    expect(stat('kept').mode).toBe(0o755);
  });

  it.runIf(AS_ROOT)('with the entry\'s group below a set-group-id directory, ours or one that was there', () => {
    const root = { uid: 0, gid: 0 };
    const { run, stat } = unpackInto([
      { name: 'f', data: 'x', ...root },
      { name: 'd', mode: DIR, ...root },
      { name: 'd/f', data: 'x', ...root },
      { name: 'l', mode: SYMLINK, data: 'f', ...root },
      { name: 'other', data: 'x', uid: 1234, gid: 5678 },
    ], (target) => {
      chownSync(target, 0, 4321);
      chmodSync(target, 0o2755);
    });
    expect(run.stderr).toBe('');
    expect(['f', 'd', 'd/f', 'l'].map((name) => stat(name).gid)).toEqual([0, 0, 0, 0]);
    // Made in a set-group-id directory, it was set-group-id too.
    expect(stat('d').mode).toBe(0o755);
    expect(stat('other')).toMatchObject({ uid: 1234, gid: 5678, mode: 0o644 });

    const below = unpackInto([{ name: 'sub/f', data: 'x', ...root }, { name: 'f', data: 'x', ...root }], (target) => {
      mkdirSync(join(target, 'sub'));
      chownSync(join(target, 'sub'), 0, 4321);
      chmodSync(join(target, 'sub'), 0o2755);
    });
    expect(below.run.stderr).toBe('');
    expect(below.stat('sub/f').gid).toBe(0);
    expect(below.stat('f').gid).toBe(0);
  });
});

// SafeExtractor.finish applies the directories' modes and times last. Where another process
// has since put something else in a directory's place, or removed it, nothing is done through
// a symlink and nothing fails.
describe('finish, when a directory was replaced or removed after its entry', () => {
  it('touches nothing through a symlink and skips what is gone', async () => {
    const sandbox = join(work, `case-${counter++}`);
    const target = join(sandbox, 'target');
    const outside = join(sandbox, 'outside');
    mkdirSync(outside, { recursive: true });
    chmodSync(outside, 0o750);
    utimesSync(outside, 1_000, 1_000);
    const image = join(sandbox, 'image.cpio');
    const mtime = 1_600_000_000;
    writeFileSync(image, newcArchive([
      // 0777 is more than a directory is made with: chmod follows at the end.
      { name: 'wide', mode: 0o40777, mtime },
      { name: 'plain', mode: DIR, mtime },
      { name: 'gone', mode: DIR, mtime },
      { name: 'parent', mode: DIR, mtime },
      { name: 'parent/child', mode: DIR, mtime },
      { name: 'kept', mode: DIR, mtime },
    ]));
    const extractor = new SafeExtractor(target, { owners: false, devices: false });
    await walkImage(image, extractor);
    for (const name of ['wide', 'plain']) {
      rmdirSync(join(target, name));
      symlinkSync(outside, join(target, name));
    }
    rmdirSync(join(target, 'gone'));
    rmdirSync(join(target, 'parent/child'));
    rmdirSync(join(target, 'parent'));
    writeFileSync(join(target, 'parent'), 'now a file');
    extractor.finish();
    const there = lstatSync(outside);
    expect(there.mode & 0o7777).toBe(0o750);
    expect(there.mtimeMs).toBe(1_000_000);
    expect(lstatSync(join(target, 'kept')).mtimeMs).toBe(mtime * 1000);
  });
});

// An archive's names are at most PATH_MAX bytes (the parser refuses longer), but SafeExtractor
// takes entries from any caller, and the path buffers it keeps must take any name.
describe('SafeExtractor, given a name longer than any archive holds', () => {
  it('refuses it as the system call does (ENAMETOOLONG) and writes the rest', () => {
    const target = join(work, `case-${counter++}`, 'target');
    const extractor = new SafeExtractor(target, { owners: false, devices: false });
    const entry = (name: string): CpioEntry => ({
      magic: '070701', ino: 1, mode: 0o100644, uid: 0, gid: 0, nlink: 1, mtime: 0, size: 0,
      devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0, check: 0, name: Buffer.from(name), offset: 0,
    });
    for (const name of ['x'.repeat(5000), `d/${'x'.repeat(5000)}`, 'after']) {
      const e = entry(name);
      extractor.entry(e);
      extractor.entryEnd(e);
    }
    extractor.finish();
    expect(extractor.refused.map((n) => n.reason)).toEqual(['open failed: ENAMETOOLONG', 'open failed: ENAMETOOLONG']);
    expect(readdirSync(target).sort()).toEqual(['after', 'd']);
  });
});
