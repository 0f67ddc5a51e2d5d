import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cli } from './support/cli.js';
import { FIXTURES, fixtureImages, sampleImage } from './support/fixtures.js';
import { REAL_EXPECTED, realImage } from './support/real.js';
import { AS_ROOT } from './support/needs.js';
import { scratch } from './support/scratch.js';
import { HAVE_STUB, buildUki } from './support/uki.js';

/**
 * IMAGE '-': standard input. On a pipe it is read once, forward, with a bounded window; the
 * oracle is the same command on the file's path, which must print the same (but for the name,
 * and for who decoded a member: a pipe has one reader, so never a co-process). Redirected from
 * a file it is that file, read as any other.
 */
const { fresh } = scratch('irr-stdin-');

/** Our CLI with `file` on standard input as a redirection gives it: a file, not a pipe. */
function redirected(args: string[], file: string, env: Record<string, string> = {}) {
  const fd = openSync(file, 'r');
  try {
    const r = spawnSync(process.execPath, [BIN, ...args], { stdio: [fd, 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env }, maxBuffer: 1 << 30 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
  } finally {
    closeSync(fd);
  }
}

const piped = (args: string[], file: string) => cli(args, { input: readFileSync(file) });

/** Where a link in /proc points; undefined once it is gone. */
function linkOf(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/**
 * `cat - PATH` with `image` on a pipe, its temporary directory `tmp`, against `cat IMAGE PATH`:
 * the same bytes, exit status and messages, but for the image's name.
 */
function expectCatAsFromPath(image: string, path: string, tmp: string): void {
  const [run, plain] = [cli(['cat', '-', path], { input: readFileSync(image), env: { TMPDIR: tmp } }), cli(['cat', image, path])];
  expect(run.stdout.equals(plain.stdout), path).toBe(true);
  expect([run.status, run.stderr], path).toEqual([plain.status, plain.stderr.replaceAll(`${image}: `, '-: ')]);
}
const archivesOf = (out: Buffer) => (JSON.parse(out.toString()) as { archives: { decodedBy?: string }[] }).archives.map(({ decodedBy: _, ...a }) => a);

describe('an image on a pipe', () => {
  const fixtures = [sampleImage(), ...fixtureImages()];

  it('covers the fixtures', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(40);
  });

  it.each(fixtures.map((f) => [f.manifest.image, f.path] as const))('%s: list -v, examine and unpack as from its path', (_, image) => {
    const [list, plain] = [piped(['list', '-v', '-'], image), cli(['list', '-v', image])];
    expect(list.stderr).toBe('');
    expect(list.status).toBe(0);
    expect(list.stdout.equals(plain.stdout)).toBe(true);
    const examine = piped(['examine', '--json', '-'], image);
    const report = JSON.parse(examine.stdout.toString());
    expect(report.size).toBe(JSON.parse(cli(['examine', '--json', image]).stdout.toString()).size);
    expect(archivesOf(examine.stdout)).toEqual(archivesOf(cli(['examine', '--json', image]).stdout));
    expect(report.archives.every((a: { decodedBy?: string }) => a.decodedBy === undefined || a.decodedBy === 'ours')).toBe(true);
    const dir = join(fresh('unpack'), 'tree');
    const unpack = piped(['unpack', '-', dir], image);
    // As a user, both unpacks lack the same devices and owners.
    const fromPath = join(fresh('unpack'), 'tree');
    const plainUnpack = cli(['unpack', image, fromPath]);
    expect([unpack.status, unpack.stderr.toString()]).toEqual([plainUnpack.status, plainUnpack.stderr.toString().replaceAll(image, '-').replaceAll(fromPath, dir)]);
    const same = cli(['diff', dir, fromPath]);
    expect(same.stdout.toString() + same.stderr).toBe('');
    expect(same.status).toBe(0);
    if (!AS_ROOT) return;
    // As root, what unpack wrote is the image's tree itself.
    const diff = piped(['diff', dir, '-'], image);
    expect(diff.stdout.toString() + diff.stderr).toBe('');
    expect(diff.status).toBe(0);
  });

  it.each(fixtures.filter((f) => f.manifest.segments.length > 1).map((f) => [f.manifest.image, f.path] as const))('%s cut short: the same error at the same byte as from its path', (_, image) => {
    const bytes = readFileSync(image);
    const cut = join(fresh('cut'), 'cut.img');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    const [run, plain] = [piped(['list', '--in-process', '-'], cut), cli(['list', '--in-process', cut])];
    expect(plain.status).toBe(1);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(plain.stderr.replace(`${cut}: `, '-: '));
    // What was decoded before the error is listed, the same on both.
    expect(run.stdout.equals(plain.stdout)).toBe(true);
  });

  it('diff: one side from a pipe; both is a usage error', () => {
    const { path } = sampleImage();
    expect(piped(['diff', '-', path], path).status).toBe(0);
    const both = piped(['diff', '-', '-'], path);
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('diff reads standard input (-) for one side only');
  });

  /**
   * A file (a pair's first link, whose data comes with the second; one of three), a file of size
   * 0, a bigger one, one of the early archive, a directory, a symlink, a device (skipped as a
   * user), a missing path. Each fixture has some; the rest are missing there.
   */
  const CAT_PATHS = ['etc/os-release', 'links/pair-a', 'links/triple-1', 'empty', 'usr/lib/data/random.bin', 'kernel/x86/microcode/GenuineIntel.bin', 'x-pair-1', 'etc', 'bin', 'dev/char-1-3', 'no/such/file'];

  it.each(fixtures.map((f) => [f.manifest.image, f.path] as const))('%s: cat - PATH as from its path, and nothing left in TMPDIR', (_, image) => {
    const tmp = fresh('tmp');
    for (const path of CAT_PATHS) expectCatAsFromPath(image, path, tmp);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('cat: the pipe\'s spool is in TMPDIR, nameless from the start, and a redirected file needs none', async () => {
    const { path } = fixtureImages().find((f) => f.manifest.image === 'plain-newc.img')!;
    const file = 'usr/lib/data/random.bin';
    const gone = join(fresh('tmp'), 'gone');
    const failed = cli(['cat', '-', file], { input: readFileSync(path), env: { TMPDIR: gone } });
    expect(failed.status).toBe(1);
    expect(failed.stderr).toBe(`initramfs-restore: ENOENT: no such file or directory, mkdtemp '${gone}/initramfs-restore-XXXXXX'\n`);
    expect(redirected(['cat', '-', file], path, { TMPDIR: gone }).stdout.equals(readFileSync(join(FIXTURES, 'tree', file)))).toBe(true);
    // Held mid-stream (the trailer not sent yet), the run has its spool open and no name in TMPDIR.
    const tmp = fresh('tmp');
    const child = spawn(process.execPath, [BIN, 'cat', '-', file], { env: { ...process.env, TMPDIR: tmp }, stdio: ['pipe', 'ignore', 'ignore'] });
    // Killed, the run may leave some of this unread: the write then fails, as it should.
    child.stdin.on('error', () => {});
    const bytes = readFileSync(path);
    child.stdin.write(bytes.subarray(0, bytes.length - 1024));
    let spool: string | undefined;
    while (!spool) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      // A descriptor listed may be closed before its link is read (the run opens and closes its modules').
      spool = readdirSync(`/proc/${child.pid}/fd`).map((fd) => linkOf(`/proc/${child.pid}/fd/${fd}`)).find((to) => to?.startsWith(tmp));
    }
    expect(spool).toMatch(new RegExp(`^${tmp}/initramfs-restore-\\w+/data \\(deleted\\)$`));
    expect(readdirSync(tmp)).toEqual([]);
    child.kill('SIGKILL');
    await once(child, 'close');
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('a trial order reads the image once per stage: a pipe is a usage error', () => {
    const { path } = sampleImage();
    const run = piped(['unpack', '--order', 'dracut-057', '-', join(fresh('trial'), 'tree')], path);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('a trial reads the image once per stage, and standard input is a pipe');
  });

  it('a redirected file is read as the file: members decoded by their co-process', () => {
    const { path } = fixtureImages().find((f) => f.manifest.image === 'dracut-xz.img')!;
    const report = redirected(['examine', '--json', '-'], path).stdout.toString();
    expect(report).toMatch(/"decodedBy": "xz -d -c -q -T\d+"/);
    expect(report).toBe(cli(['examine', '--json', path]).stdout.toString().replace(JSON.stringify(path), '"-"'));
  });
});

describe.skipIf(!HAVE_STUB)('a UKI on standard input', () => {
  it('on a pipe: an error at byte 0 (its sections need seeking); redirected: read as the file', () => {
    const { path } = sampleImage();
    const kernel = join(fresh('linux'), 'vmlinuz');
    writeFileSync(kernel, Buffer.alloc(100, 1));
    const uki = buildUki(join(fresh('uki'), 'uki.efi'), [['.linux', kernel], ['.initrd', path]]);
    const run = piped(['list', '-'], uki);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('initramfs-restore: -: a unified kernel image on a pipe: its sections are found by seeking, so give its file (or redirect it: - < FILE) at byte 0\n');
    const ok = redirected(['list', '-'], uki);
    expect(ok.status).toBe(0);
    expect(ok.stdout.equals(cli(['list', path]).stdout)).toBe(true);
  });
});

describe.skipIf(!REAL_EXPECTED)('the real fedora-like-zstd image on a pipe', () => {
  const image = realImage('fedora-like-zstd.img');

  it('lists and unpacks as from its path', () => {
    const list = piped(['list', '-v', '-'], image);
    expect(list.status).toBe(0);
    expect(list.stdout.equals(cli(['list', '-v', image]).stdout)).toBe(true);
    const dir = join(fresh('real'), 'tree');
    expect(piped(['unpack', '-', dir], image).status).toBe(0);
    expect(cli(['diff', dir, image]).status).toBe(process.getuid?.() === 0 ? 0 : 1);
  }, 120_000);

  it('cat - PATH prints as from its path: a big firmware file, a module, a hard link, a symlink', () => {
    const tmp = fresh('tmp');
    for (const path of ['kernel/x86/microcode/GenuineIntel.bin', 'usr/lib/modules/6.1.0-57-amd64/kernel/fs/xfs/xfs.ko', 'usr/lib/systemd/system/emergency.service', 'etc/os-release']) {
      expectCatAsFromPath(image, path, tmp);
    }
    expect(readdirSync(tmp)).toEqual([]);
  }, 120_000);
});
