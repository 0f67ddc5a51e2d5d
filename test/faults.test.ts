import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, sh } from './support/cli.js';
import { newcArchive } from './support/newc.js';

/**
 * Faults from outside the image: a full disk, a target we may not write, the image cut or
 * removed while it is read, and signals. Each must end in a clear error or in the signal's
 * exit status, never in success, and leave no staging behind.
 */
const work = mkdtempSync(join(tmpdir(), 'irr-faults-'));
const asRoot = process.getuid?.() === 0;
const mounts: string[] = [];
afterAll(() => {
  for (const dir of mounts) execFileSync('umount', [dir]);
  rmSync(work, { recursive: true, force: true });
});

/** A tmpfs of `size` at a fresh directory: a disk that fills. */
function tinyDisk(size: string): string {
  const dir = mkdtempSync(join(work, 'disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

/**
 * A gzip image of 48 MiB of incompressible data in 12 files: long enough to unpack (about half
 * a second) for a test to act while it runs.
 */
const bigImage = join(work, 'big.img');
beforeAll(() => {
  const src = join(work, 'big-src');
  mkdirSync(src);
  for (let i = 0; i < 12; i++) sh(`head -c 4M /dev/urandom > f${i}`, { cwd: src });
  sh(`ls | cpio -o -H newc --quiet | gzip -1 > ${bigImage}`, { cwd: src });
});

function start(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.resume();
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { child, done };
}

/** Polls until `ready` holds, so that a fault lands in the middle of the work. */
async function until(ready: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > end) throw new Error('the work never reached the point to interrupt');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const stagingIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.initramfs-restore-staging-')) : []);
const fileBeingWritten = (dir: string) => existsSync(join(dir, 'f0')) && statSync(join(dir, 'f0')).size > 0;

describe.skipIf(!asRoot)('a full disk (a 1 MiB tmpfs)', () => {
  it('plain archive: ENOSPC names the file being written, exit 1', () => {
    const image = join(work, 'plain-4m.img');
    writeFileSync(image, newcArchive([{ name: 'big', data: Buffer.alloc(4 << 20, 0x5a) }]));
    const run = cli(['unpack', image, join(tinyDisk('1m'), 'root')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^initramfs-restore: .*no space left on device.*writing "big"/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('compressed members: stopped by the default limit, the free space, before the disk fills', () => {
    const disk = tinyDisk('1m');
    const run = cli(['unpack', bigImage, join(disk, 'root')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/decompress to more than the \d+-byte limit \(--max-size\) at byte 0/);
    expect(run.stderr).toContain(bigImage);
  });

  it('restore leaves .need_shutdown and what /run/initramfs held, and no staging', () => {
    const root = join(work, 'sys');
    mkdirSync(join(root, 'run/initramfs'), { recursive: true });
    const runInitramfs = join(root, 'run/initramfs');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', runInitramfs]);
    mounts.push(runInitramfs);
    writeFileSync(join(runInitramfs, '.need_shutdown'), '');
    writeFileSync(join(runInitramfs, 'previous'), 'kept');
    const run = cli(['restore', '--root', root, '--image', bigImage]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/Unpacking of .* to \/run\/initramfs failed/);
    expect(readdirSync(runInitramfs).sort()).toEqual(['.need_shutdown', 'previous']);
  });
});

describe.skipIf(!asRoot)('a target we may not write (as nobody)', () => {
  it('EACCES: a clear error, exit 1', () => {
    const locked = join(work, 'locked');
    mkdirSync(locked, { mode: 0o755 });
    chmodSync(work, 0o755);
    const image = join(work, 'small.img');
    writeFileSync(image, newcArchive([{ name: 'x', data: 'x' }]));
    chmodSync(image, 0o644);
    const run = execFileSync('bash', ['-c', `setpriv --reuid=65534 --regid=65534 --clear-groups ${process.execPath} ${BIN} unpack ${image} ${locked}/root 2>&1; echo "status=$?"`], { encoding: 'utf8' });
    expect(run).toMatch(/^initramfs-restore: .*permission denied/im);
    expect(run).toMatch(/status=1$/m);
    expect(readdirSync(locked)).toEqual([]);
  });
});

describe('the image changes while it is read', () => {
  it('cut in the middle: an error with the offset, never success', async () => {
    const image = join(work, 'cut.img');
    execFileSync('cp', [bigImage, image]);
    const target = join(work, 'cut-target');
    const { done } = start(['unpack', image, target]);
    await until(() => fileBeingWritten(target));
    truncateSync(image, statSync(image).size >> 1);
    const { code, stderr } = await done;
    expect(code).toBe(1);
    expect(stderr).toMatch(/truncated .* at byte \d+/);
  });

  it('removed: the open file is read to the end, as Linux keeps it', async () => {
    const image = join(work, 'removed.img');
    execFileSync('cp', [bigImage, image]);
    const target = join(work, 'removed-target');
    const { done } = start(['unpack', image, target]);
    await until(() => fileBeingWritten(target));
    unlinkSync(image);
    const { code } = await done;
    expect(code).toBe(0);
    expect(readdirSync(target).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `f${i}`).sort());
  });
});

describe('signals', () => {
  for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`${signal} during a staged unpack: exit ${status}, the staging removed`, async () => {
      const target = join(work, `signal-${signal}`);
      const { child, done } = start(['unpack', bigImage, target, '--order', 'dracut-057']);
      await until(() => stagingIn(target).length > 0 && fileBeingWritten(join(target, stagingIn(target)[0] ?? '-')));
      child.kill(signal);
      const { code } = await done;
      expect(code).toBe(status);
      expect(readdirSync(target)).toEqual([]);
    });
  }

  it('SIGINT during a plain unpack: exit 130, not success', async () => {
    const target = join(work, 'signal-plain');
    const { child, done } = start(['unpack', bigImage, target]);
    await until(() => fileBeingWritten(target));
    child.kill('SIGINT');
    expect((await done).code).toBe(130);
  });

  it('restore ignores SIGTERM, as the script does, and finishes', async () => {
    const root = join(work, 'sigterm-sys');
    mkdirSync(join(root, 'run/initramfs'), { recursive: true });
    writeFileSync(join(root, 'run/initramfs/.need_shutdown'), '');
    const { child, done } = start(['restore', '--root', root, '--image', bigImage]);
    await until(() => stagingIn(join(root, 'run/initramfs')).length > 0);
    child.kill('SIGTERM');
    const { code, stderr } = await done;
    expect(stderr).toContain('Received SIGTERM signal, ignoring!');
    expect(code).toBe(0);
    expect(readdirSync(join(root, 'run/initramfs')).filter((n) => n.startsWith('f')).length).toBe(12);
  });
});
