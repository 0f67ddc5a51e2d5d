import { linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unescapeName } from '../src/cpio/names.js';
import { type Run, cli, sh } from './support/cli.js';
import { DIR, type FakeEntry, SYMLINK, newcArchive, newcEntry } from './support/newc.js';
import { scratch } from './support/scratch.js';

/**
 * `cat IMAGE PATH` prints what `unpack IMAGE DIR` leaves at DIR/PATH. Every case runs both and
 * compares them, and where GNU cpio extracts the same archives the same way, with what
 * `cpio -idmu` wrote too. Each case also states what it expects; most are cases a cat with rules
 * of its own (the last entry named PATH; its hard-link group's data, from one archive) got wrong.
 */
const { fresh, writeImage } = scratch('irr-cat-');

/** GNU cpio's newc archive of `names`, in that order, read below `dir`. */
function gnuArchive(dir: string, names: string[]): Buffer {
  return sh('cpio -o -H newc --quiet', { cwd: dir, input: Buffer.from(`${names.join('\n')}\n`) });
}

/** What GNU cpio extracts from the archives, one after another (it stops at a trailer). */
function gnuExtract(archives: Buffer[]): string {
  const dir = fresh('cpio');
  for (const archive of archives) sh('cpio -idmu --no-absolute-filenames --quiet', { cwd: dir, input: archive });
  return dir;
}

/**
 * Runs cat on each path and checks it against what unpack left there: a regular file's bytes
 * and exit 0; for anything else exit 1, nothing on stdout, and a message naming the image.
 * The image on a pipe, read once, gives the same, and leaves nothing in the temporary directory.
 */
function catAsUnpack(image: string, paths: string[]): Record<string, Run> {
  const dir = join(fresh('unpack'), 'target');
  cli(['unpack', image, dir]);
  const runs: Record<string, Run> = {};
  for (const path of paths) {
    const run = cli(['cat', image, path]);
    expect(catPiped(image, path), path).toEqual({ ...run, stderr: run.stderr.replaceAll(`${image}: `, '-: ') });
    const left = leftAt(dir, path);
    if (left?.isFile()) {
      expect(run.stderr, path).not.toMatch(/\n\s+at /);
      expect(run.status, path).toBe(0);
      expect(run.stdout.equals(readFileSync(join(dir, path))), path).toBe(true);
    } else {
      expect(run.status, path).toBe(1);
      expect(run.stdout.length, path).toBe(0);
      expect(run.stderr, path).toMatch(new RegExp(`^initramfs-restore: ${image}: [^\n]+\n$`));
    }
    runs[path] = run;
  }
  return runs;
}

/** `cat - PATH` with the image on a pipe, checked to leave its temporary directory empty. */
function catPiped(image: string, path: string): Run {
  const tmp = fresh('tmp');
  const run = cli(['cat', '-', path], { input: readFileSync(image), env: { TMPDIR: tmp } });
  expect(readdirSync(tmp), path).toEqual([]);
  return run;
}

/**
 * What is at `path` below `dir`, never through a symlink or `..` (they may lead out of `dir`):
 * nothing when a parent is not a directory, or when the filesystem cannot hold so long a name.
 */
function leftAt(dir: string, path: string) {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) return undefined;
  let at = dir;
  try {
    for (const [k, part] of parts.entries()) {
      at = join(at, part);
      const st = lstatSync(at, { throwIfNoEntry: false });
      if (k === parts.length - 1) return st;
      if (!st?.isDirectory()) return undefined;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG') return undefined;
    throw err;
  }
  return undefined;
}

