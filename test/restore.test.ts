import { execSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cli } from './support/cli.js';
import { FIXTURES } from './support/fixtures.js';
import { DIR, newcArchive } from './support/newc.js';
import { AS_ROOT, WHY_NOT_NATIVE, titled } from './support/needs.js';

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

/** An early microcode archive, then a zstd member with what a shutdown runs: owned by whoever runs the tests. */
function shutdownImage(): string {
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const group = { ...owner, ino: 40, nlink: 2 };
  const main = newcArchive([
    { name: 'bin', mode: DIR }, { name: 'bin/sh', mode: 0o100755, data: '#!sh\n' }, { name: 'shutdown', mode: 0o100755, data: '#!/bin/sh\nhalt\n' },
    { name: 'etc', mode: DIR }, { name: 'etc/hostname', data: 'host\n' }, { name: 'etc/sh', mode: 0o120777, data: '../bin/sh' },
    { name: 'lib', mode: DIR }, { ...group, name: 'lib/one' }, { ...group, name: 'lib/two', data: Buffer.alloc(9000, 1) },
  ].map((e) => ({ ...owner, ...e })));
  const image = join(work, `shutdown${counter++}.img`);
  writeFileSync(image, Buffer.concat([newcArchive([{ ...owner, name: 'early_cpio', data: '1' }]), execSync('zstd -c', { input: main })]));
  return image;
}

describe('restore --verify', () => {
  it('a restore verifies clean, by each flavor\'s start; so does its tree later, verified alone', () => {
    for (const flavor of ['dracut-112', 'dracut-059']) {
      const root = system({ images: { [`boot/initrd.img-${KV}`]: shutdownImage() } });
      const run = cli(['restore', '--root', root, '--kver', KV, '--flavor', flavor, '--verify']);
      expect(run.status, flavor).toBe(0);
      expect(run.stdout.toString(), flavor).toBe(`restored: ${join(root, `boot/initrd.img-${KV}`)} restored into ${root}/run/initramfs\nverified: ${root}/run/initramfs is the tree the image unpacks to\n`);
      // bin/sh shows the earlier restore: the tree is verified instead of skipped.
      const { run: again, report } = restore(root, '--flavor', flavor, '--verify');
      expect(again.status, flavor).toBe(0);
      expect(report, flavor).toMatchObject({ outcome: 'skipped', verification: { equal: true, summary: { added: 0, removed: 0, changed: 0 }, differences: [] } });
    }
  });

  it('a tree changed after the restore: each difference as diff prints it, exit 1', () => {
    const image = shutdownImage();
    const root = system({ images: { [`boot/initrd.img-${KV}`]: image } });
    expect(restore(root, '--verify').run.status).toBe(0);
    const tree = join(root, 'run/initramfs');
    writeFileSync(join(tree, 'etc/hostname'), 'HOST\n');
    execSync(`chmod 700 ${tree}/shutdown && rm ${tree}/lib/one && touch ${tree}/extra`);
    const run = cli(['restore', '--root', root, '--kver', KV, '--verify']);
    expect(run.status).toBe(1);
    const lines = run.stdout.toString().split('\n').filter(Boolean);
    expect(lines.slice(0, 2)).toEqual(['skipped: /run/initramfs/bin/sh exists: already unpacked', `verify: ${tree} differs from the image: 1 added, 1 removed, 3 changed`]);
    const differences = ['M etc/hostname: content', '+ extra', '- lib/one', 'M lib/two: hard links lib/one -> (none)', 'M shutdown: mode 0755 -> 0700'];
    expect(lines.slice(2).map((line) => line.replace(/(content) .*/, '$1'))).toEqual(differences);
    // The same lines as diff's, the image as A: dracut-112 restores it all.
    expect(lines.slice(2)).toEqual(cli(['diff', image, tree]).stdout.toString().split('\n').filter(Boolean));
    const { report } = restore(root, '--verify');
    expect(report.status).toBe(1);
    expect(report.verification.differences.map((d: { path: string; kind: string }) => `${d.kind} ${d.path}`)).toEqual(['content etc/hostname', 'added extra', 'removed lib/one', 'links lib/two', 'mode shutdown']);
  });

  it('cannot be asked with --dry-run: exit 2', () => {
    expect(cli(['restore', '--root', system(), '--dry-run', '--verify']).status).toBe(2);
  });
});

/** Every path under `root` with its size, mode and mtime: what a run that writes nothing leaves as it was. */
const snapshot = (root: string) => execSync(`find ${root} -printf '%p %s %m %T@\\n' | sort`).toString();

