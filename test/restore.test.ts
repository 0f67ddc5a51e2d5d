import { execSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cli } from './support/cli.js';
import { FIXTURES } from './support/fixtures.js';
import { DIR, newcArchive } from './support/newc.js';
import { WHY_NOT_NATIVE, titled } from './support/needs.js';

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
const haveTool = (name: string) => spawnSync('bash', ['-c', `command -v ${name}`]).status === 0;

describe('restore', () => {
  it('does nothing when /run/initramfs/bin/sh exists or .need_shutdown does not', () => {
    const done = system({ images: { [`boot/initrd.img-${KV}`]: zstdImage, 'run/initramfs/bin/sh': Buffer.from('') } });
    expect(restore(done).report).toMatchObject({ status: 0, outcome: 'skipped' });
    const unasked = system({ needShutdown: false, images: { [`boot/initrd.img-${KV}`]: zstdImage } });
    expect(restore(unasked).report).toMatchObject({ status: 0, outcome: 'skipped' });
    expect(readdirSync(join(unasked, 'run/initramfs'))).toEqual(['shutdown']);
  });

  it('restores what the flavor restores, removes .need_shutdown and keeps shutdown', () => {
    // 059 (and 106): the archives its chain gets from skipcpio; the early microcode is not restored.
    const old = system({ machineId: 'abc', images: { [`boot/initrd.img-${KV}`]: zstdImage } });
    const { run, report } = restore(old, '--flavor', 'dracut-059');
    expect(run.status).toBe(0);
    expect(report).toMatchObject({ outcome: 'restored', flavor: 'dracut-059', imageChosenBy: `/boot/initrd.img-${KV}`, machineId: 'abc' });
    const tree = readdirSync(join(old, 'run/initramfs'));
    expect(tree).toContain('shutdown');
    expect(tree).not.toContain('.need_shutdown');
    expect(tree).not.toContain('early_cpio');
    expect(tree.some((n) => n.startsWith('.initramfs-restore'))).toBe(false);
    // 112, the default: every archive, as 3cpio and extractinitrd read them; found by its glob.
    const ng = system({ machineId: 'abc', images: { [`boot/initrd.img-${KV}`]: zstdImage } });
    expect(restore(ng).report).toMatchObject({ outcome: 'restored', flavor: 'dracut-112', imageChosenBy: `/boot/initr*${KV}*` });
    expect(readdirSync(join(ng, 'run/initramfs'))).toEqual(expect.arrayContaining(['early_cpio', 'shutdown']));
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

  it.skipIf(WHY_NOT_NATIVE !== undefined)(titled('runs the trial chain with either engine', WHY_NOT_NATIVE), () => {
    for (const engine of ['builtin', 'native']) {
      const root = system({ images: { [`boot/initrd.img-${KV}`]: join(FIXTURES, 'dracut-xz.img') } });
      const { run, report } = restore(root, '--order', 'dracut-057', '--engine', engine);
      expect(run.status).toBe(0);
      expect(report.trial.winner).toBe('xz');
      expect(existsSync(join(root, 'run/initramfs/.need_shutdown'))).toBe(false);
    }
  });

  it.skipIf(WHY_NOT_NATIVE !== undefined)(titled("passes the native pipelines' console output through as its own stderr, as the console gets it at shutdown", WHY_NOT_NATIVE), () => {
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

  // Each run fails on its image's tool, which must then be missing (squashfs-tools, erofs-utils).
  it.skipIf(haveTool('unsquashfs') || haveTool('fsck.erofs'))('says clearly when the root image needs its tool and the tool is missing, per flavor', () => {
    const withRootImage = (entries: Parameters<typeof newcArchive>[0]) => {
      const image = join(work, `root-image${counter++}.img`);
      writeFileSync(image, Buffer.concat([newcArchive([{ name: 'early_cpio', data: '1' }]), Buffer.alloc(12), execSync('gzip -c', { input: newcArchive(entries) })]));
      return image;
    };
    const cases = [
      { flavor: 'dracut-059', entries: [{ name: 'squash', mode: DIR }, { name: 'squash-root.img', data: 'not really' }], says: /failed to unpack squash-root\.img/, tool: /unsquashfs/ },
      { flavor: 'dracut-112', entries: [{ name: 'squashfs-root.img', data: 'not really' }], says: /failed to unpack squash-root\.img/, tool: /unsquashfs/ },
      { flavor: 'dracut-106', entries: [{ name: 'erofs-root.img', data: 'not really' }], says: /failed to unpack erofs-root\.img/, tool: /fsck\.erofs/ },
    ];
    for (const { flavor, entries, says, tool } of cases) {
      const root = system({ images: { [`boot/initrd.img-${KV}`]: withRootImage(entries) } });
      const run = cli(['restore', '--root', root, '--kver', KV, '--flavor', flavor]);
      expect(run.status, flavor).toBe(1);
      expect(run.stderr, flavor).toMatch(says);
      expect(run.stderr, flavor).toMatch(tool);
      expect(existsSync(join(root, 'run/initramfs/shutdown')), flavor).toBe(false);
    }
    // 059 knows nothing of squashfs-root.img or erofs-root.img: it leaves them as they are.
    const old = system({ images: { [`boot/initrd.img-${KV}`]: withRootImage([{ name: 'erofs-root.img', data: 'x' }]) } });
    expect(cli(['restore', '--root', old, '--kver', KV, '--flavor', 'dracut-059']).status).toBe(0);
  });

  it('relabels with setfiles when SELinux is configured: 059 always then, 106 and 112 only when the kernel runs it', () => {
    const setup = (lsm?: string) => {
      const root = system({ images: { [`boot/initrd.img-${KV}`]: zstdImage } });
      mkdirSync(join(root, 'etc/selinux'), { recursive: true });
      writeFileSync(join(root, 'etc/selinux/config'), 'SELINUX=enforcing\nSELINUXTYPE=targeted\n');
      mkdirSync(join(root, 'usr/sbin'), { recursive: true });
      // A setfiles that says how it was called, and fails so that the restore reports it.
      writeFileSync(join(root, 'usr/sbin/setfiles'), '#!/bin/sh\necho "setfiles $*" >&2\nexit 3\n', { mode: 0o755 });
      if (lsm !== undefined) {
        mkdirSync(join(root, 'sys/kernel/security'), { recursive: true });
        writeFileSync(join(root, 'sys/kernel/security/lsm'), lsm);
      }
      return root;
    };
    const old = setup();
    const relabelled = restore(old, '--flavor', 'dracut-059').report;
    expect(relabelled).toMatchObject({ status: 1, outcome: 'failed' });
    expect(relabelled.reason).toBe(`setfiles failed: exit status 3: setfiles -v -r ${old}/run/initramfs ${old}/etc/selinux/targeted/contexts/files/file_contexts ${old}/run/initramfs`);
    expect(restore(setup('lockdown,capability,apparmor'), '--flavor', 'dracut-112').report.status).toBe(0);
    expect(restore(setup('lockdown,capability,selinux'), '--flavor', 'dracut-112').report.reason).toMatch(/^setfiles failed/);
  });
});
