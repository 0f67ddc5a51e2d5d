import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, cli, sh } from './support/cli.js';
import { realistic } from './support/data.js';
import { newcArchive } from './support/newc.js';
import { zstdBlocks } from './support/zstd.js';
import { FormatError } from '../src/errors.js';

const work = mkdtempSync(join(tmpdir(), 'irr-coproc-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const BUILD = `${ROOT}test-images/build`;
/** lbzip2 runs a thread per core, 4 at most. */
const LBZIP2 = `lbzip2 -d -c -n ${Math.min(4, availableParallelism())}`;

/** PATH with `command` replaced by `script` (or without it when script is undefined). */
function pathWith(name: string, command: string, script?: string): string {
  const bin = join(work, name);
  mkdirSync(bin, { recursive: true });
  for (const tool of ['sh', 'dd', 'mkfifo', 'mknod', 'gzip', 'xz', 'lz4', 'lzop', 'bzip2', 'lbzip2', 'zstd'].filter((t) => t !== command)) {
    const found = sh(`command -v ${tool} || true`).toString().trim();
    if (found) sh(`ln -sf ${found} ${bin}/${tool}`);
  }
  if (script !== undefined) {
    writeFileSync(join(bin, command), `#!/bin/sh\n${script}\n`);
    chmodSync(join(bin, command), 0o755);
  }
  return bin;
}

/** Walks `path`, its entries ignored: with `saveMemory` as diff and repack walk (zstd, lz4 and lzop by their commands), with `inProcess` by ours alone. */
async function walk(path: string, options: { saveMemory?: boolean; inProcess?: boolean; maxOutput?: number }) {
  const { walkImage } = await import('../src/image/walk.js');
  const ignore = { entry() {}, data() {}, entryEnd() {}, trailer() {} };
  return walkImage(path, ignore, options);
}

/** How a walk fails: its words and its byte. */
async function walkFailure(path: string, options: { saveMemory?: boolean; inProcess?: boolean }): Promise<[string, number]> {
  const err = await walk(path, options).then(() => expect.fail(`${path}: the walk did not fail`), (e: unknown) => e);
  expect(err).toBeInstanceOf(FormatError);
  return [(err as FormatError).message, (err as FormatError).offset];
}

const PEAK_HOOK = join(work, 'peak-rss.mjs');
writeFileSync(PEAK_HOOK, "process.on('exit', () => { const fs = process.getBuiltinModule('node:fs'); fs.writeFileSync(process.env.PEAK_RSS_TO, /VmHWM:\\s*(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'latin1'))[1]); });\n");

/**
 * `list` of `path`: its status, stderr, and its own peak RSS in KiB, not a co-process's: VmHWM
 * at its exit, not getrusage's maxRSS, which keeps the peak of the process that forked it (the test's).
 */
function listWithPeak(path: string, args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string; peakKb: number } {
  const report = join(work, 'peak-rss');
  rmSync(report, { force: true });
  const r = spawnSync(process.execPath, ['--import', PEAK_HOOK, BIN, 'list', ...args, path], { env: { ...process.env, PEAK_RSS_TO: report, ...env }, maxBuffer: 1 << 30 });
  return { status: r.status, stderr: r.stderr.toString(), peakKb: Number(readFileSync(report, 'latin1')) };
}

/** That no process has `path` open, within 5 s: a stopped command ends on SIGPIPE or SIGKILL. */
async function expectNoReaderLeft(path: string): Promise<void> {
  const readersLeft = (): boolean => readdirSync('/proc').filter((pid) => /^\d+$/.test(pid)).some((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`) === path);
    } catch {
      return false;
    }
  });
  for (let i = 0; i < 50 && readersLeft(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(readersLeft()).toBe(false);
}

function examineJson(args: string[], env?: Record<string, string>) {
  const run = cli(['examine', '--json', ...args], { env });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout.toString()) as { archives: { format: string; decodedBy?: string; entries: number; start: number; end: number }[] };
}

describe('members decoded by their CLI as a co-process', () => {
  it('lists what our own decoders do, and says which one ran', () => {
    const COMMAND: Record<string, RegExp> = { xz: /^xz -d -c -q -T\d+$/, bzip2: new RegExp(`^${LBZIP2}$`) };
    // zstd and lz4 are decoded by ours here (the next test).
    const images = [
      'order-xz-zstd-newc.img', 'order-bzip2-lzop-zstd.img',
      'dracut-xz.img', 'stream3-pad-xz.img', 'trailing-zeros-xz.img', 'order-gzip-xz.img',
      'dracut-bzip2.img', 'single-bzip2.img', 'pad-5-bzip2.img',
    ];
    for (const image of images) {
      const path = join(BUILD, image);
      const fast = cli(['list', '-v', path]);
      const ours = cli(['list', '-v', '--in-process', path]);
      expect(fast.status).toBe(0);
      expect(fast.stdout.length).toBeGreaterThan(0);
      expect(fast.stdout.equals(ours.stdout)).toBe(true);
      const decoded = examineJson([path]).archives.filter((s) => s.format !== 'cpio');
      expect(decoded.some((s) => COMMAND[s.format])).toBe(true);
      expect(decoded.every((s) => (COMMAND[s.format] ?? /^ours$/).test(s.decodedBy ?? ''))).toBe(true);
      expect(examineJson(['--in-process', path]).archives.filter((s) => s.format !== 'cpio').every((s) => s.decodedBy === 'ours')).toBe(true);
    }
  });

  it.each([
    ['lz4', 'dracut-lz4-legacy.img'],
    ['lzop', 'dracut-lzop.img'],
    ['zstd', 'dracut-zstd.img'],
  ])('decodes %s by ours, but by its command where the walk holds more (diff, repack)', (command, image) => {
    const path = join(BUILD, image);
    const log = join(work, `${command}-runs.log`);
    const found = sh(`command -v ${command}`).toString().trim();
    const bin = pathWith(`logged-${command}`, command, `echo "$*" >> ${log}\nexec ${found} "$@"`);
    const runs = (args: string[]): string[] => {
      rmSync(log, { force: true });
      const run = cli(args, { env: { PATH: bin } });
      expect(run.status, run.stderr.toString()).toBe(0);
      return readdirSync(work).includes(`${command}-runs.log`) ? readFileSync(log, 'latin1').trim().split('\n') : [];
    };
    expect(runs(['list', path])).toEqual([]);
    expect(runs(['examine', path])).toEqual([]);
    expect(runs(['unpack', path, join(work, `${command}-unpacked`)])).toEqual([]);
    expect(runs(['diff', path, path])).toEqual(['-d -c -q', '-d -c -q']);
    expect(runs(['repack', path, join(work, `${command}-repacked.img`), '--compress', 'none']).filter((r) => r === '-d -c -q').length).toBe(2);
  });

  it.each([
    ['lzop', ['dracut-lzop.img', 'single-lzop.img', 'pad-6-lzop.img', 'order-bzip2-lzop-zstd.img']],
    ['zstd', ['dracut-zstd.img', 'dracut-zstd-long.img', 'order-newc-newc-zstd.img', 'pad-511-zstd.img', 'order-xz-zstd-newc.img']],
  ])('walks %s images through its command where a walk saves memory, to the same archives as ours', async (format, images) => {
    for (const image of images) {
      const path = join(BUILD, image);
      const [byCommand, ours] = [await walk(path, { saveMemory: true }), await walk(path, { inProcess: true })];
      const members = byCommand.archives.filter((a) => a.format === format);
      expect(members.length, image).toBeGreaterThan(0);
      expect(members.every((a) => a.decodedBy === `${format} -d -c -q`), image).toBe(true);
      const withoutDecoder = (archives: typeof ours.archives) => archives.map(({ decodedBy: _, ...a }) => a);
      expect(withoutDecoder(byCommand.archives), image).toEqual(withoutDecoder(ours.archives));
    }
  });

  it('decodes a zstd frame by zstd -d where its window is over 4 MiB, by ours up to 4 MiB', () => {
    const archive = newcArchive([{ name: 'a', data: realistic(300_000, 3) }, { name: 'b', data: 'end' }]);
    // From a pipe, zstd declares its level's whole window and no size; from a file, a single segment of the content's size.
    const frames: [string, string, string][] = [
      ['-15 from a pipe (4 MiB)', 'zstd -q -15 -c', 'ours'],
      ['-19 from a pipe (8 MiB)', 'zstd -q -19 -c', 'zstd -d -c -q'],
      ['--long=27 from a pipe (128 MiB)', 'zstd -q -3 --long=27 -c', 'zstd -d -c -q'],
      ['-19 from a file (one segment, 0.3 MB)', `zstd -q -19 -c ${join(work, 'archive.cpio')}`, 'ours'],
    ];
    writeFileSync(join(work, 'archive.cpio'), archive);
    for (const [label, command, decodedBy] of frames) {
      const path = join(work, 'window.img');
      writeFileSync(path, sh(command, { input: archive }));
      const [member] = examineJson([path]).archives;
      expect([member.format, member.decodedBy], label).toEqual(['zstd', decodedBy]);
      expect(examineJson(['--in-process', path]).archives[0].decodedBy, label).toBe('ours');
      const unpacked = join(work, 'window-unpacked');
      rmSync(unpacked, { recursive: true, force: true });
      expect(cli(['unpack', path, unpacked]).status, label).toBe(0);
      expect(readFileSync(join(unpacked, 'b'), 'latin1'), label).toBe('end');
      // Without zstd on PATH, ours decodes it.
      const withoutZstd = cli(['examine', '--json', path], { env: { PATH: pathWith('no-zstd', 'zstd') } });
      expect(JSON.parse(withoutZstd.stdout.toString()).archives[0].decodedBy, label).toBe('ours');
    }
  });

  it("reads the window a zstd frame's header declares as zstd -lv does", async () => {
    const { zstdWindowBytes } = await import('../src/decode/zstd.js');
    const { ByteSource } = await import('../src/decode/source.js');
    const data = realistic(3 << 20, 11);
    writeFileSync(join(work, 'data.bin'), data);
    const made = [
      'zstd -q -1 -c', 'zstd -q -15 -c', 'zstd -q -19 -c', 'zstd -q -3 --long=24 -c', 'zstd -q -3 --long=27 -c', 'zstd -q --ultra -22 -c',
      `zstd -q -1 -c ${join(work, 'data.bin')}`, `zstd -q -19 -c ${join(work, 'data.bin')}`, `zstd -q -3 --long=20 -c ${join(work, 'data.bin')}`,
    ];
    // Headers zstd does not write: a window's eighths, every size of content size field, a dictionary ID.
    const frame = (descriptor: number, ...rest: number[]) =>
      Buffer.from([0x28, 0xb5, 0x2f, 0xfd, descriptor, ...rest, 0x19, 0, 0, 0x61, 0x62, 0x63]); // then one raw block, 'abc'
    const headers = [
      frame(0x00, (10 << 3) | 3),
      frame(0x40, (12 << 3) | 5, 0x10, 0x00),
      frame(0x80, 7, 0x00, 0x00, 0x10, 0x00),
      frame(0x20, 200),
      frame(0xc1, (20 << 3) | 1, 0x07, 0, 0, 0, 0, 1, 0, 0, 0),
    ];
    const bytes = (line: string | undefined) => (line === undefined ? Infinity : Number(/\((\d+) B\)/.exec(line)![1]));
    for (const command of [...made, ...headers]) {
      const path = join(work, 'window.zst');
      writeFileSync(path, typeof command === 'string' ? sh(command, { input: data }) : command);
      const lines = sh(`zstd -lv ${path}`).toString().split('\n');
      const window = bytes(lines.find((l) => l.startsWith('Window Size:')));
      const content = bytes(lines.find((l) => l.startsWith('Decompressed Size:')));
      const src = ByteSource.open(path);
      try {
        expect(zstdWindowBytes(src), typeof command === 'string' ? command : command.toString('hex')).toBe(Math.min(window, content));
      } finally {
        src.close();
      }
    }
  });

  it("reads the image a second time for cat only up to the file it prints", () => {
    const path = join(BUILD, 'dracut-xz.img');
    const log = join(work, 'xz-runs.log');
    const xz = sh('command -v xz').toString().trim();
    const bin = pathWith('logged-xz', 'xz', `echo run >> ${log}\nexec ${xz} "$@"`);
    const unpacked = join(work, 'xz-unpacked');
    expect(cli(['unpack', path, unpacked]).status).toBe(0);
    const runs = (file: string): number => {
      rmSync(log, { force: true });
      const run = cli(['cat', path, file], { env: { PATH: bin } });
      expect(run.status, run.stderr.toString()).toBe(0);
      expect(run.stdout.equals(readFileSync(join(unpacked, file))), file).toBe(true);
      return readFileSync(log, 'latin1').trim().split('\n').length;
    };
    // Each pass decodes the xz member where it reaches it: the first always does.
    expect(runs('kernel/x86/microcode/GenuineIntel.bin')).toBe(1);
    expect(runs('etc/secret')).toBe(2);
  });

  it('hands the command the member alone: what follows it is walked as the kernel does', async () => {
    // zstd -d reads gzip too and stops at no frame boundary: given the rest of the image it
    // would decode the gzip member into the zstd member's archive.
    const zst = sh('zstd -qc', { input: newcArchive([{ name: 'a', data: 'from zstd' }]) });
    const gz = sh('gzip -c', { input: newcArchive([{ name: 'b', data: 'from gzip' }]) });
    const path = join(work, 'zstd-then-gzip.img');
    writeFileSync(path, Buffer.concat([zst, Buffer.alloc(5), gz]));
    const { archives } = await walk(path, { saveMemory: true });
    expect(archives.map((a) => [a.format, a.entries, a.decodedBy])).toEqual([['zstd', 1, 'zstd -d -c -q'], ['gzip', 1, 'ours']]);
    expect(archives[0].end).toBe(zst.length);
    expect(examineJson([path]).archives.map((a) => [a.format, a.entries, a.end])).toEqual(archives.map((a) => [a.format, a.entries, a.end]));
    const out = join(work, 'zg');
    expect(cli(['unpack', path, out]).status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['a', 'b']);
  });

  it('cuts a bzip2 member at its end-of-stream: lbzip2 would run on into the next stream', () => {
    const first = sh('bzip2 -c', { input: newcArchive([{ name: 'a', data: 'first stream' }]) });
    const second = sh('bzip2 -c', { input: newcArchive([{ name: 'b', data: 'second stream' }]) });
    const path = join(work, 'bzip2-twice.img');
    writeFileSync(path, Buffer.concat([first, second]));
    const { archives } = examineJson([path]);
    expect(archives.map((a) => [a.format, a.entries, a.decodedBy, a.end])).toEqual([
      ['bzip2', 1, LBZIP2, first.length],
      ['bzip2', 1, LBZIP2, first.length + second.length],
    ]);
  });

  it('leaves to our decoder an xz chain with a filter before LZMA2: the kernel reads BCJ, not delta, which xz itself would', () => {
    const archive = newcArchive([{ name: 'a', data: 'filtered' }]);
    const lzma2 = join(work, 'lzma2-blocks.img');
    writeFileSync(lzma2, sh('xz -T2 --block-size=64 -c', { input: newcArchive([{ name: 'a', data: 'q'.repeat(1000) }]) }));
    expect(examineJson([lzma2]).archives.map((s) => s.decodedBy)).toEqual([`xz -d -c -q -T${Math.min(availableParallelism(), 4)}`]);
    const path = join(work, 'filtered.img');
    writeFileSync(path, sh('xz --x86 --lzma2 -c', { input: archive }));
    expect(examineJson([path]).archives.map((s) => [s.decodedBy, s.entries])).toEqual([['ours', 1]]);
    writeFileSync(path, sh('xz --delta=dist=1 --lzma2 -c', { input: archive }));
    expect(sh(`xz -dc ${path}`).equals(archive)).toBe(true);
    const run = cli(['examine', path]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('unsupported xz filter 0x03 (delta)');
    expect(run.stderr).toBe(cli(['examine', '--in-process', path]).stderr);
  });

  it('finds where an xz stream ends by its block headers where they record their sizes, else by its footer', () => {
    const words = Array.from({ length: 40_000 }, (_, i) => `w${(i * 7919) % 3001}`).join(' ');
    const archive = newcArchive([{ name: 'a', data: words }, { name: 'b', data: 'q'.repeat(70_000) }]);
    const gz = sh('gzip -c', { input: newcArchive([{ name: 'c', data: 'after the xz stream' }]) });
    // -T2 records each block's sizes in its header (many blocks), -T1 records none.
    for (const xzArgs of ['-T2 --block-size=16KiB', '-T1 --check=crc64']) {
      const xz = sh(`xz ${xzArgs} --lzma2=dict=1MiB -c`, { input: archive });
      const path = join(work, 'xz-then-gzip.img');
      writeFileSync(path, Buffer.concat([xz, Buffer.alloc(8), gz]));
      const { archives } = examineJson([path]);
      expect(archives.map((a) => [a.format, a.entries, a.end])).toEqual([['xz', 2, xz.length], ['gzip', 1, xz.length + 8 + gz.length]]);
      expect(archives[0].decodedBy).toMatch(/^xz -d -c -q -T\d+$/);
      expect(cli(['list', '-v', path]).stdout.equals(cli(['list', '-v', '--in-process', path]).stdout)).toBe(true);
    }
  });

  it('gives xz a thread per core where its blocks record their sizes and fit in 40 MiB of threads, else one', () => {
    const entries = (count: number, size: number) =>
      newcArchive(Array.from({ length: count }, (_, i) => ({ name: `f${i}`, data: Buffer.alloc(size, i) })));
    const decoded = (name: string, xz: string, input: Buffer): string | undefined => {
      const path = join(work, name);
      writeFileSync(path, sh(xz, { input }));
      expect(cli(['list', path]).stdout.equals(cli(['list', '--in-process', path]).stdout)).toBe(true);
      return examineJson([path]).archives[0].decodedBy;
    };
    // A thread holds twice a block's output, its input and the dictionary: 1.4 MiB here
    // (200 KiB blocks of a few hundred bytes each), 28 fit.
    const small = entries(8, 100_000);
    expect(decoded('xz-small-blocks.img', 'xz -T2 --block-size=200KiB --lzma2=dict=1MiB -c', small)).toBe(`xz -d -c -q -T${Math.min(availableParallelism(), 28)}`);
    // Compressed on one thread, no header records a size: xz decodes on one whatever -T says.
    expect(decoded('xz-no-sizes.img', 'xz -T1 --lzma2=dict=1MiB -c', small)).toBe('xz -d -c -q -T1');
    // 16 MiB blocks: over 32 MiB a thread, one fits.
    expect(decoded('xz-big-blocks.img', 'xz -T2 --block-size=16MiB --lzma2=dict=1MiB -c', entries(3, 8 << 20))).toBe('xz -d -c -q -T1');
    // 8 MiB blocks with the default 8 MiB dictionary: about 24 MiB a thread, one fits.
    expect(decoded('xz-mid-blocks.img', 'xz -T2 --block-size=8MiB -c', entries(3, 8 << 20))).toBe('xz -d -c -q -T1');
    // 4 MiB blocks and a 1 MiB dictionary: about 9 MiB a thread, four fit.
    expect(decoded('xz-4m-blocks.img', 'xz -T2 --block-size=4MiB --lzma2=dict=1MiB -c', entries(3, 8 << 20))).toBe(`xz -d -c -q -T${Math.min(availableParallelism(), 4)}`);
  });

  it('falls back to our decoder where xz is missing, where it fails, and where no FIFO can be made', () => {
    const path = join(BUILD, 'dracut-xz.img');
    const expected = cli(['list', '--json', '--in-process', path]).stdout;
    expect(examineJson([path]).archives.filter((s) => s.format === 'xz').every((s) => /^xz -d /.test(s.decodedBy ?? ''))).toBe(true);
    const missing = pathWith('no-xz', 'xz');
    const failing = pathWith('failing-xz', 'xz', 'head -c 1000; echo "xz: broken on purpose" >&2; exit 1');
    const envs: Record<string, string>[] = [{ PATH: missing }, { PATH: failing }, { TMPDIR: join(work, 'no-such-dir') }];
    for (const env of envs) {
      expect(cli(['list', '--json', path], { env }).stdout.equals(expected)).toBe(true);
      expect(examineJson([path], env).archives.filter((s) => s.format === 'xz').every((s) => s.decodedBy === 'ours')).toBe(true);
    }
  });

  it('reports a corrupt zstd member as our decoder does: same words, same byte', async () => {
    const zst = sh('zstd -qc --check', { input: newcArchive([{ name: 'a', data: 'x'.repeat(5000) }, { name: 'b', data: 'y'.repeat(300) }]) });
    const bad = Buffer.from(zst);
    bad[bad.length - 2] ^= 0xff; // the frame checksum
    const path = join(work, 'bad-checksum.img');
    writeFileSync(path, bad);
    const byCommand = await walkFailure(path, { saveMemory: true });
    expect(byCommand[0]).toMatch(/checksum/);
    expect(byCommand).toEqual(await walkFailure(path, { inProcess: true }));
    const run = cli(['examine', path]);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`initramfs-restore: ${path}: ${byCommand[0]} at byte ${byCommand[1]}\n`);
  });

  /**
   * The zstd frame `zst` with its first block's data spoilt and its fourth block header of the reserved type; and where
   * its second block starts.
   */
  function spoiltThenRefused(zst: Buffer): { bad: Buffer; secondBlock: number } {
    const headers = zstdBlocks(zst).map((b) => b.at);
    expect(headers.length).toBeGreaterThan(3);
    const bad = Buffer.from(zst);
    bad.fill(0xff, headers[0] + 3 + 20, headers[1]);
    bad.writeUIntLE(bad.readUIntLE(headers[3], 3) | 0b110, headers[3], 3);
    return { bad, secondBlock: headers[1] };
  }

  it('reports a zstd member whose framing is wrong as our decoder does, where its data goes wrong first', async () => {
    const { zstdMemberEnd } = await import('../src/decode/zstd.js');
    const { ByteSource } = await import('../src/decode/source.js');
    const { bad, secondBlock } = spoiltThenRefused(sh('zstd -qc -3', { input: newcArchive([{ name: 'a', data: realistic(1 << 20, 9) }]) }));
    const path = join(work, 'bad-data-then-framing.img');
    writeFileSync(path, bad);
    expect(() => zstdMemberEnd(ByteSource.open(path, 512))).toThrow('zstd block of the reserved type');
    const inProcess = await walkFailure(path, { inProcess: true });
    expect(inProcess[0]).toMatch(/^corrupt zstd data: /);
    expect(inProcess[1]).toBeLessThan(secondBlock);
    expect(await walkFailure(path, { saveMemory: true })).toEqual(inProcess);
  });

  it('reports the framing of a zstd member whose window is over 4 MiB as it finds it: ours would hold the window', async () => {
    const { bad } = spoiltThenRefused(sh('zstd -qc -19', { input: newcArchive([{ name: 'a', data: realistic(1 << 20, 9) }]) }));
    const path = join(work, 'large-bad-data-then-framing.img');
    writeFileSync(path, bad);
    expect((await walkFailure(path, {}))[0]).toBe('zstd block of the reserved type');
    expect((await walkFailure(path, { inProcess: true }))[0]).toMatch(/^corrupt zstd data: /);
  });

  it("hands on what zstd -d makes of a zstd member whose window is over 4 MiB up to where its framing stops, then the framing's error", () => {
    const files = Array.from({ length: 40 }, (_, i) => ({ name: `f${String(i).padStart(2, '0')}`, data: realistic(50_000, i + 1) }));
    const zst = sh('zstd -q -3 --long=27 -c', { input: newcArchive(files) });
    const blocks = zstdBlocks(zst);
    const middle = blocks[blocks.length >> 1];
    const reserved = Buffer.from(zst);
    reserved.writeUIntLE(reserved.readUIntLE(middle.at, 3) | 0b110, middle.at, 3);
    const cases: [string, Buffer, RegExp][] = [
      ['cut', zst.subarray(0, middle.contentAt + 100), /: truncated zstd block: /],
      ['reserved', reserved, /: zstd block of the reserved type at byte /],
    ];
    for (const [name, bad, words] of cases) {
      const path = join(work, `large-${name}.img`);
      writeFileSync(path, bad);
      const byCommand = cli(['list', path]);
      const inProcess = cli(['list', '--in-process', path]);
      expect(byCommand.status).toBe(1);
      expect(byCommand.stderr.toString()).toMatch(words);
      expect(byCommand.stderr.toString()).toBe(inProcess.stderr.toString());
      // zstd -d writes whole buffers of 128 KiB before an error: ours in process hands on all the bytes before it.
      const listed = byCommand.stdout.toString();
      expect(listed).toBe(spawnSync('sh', ['-c', `zstd -dc < ${path} 2>/dev/null | cpio -t --quiet 2>/dev/null`]).stdout.toString());
      expect(inProcess.stdout.toString().startsWith(listed), name).toBe(true);
      expect(listed.split('\n').length, name).toBeGreaterThan(10);
    }
  });

  it("reports a zstd member whose window is over 4 MiB by zstd -d's refusal, where its output stops, without holding the window", () => {
    // 90 MB of zeros at --long=27 from a pipe: a 128 MiB window, of which a decoder holds all 90 MB by the last block.
    const archive = newcArchive([{ name: 'zeros', data: Buffer.alloc(90_000_000) }, { name: 'end', data: 'end' }]);
    const zst = sh('zstd -q -3 --long=27 -c', { input: archive });
    const last = zstdBlocks(zst).findLast((b) => b.contentSize > 1)!;
    const spoilt = Buffer.from(zst).fill(0xff, last.contentAt, last.contentAt + last.contentSize);
    const path = join(work, 'large-window-spoilt.img');
    writeFileSync(path, spoilt);
    const list = (args: string[], env: Record<string, string> = {}) => listWithPeak(path, args, env);
    const refused = list([]);
    expect(refused.status).toBe(1);
    const stopped = /^initramfs-restore: .*: zstd -d -c -q exited with status 1: .+; its output stops at byte (\d+) of the zstd stream at byte 0\n$/.exec(refused.stderr);
    expect(stopped, refused.stderr).not.toBeNull();
    expect(Number(stopped![1])).toBeGreaterThan(80_000_000);
    expect(Number(stopped![1])).toBeLessThan(archive.length);
    expect(refused.peakKb).toBeLessThanOrEqual(64 * 1024);
    // Ours names the compressed byte, and holds the window for it: so it does where zstd -d was killed, not refused.
    const ours = list(['--in-process']);
    expect(ours.stderr).toMatch(/: corrupt zstd data: (?!zstd -d).+ at byte \d+\n$/);
    expect(ours.peakKb).toBeGreaterThan(64 * 1024);
    const zstd = sh('command -v zstd').toString().trim();
    const killed = { PATH: pathWith('killed-zstd', 'zstd', `${zstd} "$@"; kill -KILL $$`) };
    expect(list([], killed).stderr).toBe(ours.stderr);
    // Padded, the member goes to zstd through dd and a pipe: the shell says status 137 for the kill.
    const padded = join(work, 'large-window-spoilt-padded.img');
    writeFileSync(padded, Buffer.concat([spoilt, Buffer.alloc(4)]));
    expect(listWithPeak(padded, [], killed).stderr).toBe(ours.stderr.replace(path, padded));
  });

  it('decodes an lzma member whose ring would be over 4 MiB by xz --single-stream, which finds where it ends; a smaller one by ours', () => {
    const archive = newcArchive([{ name: 'a', data: realistic(300_000, 5) }, { name: 'b', data: 'end' }]);
    const gz = sh('gzip -c', { input: newcArchive([{ name: 'c', data: 'after the lzma member' }]) });
    const lzmaCommand = 'xz -d -c -q --format=lzma --single-stream';
    // From a pipe, as dracut compresses: no size in the header, an end marker.
    const members: [string, string, string][] = [
      ['-6 (8 MiB)', 'xz --format=lzma -6 -c', lzmaCommand],
      ['-9 (64 MiB)', 'xz --format=lzma -9 -c', lzmaCommand],
      ['a 4 MiB dictionary', 'xz --format=lzma --lzma1=preset=6,dict=4MiB -c', 'ours'],
    ];
    for (const [label, command, decodedBy] of members) {
      const lzma = sh(command, { input: archive });
      const path = join(work, 'lzma-then-gzip.img');
      writeFileSync(path, Buffer.concat([lzma, Buffer.alloc(4), gz]));
      const rows = (archives: ReturnType<typeof examineJson>['archives']) => archives.map((a) => [a.format, a.start, a.end, a.entries]);
      const expected = [['lzma', 0, lzma.length, 2], ['gzip', lzma.length + 4, lzma.length + 4 + gz.length, 1]];
      const { archives } = examineJson([path]);
      expect(rows(archives), label).toEqual(expected);
      expect(archives.map((a) => a.decodedBy), label).toEqual([decodedBy, 'ours']);
      expect(cli(['list', '-v', path]).stdout.equals(cli(['list', '-v', '--in-process', path]).stdout), label).toBe(true);
      // Without xz, and with one that does not leave its input at the member's end: one that
      // reads it through a pipe, one that decodes nothing, whose end the walk took again and again.
      const [cat, xz] = ['cat', 'xz'].map((tool) => sh(`command -v ${tool}`).toString().trim());
      for (const [name, script] of [['no-xz', undefined], ['piped-xz', `${cat} | ${xz} "$@"`], ['idle-xz', 'exit 0']]) {
        const other = examineJson([path], { PATH: pathWith(name!, 'xz', script) }).archives;
        expect([rows(other), other[0].decodedBy], `${label}, ${name}`).toEqual([expected, 'ours']);
      }
    }
  });

  it('reads which lzma members xz reads as the kernel does, and the ring ours would hold for them', async () => {
    const { lzmaCommandRing } = await import('../src/decode/lzma.js');
    const { ByteSource } = await import('../src/decode/source.js');
    const header = (props: number, dict: number, size: bigint) => {
      const h = Buffer.alloc(13);
      h[0] = props;
      h.writeUInt32LE(dict, 1);
      h.writeBigUInt64LE(size, 5);
      return h;
    };
    const unknown = 0xffff_ffff_ffff_ffffn;
    const cases: [string, Buffer, number][] = [
      ['8 MiB, no size', header(0x5d, 8 << 20, unknown), 8 << 20],
      ['64 KiB, no size: a chunk of 1 MiB at least', header(0x5d, 64 << 10, unknown), 1 << 20],
      ['a size given', header(0x5d, 8 << 20, 10_000_000n), 0],
      ['lc 4 and lp 1', header(4 + 9 * 1, 8 << 20, unknown), 0],
      ['lc 3 and lp 1', header(3 + 9 * 1, 8 << 20, unknown), 8 << 20],
      ['12 MiB, 2^23 + 2^22', header(0x5d, 12 << 20, unknown), 12 << 20],
      ['10 MiB, which xz takes for another format', header(0x5d, 10 << 20, unknown), 0],
      ['a properties byte out of range', header(225, 8 << 20, unknown), 0],
      ['a dictionary over 128 MiB', header(0x5d, (128 << 20) + 1, unknown), 0],
    ];
    for (const [label, bytes, ring] of cases) {
      const path = join(work, 'lzma-header.bin');
      writeFileSync(path, bytes);
      const src = ByteSource.open(path);
      try {
        expect(lzmaCommandRing(src), label).toBe(ring);
      } finally {
        src.close();
      }
    }
  });

  it('lists a large lzma member by xz in our 64 MiB, and where xz refuses it, as our decoder does', () => {
    // 90 MB of zeros at -9: a 64 MiB dictionary, all of it held by the end.
    const archive = newcArchive([{ name: 'zeros', data: Buffer.alloc(90_000_000) }, { name: 'end', data: 'end' }]);
    const lzma = sh('xz --format=lzma -9 -c', { input: archive });
    const path = join(work, 'large-lzma.img');
    writeFileSync(path, lzma);
    const byXz = listWithPeak(path, []);
    expect([byXz.status, byXz.stderr]).toEqual([0, '']);
    expect(byXz.peakKb).toBeLessThanOrEqual(64 * 1024);
    expect(listWithPeak(path, ['--in-process']).peakKb).toBeGreaterThan(64 * 1024);
    // xz refuses more than the kernel's decoder does: ours has the last word.
    const spoilt = Buffer.from(lzma);
    spoilt.fill(0x55, lzma.length >> 1, (lzma.length >> 1) + 16);
    writeFileSync(path, spoilt);
    const refused = listWithPeak(path, []);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe(listWithPeak(path, ['--in-process']).stderr);
  });

  it('reports a corrupt block of an xz stream decoded on several threads as our decoder does', () => {
    let seed = 1;
    const words = Array.from({ length: 60_000 }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), `w${seed % 5000}`)).join(' ');
    const xz = sh('xz -T2 --block-size=64KiB --check=crc32 --lzma2=dict=1MiB -c', { input: newcArchive([{ name: 'a', data: words }]) });
    const path = join(work, 'bad-xz-block.img');
    writeFileSync(path, xz);
    // 64 KiB blocks of about 18 KiB: a thread per core.
    const threads = Number(/^xz -d -c -q -T(\d+)$/.exec(examineJson([path]).archives[0].decodedBy ?? '')?.[1]);
    expect(threads > 1).toBe(availableParallelism() > 1);
    const bad = Buffer.from(xz);
    bad[Math.floor(bad.length * 0.6)] ^= 0x55;
    writeFileSync(path, bad);
    const fast = cli(['examine', path]);
    expect(fast.status).toBe(1);
    expect(fast.stderr).toMatch(/xz/);
    expect(fast.stderr).toBe(cli(['examine', '--in-process', path]).stderr);
  });

  it('stops the command at the size limit, leaving no process behind', async () => {
    // One entry of 64 MiB of zeros; the limit is 1 MiB.
    const zst = sh('zstd -qc', { input: newcArchive([{ name: 'big', data: Buffer.alloc(64 << 20) }]) });
    // zstd reads the image itself where the member ends it, dd where padding follows.
    for (const [name, image] of [['bomb.img', zst], ['bomb-padded.img', Buffer.concat([zst, Buffer.alloc(4)])]] as const) {
      const path = join(work, name);
      writeFileSync(path, image);
      const limited = walk(path, { saveMemory: true, maxOutput: 1 << 20 });
      await expect(limited).rejects.toThrow(/decompress to more than the 1048576-byte limit/);
      await expectNoReaderLeft(path);
    }
  });
  it('stops the command it started ahead of the member\'s end where the framing fails', async () => {
    // 8 MiB of output, more than the FIFO holds: unread, the command waits on it.
    const zst = sh('zstd -qc --check', { input: newcArchive([{ name: 'big', data: Buffer.alloc(8 << 20, 7) }]) });
    const path = join(work, 'cut-checksum.img');
    writeFileSync(path, zst.subarray(0, zst.length - 2));
    await expect(walk(path, { saveMemory: true })).rejects.toThrow(/zstd/);
    await expectNoReaderLeft(path);
  });
});

describe('how far a co-process has read', () => {
  // 24 MiB of output taken slowly, far more than the FIFO holds: the command reads its input a
  // part at a time as its output is taken, and the offsets between are what a progress bar shows.
  const zst = sh('zstd -qc -1', { input: realistic(24 << 20, 3) });
  it.each([
    ['the member ends the file: the command reads it itself', zst],
    ['padding follows: dd reads it and feeds the command', Buffer.concat([zst, Buffer.alloc(512)])],
  ])('%s', async (_, image) => {
    const { startCoprocess } = await import('../src/decode/coprocess.js');
    const path = join(work, `reached-${image.length}.img`);
    writeFileSync(path, image);
    const offsets: number[] = [];
    const end = image.length === zst.length ? undefined : zst.length;
    const run = await startCoprocess(path, 0, end, ['zstd', '-d', '-c', '-q']).drain(
      () => new Promise((resolve) => setTimeout(resolve, 30)),
      (at) => offsets.push(at),
    );
    expect(run).toEqual({ delivered: 24 << 20 });
    expect(offsets.length).toBeGreaterThan(2);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(offsets.some((at) => at > 0 && at < zst.length)).toBe(true);
    expect(Math.max(...offsets)).toBeLessThanOrEqual(zst.length);
  });
});

describe('list and examine skip file data they do not need', () => {
  it('still fail on a truncated plain archive, at the byte where it ends', () => {
    const whole = newcArchive([{ name: 'a', data: 'z'.repeat(100_000) }, { name: 'b', data: 'b' }]);
    const path = join(work, 'truncated.img');
    writeFileSync(path, whole.subarray(0, 50_000));
    for (const command of ['list', 'examine']) {
      const run = cli([command, path]);
      expect(run.status).toBe(1);
      expect(run.stderr).toBe(`initramfs-restore: ${path}: truncated cpio archive: the data ends inside the entry "a" (header at 0) at byte 50000\n`);
    }
  });

  it('still check the sums of crc entries', () => {
    const path = join(work, 'bad-crc.img');
    const archive = newcArchive([{ name: 'big', data: 'q'.repeat(200_000), magic: '070702', check: 1 }]);
    writeFileSync(path, archive);
    const run = cli(['examine', path]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/bad data checksum for "big"/);
  });

  it('list what they list when the data must be read: the same archives inside gzip', () => {
    for (const image of ['plain-newc.img', 'plain-crc.img', 'dracut-none.img']) {
      const path = join(BUILD, image);
      const gzipped = join(work, `${image}.gz.img`);
      writeFileSync(gzipped, sh(`gzip -c ${path}`));
      const plain = cli(['list', '-v', path]);
      expect(plain.status).toBe(0);
      expect(plain.stdout.length).toBeGreaterThan(0);
      expect(plain.stdout.equals(cli(['list', '-v', gzipped]).stdout)).toBe(true);
    }
  });
});