describe('restore --dry-run', () => {
  it('writes nothing and prints what du totals, in blocks of the target\'s filesystem, against its free space', () => {
    const image = shutdownImage();
    const root = system({ images: { [`boot/initrd.img-${KV}`]: image } });
    const before = snapshot(root);
    const { run, report } = restore(root, '--dry-run');
    expect(run.status).toBe(0);
    expect(snapshot(root)).toBe(before);
    const du = JSON.parse(cli(['du', '--json', image]).stdout.toString());
    const [blockSize] = execSync(`stat -f -c %S ${root}/run/initramfs`).toString().split(/\s+/).map(Number);
    // 112 restores every archive: the early one's 1 byte too; the hard-link group's 9000 bytes once.
    expect(report.space).toMatchObject({ dataBytes: du.bytes, files: du.files, blockSize, fits: true, filesystemOf: `${root}/run/initramfs` });
    expect(du).toMatchObject({ bytes: 1 + 5 + 15 + 5 + 9000, files: 5 });
    expect(report.space.needed).toBe((4 + Math.ceil(9000 / blockSize)) * blockSize);
    expect(report).toMatchObject({ outcome: 'measured', status: 0 });
    // 059 restores what skipcpio leaves: not the early archive.
    expect(restore(root, '--dry-run', '--flavor', 'dracut-059').report.space.dataBytes).toBe(du.bytes - 1);
    expect(snapshot(root)).toBe(before);
  });

  const whyNotTmpfs = AS_ROOT ? undefined : 'not root: a small tmpfs needs mount, in a mount namespace';
  it.skipIf(whyNotTmpfs)(titled('on a 1 MiB tmpfs: the fixture does not fit (exit 1, nothing written), a small image fits, and takes what it said', whyNotTmpfs), () => {
    const tooBig = system({ images: { [`boot/initrd.img-${KV}`]: zstdImage } });
    const small = system({ images: { [`boot/initrd.img-${KV}`]: shutdownImage() } });
    const target = (root: string) => join(root, 'run/initramfs');
    const cliArgs = (root: string, ...args: string[]) => [process.execPath, BIN, 'restore', '--root', root, '--kver', KV, '--json', ...args];
    const [no, listing, yes, restored, allocated, freeAfter] = inTmpfs([target(tooBig), target(small)], [
      cliArgs(tooBig, '--dry-run'),
      ['ls', '-A', target(tooBig)],
      cliArgs(small, '--dry-run'),
      cliArgs(small, '--verify'),
      ['find', target(small), '-type', 'f', '-printf', '%i %b\\n'],
      ['stat', '-f', '-c', '%a %S', target(small)],
    ]);
    expect(no.status).toBe(1);
    const refused = JSON.parse(no.stdout);
    // The tmpfs's 1 MiB but for the page the old shutdown takes.
    const free = (1 << 20) - refused.space.blockSize;
    expect(refused).toMatchObject({ outcome: 'measured', space: { free, fits: false } });
    expect(refused.reason).toMatch(/: it does not fit$/);
    expect(listing.stdout.split('\n').filter(Boolean).sort()).toEqual(['.need_shutdown', 'shutdown']);
    expect(yes.status).toBe(0);
    const { space } = JSON.parse(yes.stdout);
    expect(space).toMatchObject({ free, fits: true });
    expect(restored.status).toBe(0);
    // What the tmpfs allocated to the restored files, each inode once: what the dry run said it would need.
    const blocks = new Set(allocated.stdout.split('\n').filter(Boolean));
    expect([...blocks].reduce((sum, line) => sum + Number(line.split(' ')[1]) * 512, 0)).toBe(space.needed);
    // The old shutdown's page is free again: the image's replaced it.
    const [available, blockSize] = freeAfter.stdout.trim().split(' ').map(Number);
    expect(available * blockSize).toBe((1 << 20) - space.needed);
  });
});

/**
 * Runs each command in a mount namespace where each of `targets` is a new 1 MiB tmpfs holding
 * .need_shutdown and shutdown, as /run/initramfs is before a restore.
 */
function inTmpfs(targets: string[], commands: string[][]): { status: number | null; stdout: string }[] {
  const script = `
    const { spawnSync } = require('node:child_process');
    const { writeFileSync } = require('node:fs');
    const [targets, commands] = JSON.parse(process.argv[1]);
    for (const target of targets) {
      if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', target]).status !== 0) throw new Error('mount ' + target);
      writeFileSync(target + '/.need_shutdown', '');
      writeFileSync(target + '/shutdown', '#!/bin/sh\\n');
    }
    const runs = commands.map(([command, ...args]) => spawnSync(command, args, { encoding: 'utf8' }));
    process.stdout.write(JSON.stringify(runs.map((r) => ({ status: r.status, stdout: r.stdout }))));`;
  const run = spawnSync('unshare', ['--mount', process.execPath, '-e', script, JSON.stringify([targets, commands])], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`unshare: exit ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}
