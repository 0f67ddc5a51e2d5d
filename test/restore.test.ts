import { execSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cli } from './support/cli.js';
import { FIXTURES } from './support/fixtures.js';
import { DIR, newcArchive } from './support/newc.js';

/** dracut-initramfs-restore's flow under a scratch root. */
const work = mkdtempSync(join(tmpdir(), 'irr-restore-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const KV = '6.1.0-test';
let counter = 0;

function system(options: { needShutdown?: boolean; machineId?: string; images?: Record<string, string | Buffer> } = {}): string {
  const root = join(work, `root${counter++}`);
  mkdirSync(join(root, 'run/initramfs'), { recursive: true });
  mkdirSync(join(root, 'etc'));
  if (options.needShutdown !== false) writeFileSync(join(root, 'run/initramfs/.need_shutdown'), '');
  writeFileSync(join(root, 'run/initramfs/shutdown'), '#!/bin/sh\n');
  if (options.machineId !== undefined) writeFileSync(join(root, 'etc/machine-id'), `${options.machineId}\n`);
  for (const [rel, source] of Object.entries(options.images ?? {})) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    if (Buffer.isBuffer(source)) writeFileSync(join(root, rel), source);
    else copyFileSync(source, join(root, rel));
  }
  return root;
}

const restore = (root: string, ...args: string[]) => {
  const run = cli(['restore', '--root', root, '--kver', KV, '--json', ...args]);
  return { run, report: JSON.parse(run.stdout.toString() || '{}') };
};
const zstdImage = join(FIXTURES, 'dracut-zstd.img');

describe('restore', () => {
  it('does nothing when /run/initramfs/bin/sh exists or .need_shutdown does not', () => {
    const done = system({ images: { [`boot/initrd.img-${KV}`]: zstdImage, 'run/initramfs/bin/sh': Buffer.from('') } });
    expect(restore(done).report).toMatchObject({ status: 0, outcome: 'skipped' });
    const unasked = system({ needShutdown: false, images: { [`boot/initrd.img-${KV}`]: zstdImage } });
    expect(restore(unasked).report).toMatchObject({ status: 0, outcome: 'skipped' });
    expect(readdirSync(join(unasked, 'run/initramfs'))).toEqual(['shutdown']);
  });

  it('restores the main archives, removes .need_shutdown and keeps shutdown', () => {
    const root = system({ machineId: 'abc', images: { [`boot/initrd.img-${KV}`]: zstdImage } });
    const { run, report } = restore(root);
    expect(run.status).toBe(0);
    expect(report).toMatchObject({ outcome: 'restored', imageChosenBy: `/boot/initrd.img-${KV}`, machineId: 'abc' });
    const tree = readdirSync(join(root, 'run/initramfs'));
    expect(tree).toContain('shutdown');
    expect(tree).not.toContain('.need_shutdown');
    // skipcpio's part: the early microcode archive is not restored.
    expect(tree).not.toContain('early_cpio');
    expect(tree.some((n) => n.startsWith('.initramfs-restore'))).toBe(false);
  });

  it('finds the image by the boot loader spec first, only where it exists', () => {
    const root = system({
      machineId: 'abc',
      images: { [`boot/abc/${KV}/initrd`]: zstdImage, [`lib/modules/${KV}/initrd`]: zstdImage, [`boot/initramfs-${KV}.img`]: zstdImage },
    });
    mkdirSync(join(root, 'efi/abc'), { recursive: true });
    expect(restore(root).report.imageChosenBy).toBe(`/boot/abc/${KV}/initrd`);
    const modules = system({ images: { [`lib/modules/${KV}/initrd`]: zstdImage, [`boot/initramfs-${KV}.img`]: zstdImage } });
    expect(restore(modules).report.imageChosenBy).toBe(`/lib/modules/${KV}/initrd`);
    const fedora = system({ images: { [`boot/initramfs-${KV}.img`]: zstdImage } });
    expect(restore(fedora).report.imageChosenBy).toBe(`/boot/initramfs-${KV}.img`);
  });

  it('uses "Default" as the machine id where dracut does', () => {
    const uninitialized = system({ machineId: 'uninitialized', images: { [`efi/Default/${KV}/initrd`]: zstdImage } });
    expect(restore(uninitialized).report).toMatchObject({ machineId: 'Default', imageChosenBy: `/efi/Default/${KV}/initrd` });
    const withDir = system({ machineId: 'abc', images: { [`boot/Default/${KV}/initrd`]: zstdImage } });
    expect(restore(withDir).report.machineId).toBe('Default');
  });

  it('fails when no image is found, exit status 1', () => {
    const root = system();
    const run = cli(['restore', '--root', root, '--kver', KV]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/No initramfs image found to restore!/);
  });

  it('on failure says so, removes shutdown, keeps .need_shutdown and leaves no half tree', () => {
    const broken = readFileSync(zstdImage);
    broken.fill(0x41, broken.length - 200);
    const root = system({ images: { [`boot/initrd.img-${KV}`]: broken } });
    const run = cli(['restore', '--root', root, '--kver', KV]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`Unpacking of ${join(root, `boot/initrd.img-${KV}`)} to /run/initramfs failed`);
    expect(readdirSync(join(root, 'run/initramfs'))).toEqual(['.need_shutdown']);
    expect(readdirSync(join(root, 'run')).filter((n) => n.startsWith('.initramfs-restore'))).toEqual([]);
  });

  it('restores a lone uncompressed archive by magic, where dracut\'s chain fails (dracut-ng #2255)', () => {
    const lone = newcArchive([{ name: 'etc', mode: DIR }, { name: 'etc/lone', data: 'x' }]);
    const root = system({ images: { [`boot/initrd.img-${KV}`]: lone } });
    expect(restore(root).report.outcome).toBe('restored');
    expect(existsSync(join(root, 'run/initramfs/etc/lone'))).toBe(true);
    const again = system({ images: { [`boot/initrd.img-${KV}`]: lone } });
    const trial = restore(again, '--order', 'dracut-057');
    expect(trial.run.status).toBe(1);
    expect(trial.report.outcome).toBe('failed');
  });

  it('runs the trial chain with either engine', () => {
    for (const engine of ['builtin', 'native']) {
      const root = system({ images: { [`boot/initrd.img-${KV}`]: join(FIXTURES, 'dracut-xz.img') } });
      const { run, report } = restore(root, '--order', 'dracut-057', '--engine', engine);
      expect(run.status).toBe(0);
      expect(report.trial.winner).toBe('xz');
      expect(existsSync(join(root, 'run/initramfs/.need_shutdown'))).toBe(false);
    }
  });

  it("passes the native pipelines' console output through as its own stderr, as the console gets it at shutdown", () => {
    const root = system({ images: { [`boot/initrd.img-${KV}`]: zstdImage } });
    const run = cli(['restore', '--root', root, '--kver', KV, '--order', 'dracut-056', '--engine', 'native']);
    expect(run.status).toBe(0);
    // The plain stage's cpio, sliding through zstd bytes.
    expect(run.stderr).toMatch(/^cpio: /m);
    const quiet = system({ images: { [`boot/initrd.img-${KV}`]: zstdImage } });
    expect(cli(['restore', '--root', quiet, '--kver', KV, '--order', 'zstd', '--engine', 'native']).stderr).not.toMatch(/^cpio: /m);
  });

  it('moves nothing when one move cannot succeed: a non-empty directory where the image has a file', () => {
    // An early archive for skipcpio to skip, then the main one.
    const image = Buffer.concat([newcArchive([{ name: 'early_cpio', data: '1' }]), newcArchive([{ name: 'a', data: 'new' }, { name: 'init', data: 'file' }, { name: 'z', data: 'new' }])]);
    const root = system({ images: { [`boot/initrd.img-${KV}`]: image, 'run/initramfs/init/keep': Buffer.from('old') } });
    for (const order of [[], ['--order', 'plain']]) {
      const { run, report } = restore(root, ...order);
      expect(run.status).toBe(1);
      // By magic the reason says it; in the trial chain, the plain stage's reason does.
      expect(JSON.stringify(report)).toMatch(/run\/initramfs\/init\\" is a directory that is not empty/);
      expect(readdirSync(join(root, 'run/initramfs')).sort()).toEqual(['.need_shutdown', 'init']);
      expect(readFileSync(join(root, 'run/initramfs/init/keep'), 'utf8')).toBe('old');
    }
  });

  it('ignores SIGTERM while it runs, as the script does', async () => {
    // A large member, so that the signal arrives while it is being unpacked.
    const big = join(work, 'big.img');
    writeFileSync(big, Buffer.concat([newcArchive([{ name: 'early_cpio', data: '1' }]), Buffer.alloc(12),
      execSync('gzip -1c', { input: newcArchive([{ name: 'big', data: Buffer.alloc(300 << 20, 7) }]), maxBuffer: 1 << 30 })]));
    const root = system({ images: { [`boot/initrd.img-${KV}`]: big } });
    const child = spawn(process.execPath, [BIN, 'restore', '--root', root, '--kver', KV]);
    const closed = new Promise((done) => child.on('close', (code) => done(code)));
    let stderr = '';
    await new Promise<void>((started) => child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.includes('restoring')) started();
    }));
    child.kill('SIGTERM');
    expect(await closed).toBe(0);
    expect(stderr).toMatch(/Received SIGTERM signal, ignoring!/);
    expect(existsSync(join(root, 'run/initramfs/.need_shutdown'))).toBe(false);
  });

  it('says clearly when the image needs unsquashfs and it is missing', () => {
    const squashy = newcArchive([{ name: 'squash', mode: DIR }, { name: 'squash-root.img', data: 'not really' }]);
    const image = join(work, 'squash.img');
    writeFileSync(image, Buffer.concat([newcArchive([{ name: 'early_cpio', data: '1' }]), Buffer.alloc(12), execSync('gzip -c', { input: squashy })]));
    const root = system({ images: { [`boot/initrd.img-${KV}`]: image } });
    const run = cli(['restore', '--root', root, '--kver', KV]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/failed to unpack squash-root\.img/);
    expect(existsSync(join(root, 'run/initramfs/shutdown'))).toBe(false);
  });
});
