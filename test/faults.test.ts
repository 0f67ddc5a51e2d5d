import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BIN, cli, sh } from './support/cli.js';
import { newcArchive } from './support/newc.js';
import { AS_ROOT, titled } from './support/needs.js';
import { listPaths } from './support/tree.js';

/**
 * Faults from outside the image: a full disk, a target we may not write, the image cut or
 * removed while it is read, and signals. Each must end in a clear error or in the signal's
 * exit status, never in success, and leave no staging behind.
 */
const work = mkdtempSync(join(tmpdir(), 'irr-faults-'));
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

/** A gzip image of 96 MiB of incompressible data in 24 files: a run for a test to act in. */
const bigImage = join(work, 'big.img');
const FILES = 24;
/** The same in lz4's legacy format, which our own decoder reads in the main thread. */
const bigLz4Image = join(work, 'big-lz4.img');
beforeAll(() => {
  const src = join(work, 'big-src');
  mkdirSync(src);
  for (let i = 0; i < FILES; i++) sh(`head -c 4M /dev/urandom > f${i}`, { cwd: src });
  sh(`ls | cpio -o -H newc --quiet | gzip -1 > ${bigImage}`, { cwd: src });
  sh(`ls | cpio -o -H newc --quiet | lz4 -l -1 > ${bigLz4Image}`, { cwd: src });
});

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** The CLI with `args`, `stdinFrom`'s bytes on a pipe as its standard input, if given. */
function start(args: string[], stdinFrom?: string): { child: ChildProcess; done: Promise<Ended> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: [stdinFrom ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  if (stdinFrom) {
    // The child may stop reading for good: what it leaves unread does not matter.
    child.stdin!.on('error', () => {});
    createReadStream(stdinFrom).pipe(child.stdin!);
  }
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.resume();
  const done = new Promise<Ended>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  return { child, done };
}

/**
 * Polls until `ready` holds, then stops the child (SIGSTOP), so that the fault lands in the
 * middle of the work however loaded the machine is; `resume` lets it go on.
 */
async function pauseWhen(child: ChildProcess, ready: () => boolean, ms = 60_000): Promise<{ resume: () => void }> {
  const end = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > end || child.exitCode !== null) throw new Error('the work never reached the point to interrupt');
    await new Promise((r) => setTimeout(r, 2));
  }
  child.kill('SIGSTOP');
  return { resume: () => child.kill('SIGCONT') };
}

const stagingIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.initramfs-restore-staging-')) : []);
const fileBeingWritten = (dir: string) => existsSync(join(dir, 'f0')) && statSync(join(dir, 'f0')).size > 0;