describe('cat prints what unpack leaves at PATH', () => {
  it('gives every link of a hard-link group the data GNU cpio puts on its last link', () => {
    const tree = fresh('tree');
    writeFileSync(join(tree, 'a'), 'shared data\n');
    linkSync(join(tree, 'a'), join(tree, 'b'));
    writeFileSync(join(tree, 'c'), 'alone\n');
    const archive = gnuArchive(tree, ['a', 'b', 'c']);
    const runs = catAsUnpack(writeImage([archive]), ['a', 'b', 'c']);
    expect(runs.a.stdout.toString()).toBe('shared data\n');
    const cpio = gnuExtract([archive]);
    for (const name of ['a', 'b', 'c']) expect(runs[name].stdout.equals(readFileSync(join(cpio, name))), name).toBe(true);
  });

  it('keeps a hard-link group across archives that no TRAILER!!! separates, as unpack does', () => {
    // The first archive ends without a trailer, at the gzip member: the link table lives on.
    const image = writeImage([
      newcArchive([{ name: 'x', ino: 5, nlink: 2 }], false),
      sh('gzip -c', { input: newcArchive([{ name: 'y', ino: 5, nlink: 2, data: 'from the gzip member' }]) }),
    ]);
    const runs = catAsUnpack(image, ['x', 'y']);
    expect(runs.x.stdout.toString()).toBe('from the gzip member');
  });

  it('gives a link the data of the file now at its group\'s first name, when a later entry replaced it', () => {
    const image = writeImage([newcArchive([
      { name: 'x', ino: 5, nlink: 2 },
      { name: 'x', ino: 6, data: 'another file' },
      { name: 'y', ino: 5, nlink: 2, data: 'the last link' },
    ])]);
    const runs = catAsUnpack(image, ['x', 'y']);
    expect(runs.x.stdout.toString()).toBe('the last link');
  });

  it("never prints a name with a '..' component, nor lets its data reach the rest of its group", () => {
    // GNU cpio stores ../x as given. Extracting, it strips the ../ and so gives x the data:
    // unpack refuses the name instead, and x keeps the empty content of its first link.
    const tree = fresh('tree');
    mkdirSync(join(tree, 'sub'));
    writeFileSync(join(tree, 'x'), 'linked data\n');
    linkSync(join(tree, 'x'), join(tree, 'sub/x'));
    const image = writeImage([gnuArchive(join(tree, 'sub'), ['x', '../x'])]);
    const runs = catAsUnpack(image, ['x', '../x']);
    expect(runs.x.stdout.toString()).toBe('');
    expect(runs['../x'].stderr).toBe(`initramfs-restore: ${image}: unpack never writes ../x: the name has a '..' component\n`);
  });

  it("writes an absolute name below the target with its '/' stripped, as cpio --no-absolute-filenames does", () => {
    const tree = fresh('tree');
    writeFileSync(join(tree, 'abs'), 'absolute\n');
    writeFileSync(join(tree, 'rel'), 'relative\n');
    const archive = gnuArchive(tree, [join(tree, 'abs'), 'rel']);
    const runs = catAsUnpack(writeImage([archive]), [join(tree, 'abs'), `.${join(tree, 'abs')}`, 'rel']);
    expect(runs[join(tree, 'abs')].stdout.toString()).toBe('absolute\n');
    expect(runs[join(tree, 'abs')].stdout.equals(readFileSync(join(gnuExtract([archive]), tree, 'abs')))).toBe(true);
  });

  it('takes the last entry for a path that unpack writes, across archives', () => {
    const trees = [fresh('tree'), fresh('tree')];
    writeFileSync(join(trees[0], 'f'), 'first\n');
    writeFileSync(join(trees[1], 'f'), 'second\n');
    const archives = trees.map((tree) => gnuArchive(tree, ['f']));
    const runs = catAsUnpack(writeImage(archives), ['f']);
    expect(runs.f.stdout.toString()).toBe('second\n');
    expect(runs.f.stdout.equals(readFileSync(join(gnuExtract(archives), 'f')))).toBe(true);
  });

  it('keeps the earlier file when unpack skips or refuses the last entry for its path, and says so', () => {
    const image = writeImage([newcArchive([
      { name: 'f', data: 'kept' },
      { name: 'f', mode: DIR, data: 'a directory with data, which the kernel skips' },
      { name: 'g', data: 'kept too' },
      { name: 'g', mode: 0o170644 },
      { name: 'h', data: 'removed, then its replacement refused' },
      { name: 'h', mode: SYMLINK, data: '' },
    ])]);
    const runs = catAsUnpack(image, ['f', 'g', 'h']);
    expect(runs.f.stdout.toString()).toBe('kept');
    expect(runs.f.stderr).toMatch(/f is what an earlier entry wrote: the last entry named f, at byte \d+, was skipped: a dir with \d+ bytes of data/);
    expect(runs.g.stdout.toString()).toBe('kept too');
    expect(runs.h.stderr).toMatch(/unpack leaves nothing at h: the last entry named h, at byte \d+, was refused: symlink failed: ENOENT/);
  });

  it('treats a hard-link group split by TRAILER!!! as two groups', () => {
    const archives = [
      newcArchive([{ name: 'x', ino: 5, nlink: 3 }, { name: 'y', ino: 5, nlink: 3, data: 'first group' }]),
      newcArchive([{ name: 'z', ino: 5, nlink: 3 }, { name: 'w', ino: 5, nlink: 3, data: 'second group' }]),
    ];
    const runs = catAsUnpack(writeImage(archives), ['x', 'y', 'z', 'w']);
    expect(runs.x.stdout.toString()).toBe('first group');
    expect(runs.z.stdout.toString()).toBe('second group');
    const cpio = gnuExtract(archives);
    for (const name of ['x', 'y', 'z', 'w']) expect(runs[name].stdout.equals(readFileSync(join(cpio, name))), name).toBe(true);
  });

  it('says a file replaced by a directory is one, and that a non-empty directory is not replaced by a file', () => {
    const trees = [fresh('tree'), fresh('tree')];
    writeFileSync(join(trees[0], 'x'), 'a file first\n');
    mkdirSync(join(trees[0], 'd'));
    writeFileSync(join(trees[0], 'd/f'), 'inside d\n');
    mkdirSync(join(trees[1], 'x'));
    writeFileSync(join(trees[1], 'x/in'), 'inside x\n');
    writeFileSync(join(trees[1], 'd'), 'a file that cannot replace d\n');
    const archives = [gnuArchive(trees[0], ['x', 'd', 'd/f']), gnuArchive(trees[1], ['x', 'x/in', 'd'])];
    const image = writeImage(archives);
    const runs = catAsUnpack(image, ['x', 'x/in', 'd', 'd/f']);
    expect(runs.x.stderr).toBe(`initramfs-restore: ${image}: x is a dir, not a regular file\n`);
    expect(runs.d.stderr).toMatch(/: d is a dir, not a regular file; the last entry named d, at byte \d+, was refused: it would replace a directory that is not empty\n$/);
    const cpio = gnuExtract(archives);
    expect(lstatSync(join(cpio, 'd')).isDirectory()).toBe(true);
    for (const name of ['x/in', 'd/f']) expect(runs[name].stdout.equals(readFileSync(join(cpio, name))), name).toBe(true);
  });

  it('never prints a name unpack refuses below a symlink or a file, or one too long for the filesystem', () => {
    const long = 'L'.repeat(256);
    const image = writeImage([newcArchive([
      { name: 'l', mode: SYMLINK, data: '/etc' },
      { name: 'l/passwd', data: 'through the symlink' },
      { name: 'f', data: 'a file' },
      { name: 'f/x', data: 'below a file' },
      { name: long, data: 'too long a name' },
    ])]);
    const runs = catAsUnpack(image, ['l', 'l/passwd', 'f/x', long]);
    expect(runs.l.stderr).toMatch(/: l is a symlink -> \/etc, not a regular file\n$/);
    expect(runs['l/passwd'].stderr).toMatch(/was refused: "l" is a symlink: nothing is written through a symlink\n$/);
    expect(runs['f/x'].stderr).toMatch(/was refused: "f" is not a directory\n$/);
    expect(runs[long].stderr).toMatch(/was refused: open failed: ENAMETOOLONG\n$/);
  });

  it('from a pipe, keeps only the latest data to land at PATH, and says so when a link joined PATH after its data went by', () => {
    const before: FakeEntry[] = [{ name: 'f', data: 'a first version, longer than the second' }, { name: 'b', data: 'an older b' }];
    const image = writeImage([newcArchive([
      ...before,
      { name: 'a', ino: 5, nlink: 2, data: 'on the first link' },
      { name: 'f', data: 'short' },
      { name: 'b', ino: 5, nlink: 2 },
    ])]);
    const runs = catAsUnpack(image, ['f', 'a']);
    expect(runs.f.stdout.toString()).toBe('short');
    expect(runs.a.stdout.toString()).toBe('on the first link');
    // The data b holds came with a, before b was its name: the pipe's spool holds the older b.
    expect(cli(['cat', image, 'b']).stdout.toString()).toBe('on the first link');
    const piped = catPiped(image, 'b');
    expect(piped.status).toBe(1);
    expect(piped.stdout.length).toBe(0);
    const offset = Buffer.concat(before.map((e) => newcEntry(e))).length;
    expect(piped.stderr).toBe(`initramfs-restore: -: b holds the data of "a", at byte ${offset}, which went by before b was linked to it; a pipe is read once: give the file, or redirect it (- < FILE)\n`);
  });

  it('from a pipe, names the data a link joined after it went by when a file not of the group had replaced its first name', () => {
    // w joins whatever is at its group's first name, x: the file of ino 9 (nlink 1) by then.
    const first: FakeEntry = { name: 'x', ino: 5, nlink: 2 };
    const image = writeImage([newcArchive([first, { name: 'x', ino: 9, data: 'the replacement' }, { name: 'w', ino: 5, nlink: 2 }])]);
    expect(cli(['cat', image, 'w']).stdout.toString()).toBe('the replacement');
    const piped = catPiped(image, 'w');
    expect(piped.status).toBe(1);
    expect(piped.stderr).toBe(`initramfs-restore: -: w holds the data of "x", at byte ${newcEntry(first).length}, which went by before w was linked to it; a pipe is read once: give the file, or redirect it (- < FILE)\n`);
  });

  it('takes PATH as list prints it with --escaped: a name that is not UTF-8, which no argument carries, and a backslash', () => {
    const latin1 = Buffer.from('etc/caf\xe9', 'latin1');
    const image = writeImage([newcArchive([{ name: 'etc', mode: DIR }, { name: latin1, data: 'latin1' }, { name: 'etc/a\\x41', data: 'backslash' }, { name: 'etc/aA', data: 'A' }])]);
    const listed = cli(['list', image]).stdout.toString().trim().split('\n');
    expect(listed).toEqual(['etc', 'etc/caf\\xe9', 'etc/a\\\\x41', 'etc/aA']);
    const dir = join(fresh('unpack'), 'target');
    cli(['unpack', image, dir]);
    for (const name of listed.slice(1)) {
      const run = cli(['cat', '--escaped', image, name]);
      expect(run.status, name).toBe(0);
      expect(run.stdout, name).toEqual(readFileSync(Buffer.from(`${dir}/${unescapeName(name).toString('latin1')}`, 'latin1')));
    }
    // Without it, PATH is its bytes: a backslash is itself.
    expect(cli(['cat', image, 'etc/a\\x41']).stdout.toString()).toBe('backslash');
    expect(cli(['cat', '--escaped', image, 'etc/a\\x41']).stdout.toString()).toBe('A');
    const bad = cli(['cat', '--escaped', image, 'etc/a\\b']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--escaped: "etc\/a\\b" has a backslash that is neither/);
  });

  it('names the offset inside a compressed member', () => {
    const before: FakeEntry[] = [{ name: 'pad', data: 'x'.repeat(100) }, { name: 'd', mode: DIR }, { name: 'd/f' }];
    const early = newcArchive([{ name: 'early', data: 'e' }]);
    const image = writeImage([early, sh('zstd -qc', { input: newcArchive([...before, { name: 'd', data: 'file' }]) })]);
    const offset = Buffer.concat(before.map((e) => newcEntry(e))).length;
    const runs = catAsUnpack(image, ['d']);
    expect(runs.d.stderr).toMatch(new RegExp(`the last entry named d, at byte ${offset} of the zstd stream at byte ${early.length}, was refused`));
  });
});