describe.skipIf(!AS_ROOT)(titled('a full disk (a 1 MiB tmpfs)', AS_ROOT ? undefined : 'not root: it mounts the tmpfs'), () => {
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
    expect(run.stderr).toMatch(/decompress to more than the \d+-byte limit \(--max-size[^)]*\) at byte 0/);
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

describe.skipIf(!AS_ROOT)(titled('a target we may not write (as nobody)', AS_ROOT ? undefined : 'not root: it runs as nobody'), () => {
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

describe('a target mkdir(2) cannot make', () => {
  it('ENOENT under a parent that exists (/proc/self/x), a file on the way, a file there: an error, exit 1, no hang', () => {
    const image = join(work, 'small.img');
    writeFileSync(image, newcArchive([{ name: 'a', data: 'a' }]));
    const file = join(work, 'a-file');
    writeFileSync(file, '');
    const cases: [string[], RegExp][] = [
      [['unpack', image, '/proc/self/x'], /ENOENT: no such file or directory, mkdir '\/proc\/self\/x'/],
      [['unpack', image, '/proc/self/x', '--order', 'dracut-057'], /ENOENT: no such file or directory, mkdir '\/proc\/self\/x'/],
      [['unpack', image, join(file, 'x')], /ENOTDIR: not a directory, mkdir/],
      [['unpack', image, file], /EEXIST: file already exists, mkdir/],
    ];
    const dangling = join(work, 'dangling');
    symlinkSync(join(work, 'nowhere'), dangling);
    cases.push([['unpack', image, dangling], /EEXIST: file already exists, mkdir/]);
    for (const [args, words] of cases) {
      const run = cli(args, { timeout: 20_000 });
      expect(run.status, args.join(' ')).toBe(1);
      expect(run.stderr.toString()).toMatch(words);
    }
    // `.` and `..` on the way, as mkdir -p takes them: a trial makes its target as given (its
    // chain then finds nothing after skipcpio in a plain image).
    for (const target of [`${work}/made/../there`, `${work}/made/./here`]) {
      const run = cli(['unpack', image, target, '--order', 'dracut-057']);
      expect(run.stderr.toString(), target).not.toMatch(/mkdir/);
      expect(run.stdout.toString(), target).toContain(`Unpacking of ${image} to ${target} failed`);
      expect(statSync(target).isDirectory(), target).toBe(true);
    }
  });
});

describe('the image changes while it is read', () => {
  it('cut in the middle: an error with the offset, never success', async () => {
    const image = join(work, 'cut.img');
    execFileSync('cp', [bigImage, image]);
    const target = join(work, 'cut-target');
    const { child, done } = start(['unpack', image, target]);
    const paused = await pauseWhen(child, () => fileBeingWritten(target));
    truncateSync(image, statSync(image).size >> 1);
    paused.resume();
    const { code, stderr } = await done;
    expect(code).toBe(1);
    expect(stderr).toMatch(/truncated .* at byte \d+/);
  });

  it('removed: the open file is read to the end, as Linux keeps it', async () => {
    const image = join(work, 'removed.img');
    execFileSync('cp', [bigImage, image]);
    const target = join(work, 'removed-target');
    const { child, done } = start(['unpack', image, target]);
    const paused = await pauseWhen(child, () => fileBeingWritten(target));
    unlinkSync(image);
    paused.resume();
    const { code } = await done;
    expect(code).toBe(0);
    expect(readdirSync(target).sort()).toEqual(Array.from({ length: FILES }, (_, i) => `f${i}`).sort());
  });
});

describe('signals', () => {
  /**
   * Delivered while the child is stopped, so that it lands mid-work, then handled on SIGCONT;
   * the child stays stopped `holdMs` first.
   */
  const interrupt = async (child: ChildProcess, signal: NodeJS.Signals, ready: () => boolean, holdMs = 0) => {
    const paused = await pauseWhen(child, ready);
    child.kill(signal);
    await new Promise((r) => setTimeout(r, holdMs));
    paused.resume();
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} during a staged unpack: the run ends by the signal, the staging removed`, async () => {
      const target = join(work, `signal-${signal}`);
      const { child, done } = start(['unpack', bigImage, target, '--order', 'dracut-057']);
      await interrupt(child, signal, () => stagingIn(target).length > 0 && fileBeingWritten(join(target, stagingIn(target)[0] ?? '-')));
      expect(await done).toMatchObject({ code: null, signal });
      expect(readdirSync(target)).toEqual([]);
    });
  }

  it('SIGINT during a plain unpack: ended by the signal, not success', async () => {
    const target = join(work, 'signal-plain');
    const { child, done } = start(['unpack', bigImage, target]);
    await interrupt(child, 'SIGINT', () => fileBeingWritten(target));
    expect(await done).toMatchObject({ code: null, signal: 'SIGINT' });
  });

  // Our decoders run synchronously in the main thread; they let the event loop turn, or the
  // signal would wait for the whole member and the run would finish. They do so once 50 ms
  // have passed since the last turn (src/decode/turn.ts): the child is held stopped longer than
  // that, for our lz4 decodes the whole image in less.
  for (const [how, args, stdinFrom] of [
    ['from its path', ['unpack', '--in-process', bigLz4Image], undefined],
    ['from a pipe', ['unpack', '-'], bigLz4Image],
  ] as const) {
    it(`SIGINT while our lz4 decoder reads the image ${how}: ended by the signal`, async () => {
      // The whole image takes some 100 ms: on a loaded machine the poll may see the first file
      // only as the run ends, and a signal then lands after its last turn (a CI run finished
      // with status 0). The stop must land with most files still to come, or the run is made again.
      for (let attempt = 1; ; attempt++) {
        const target = join(work, `signal-lz4-${stdinFrom ? 'pipe' : 'path'}-${attempt}`);
        const { child, done } = start([...args, target], stdinFrom);
        let early = false;
        const ready = (): boolean => {
          if (!fileBeingWritten(target)) return false;
          early = readdirSync(target).length <= FILES / 2;
          return true;
        };
        await interrupt(child, 'SIGINT', ready, 100);
        const ended = await done;
        if (!early && attempt < 5) continue;
        expect(early).toBe(true);
        expect(ended).toMatchObject({ code: null, signal: 'SIGINT' });
        expect(readdirSync(target).length).toBeLessThan(FILES);
        return;
      }
    });
  }

  it('SIGTERM during a native trial: the pipeline is stopped too, nothing writes on', async () => {
    const target = join(work, 'signal-native');
    const { child, done } = start(['unpack', bigImage, target, '--order', 'gzip', '--engine', 'native']);
    await interrupt(child, 'SIGTERM', () => fileBeingWritten(target));
    expect(await done).toMatchObject({ code: null, signal: 'SIGTERM' });
    const settled = listPaths(target).join();
    await new Promise((r) => setTimeout(r, 500));
    expect(listPaths(target).join()).toBe(settled);
    expect(sh('ps -eo args').toString()).not.toContain(bigImage);
  });

  it('restore ignores SIGTERM, as the script does, and finishes', async () => {
    const root = join(work, 'sigterm-sys');
    mkdirSync(join(root, 'run/initramfs'), { recursive: true });
    writeFileSync(join(root, 'run/initramfs/.need_shutdown'), '');
    const { child, done } = start(['restore', '--root', root, '--image', bigImage]);
    await interrupt(child, 'SIGTERM', () => stagingIn(join(root, 'run/initramfs')).length > 0);
    const { code, stderr } = await done;
    expect(stderr).toContain('Received SIGTERM signal, ignoring!');
    expect(code).toBe(0);
    expect(readdirSync(join(root, 'run/initramfs')).filter((n) => n.startsWith('f')).length).toBe(FILES);
  });

  it('a run in process leaves no handler behind: a library user may run many', async () => {
    const { main } = await import('../src/cli/main.js');
    const listeners = () => ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s));
    const before = listeners();
    const quiet = [vi.spyOn(process.stdout, 'write').mockImplementation(() => true), vi.spyOn(process.stderr, 'write').mockImplementation(() => true)];
    try {
      const image = join(work, 'in-process.img');
      writeFileSync(image, newcArchive([{ name: 'a', data: 'a' }]));
      for (const argv of [['list', image], ['examine', image], ['list', join(work, 'no-such.img')]]) {
        await main(argv);
        expect(listeners()).toEqual(before);
      }
    } finally {
      for (const spy of quiet) spy.mockRestore();
    }
  });
});
