import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';
import { FIXTURES } from './support/fixtures.js';
import { newcArchive } from './support/newc.js';
import { describeTree } from './support/tree.js';

/** dracut-initramfs-restore's trial chain, with both engines, on fixtures made by the real tools. */
const work = mkdtempSync(join(tmpdir(), 'irr-trial-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const haveDracut = existsSync('/usr/lib/dracut/skipcpio');
let counter = 0;

interface Report {
  winner?: string;
  magic: string;
  skipcpio: string;
  attempts: { stage: string; ok: boolean; consoleBytes: number; consoleUtf8: boolean; utf8Error?: { message: string }; junkEntries: number; wallMs: number; userMs: number; sysMs: number; peakRssKb?: number; reason?: string }[];
}

function trial(image: string, order: string, engine: string) {
  const target = join(work, `t${counter++}`);
  const run = cli(['unpack', image, target, '--order', order, '--engine', engine, '--json']);
  return { run, target, report: JSON.parse(run.stdout.toString()) as Report };
}

function detectTree(image: string) {
  const target = join(work, `d${counter++}`);
  expect(cli(['unpack', image, target]).status).toBe(0);
  // Only the main archives: the script restores what skipcpio leaves.
  return describeTree(target);
}

describe('the trial chain', () => {
  const image = join(FIXTURES, 'dracut-zstd.img');

  it('builtin: every order restores what the main archive holds, and failed attempts leave nothing', () => {
    for (const order of ['dracut-056', 'dracut-057', 'zstd-first', 'zstd']) {
      const { run, report, target } = trial(image, order, 'builtin');
      expect(run.status).toBe(0);
      expect(report.winner).toBe('zstd');
      expect(report.magic).toBe('zstd');
      expect(report.attempts.at(-1)!.ok).toBe(true);
      expect(report.attempts.every((a) => a.junkEntries === 0)).toBe(true);
      const main = join(work, `m${counter++}`);
      expect(cli(['unpack', '--parts', '2-', image, main]).status).toBe(0);
      expect(describeTree(target)).toEqual(describeTree(main));
    }
  });

  it('reports the winning stage apart from the format: zstd -d also reads gzip', () => {
    const { report } = trial(join(FIXTURES, 'dracut-gzip.img'), 'zstd-first', 'builtin');
    expect(report.magic).toBe('gzip');
    expect(report.winner).toBe('zstd');
  });

  it('knows that zstd -d reads lz4 frames but not the legacy format dracut writes', () => {
    const legacy = trial(join(FIXTURES, 'dracut-lz4-legacy.img'), 'zstd,lz4', 'builtin').report;
    expect(legacy).toMatchObject({ magic: 'lz4-legacy', winner: 'lz4' });
    const frame = trial(join(FIXTURES, 'dracut-lz4-frame.img'), 'zstd,lz4', 'builtin').report;
    expect(frame).toMatchObject({ magic: 'lz4-frame', winner: 'zstd' });
    if (haveDracut) {
      expect(trial(join(FIXTURES, 'dracut-lz4-legacy.img'), 'zstd,lz4', 'native').report.winner).toBe('lz4');
      expect(trial(join(FIXTURES, 'dracut-lz4-frame.img'), 'zstd,lz4', 'native').report.winner).toBe('zstd');
    }
  });

  it('fails as dracut does when no stage decodes the image, with exit status 1', () => {
    const { run, report } = trial(join(FIXTURES, 'dracut-bzip2.img'), 'dracut-055', 'builtin');
    expect(run.status).toBe(1);
    expect(report.winner).toBeUndefined();
    expect(report.attempts.map((a) => a.stage)).toEqual(['gzip', 'xz', 'lz4', 'zstd']);
  });

  it('reproduces dracut-ng issue #2255: a lone uncompressed archive leaves skipcpio nothing, while detect restores it', () => {
    const lone = join(work, 'lone.img');
    writeFileSync(lone, newcArchive([{ name: 'only', data: 'here' }]));
    for (const engine of haveDracut ? ['builtin', 'native'] : ['builtin']) {
      const { run, report } = trial(lone, 'dracut-057', engine);
      expect(run.status).toBe(1);
      expect(report.magic).toBe('empty');
      expect(report.winner).toBeUndefined();
    }
    expect(Object.keys(detectTree(lone))).toEqual(['only']);
  });

  it('rejects unknown orders and engines as usage errors', () => {
    expect(cli(['unpack', image, join(work, 'x'), '--order', 'dracut-999']).status).toBe(2);
    expect(cli(['unpack', image, join(work, 'x'), '--order', 'gzip,brotli']).status).toBe(2);
    expect(cli(['unpack', image, join(work, 'x'), '--order', 'zstd', '--engine', 'magic']).status).toBe(2);
    expect(cli(['unpack', image, join(work, 'x'), '--engine', 'native']).status).toBe(2);
    expect(cli(['unpack', image, join(work, 'x'), '--order', 'constructor']).status).toBe(2);
  });
});

describe.skipIf(!haveDracut && !process.env.CI)('the native engine: the script\'s own pipelines', () => {
  const image = join(FIXTURES, 'dracut-zstd.img');

  it('dracut-056 sprays cpio errors that are not UTF-8 and leaves junk; dracut-057 does not', () => {
    const old = trial(image, 'dracut-056', 'native');
    expect(old.run.status).toBe(0);
    const plain = old.report.attempts[0];
    expect(plain).toMatchObject({ stage: 'plain', ok: false, consoleUtf8: false });
    expect(plain.consoleBytes).toBeGreaterThan(500);
    expect(plain.utf8Error!.message).toMatch(/^'utf-8' codec can't decode byte 0x[0-9a-f]{2} in position \d+: invalid (start|continuation) byte$/);
    expect(old.report.winner).toBe('zstd');

    const fixed = trial(image, 'dracut-057', 'native');
    expect(fixed.run.status).toBe(0);
    expect(fixed.report.attempts.every((a) => a.consoleUtf8)).toBe(true);
    expect(fixed.report.attempts.every((a) => a.junkEntries === 0)).toBe(true);
    expect(fixed.report.winner).toBe('zstd');
  });

  it('measures every attempt and keeps the raw console bytes with --console-log', () => {
    const log = join(work, 'console.log');
    const target = join(work, 'logged');
    const run = cli(['unpack', image, target, '--order', 'dracut-056', '--engine', 'native', '--console-log', log, '--json']);
    const report = JSON.parse(run.stdout.toString()) as Report;
    const total = report.attempts.reduce((n, a) => n + a.consoleBytes, 0);
    expect(existsSync(log)).toBe(true);
    expect(statSync(log).size).toBe(total);
    for (const a of report.attempts) {
      expect(a.wallMs).toBeGreaterThanOrEqual(0);
      expect(a.userMs + a.sysMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('sends the console to each sink without losing or changing a byte', () => {
    const seen = ['null', 'file', 'journal', 'serial:115200'].map((sink) => {
      const target = join(work, `sink${counter++}`);
      const run = cli(['unpack', image, target, '--order', 'dracut-056', '--engine', 'native', '--console', sink, '--json']);
      expect(run.status).toBe(0);
      const report = JSON.parse(run.stdout.toString()) as Report;
      return { winner: report.winner, bytes: report.attempts.map((a) => a.consoleBytes), utf8: report.attempts.map((a) => a.consoleUtf8) };
    });
    for (const s of seen) expect(s).toEqual(seen[0]);
    expect(seen[0].bytes[0]).toBeGreaterThan(0);
    expect(cli(['unpack', image, join(work, 'x'), '--order', 'zstd', '--engine', 'native', '--console', 'serial:fast']).status).toBe(2);
    expect(cli(['unpack', image, join(work, 'x'), '--console', 'null']).status).toBe(2);
  });

  it('fails a stage whose tool is missing, as the script\'s command -v guard does', () => {
    const bin = join(work, 'bin');
    mkdirSync(bin);
    for (const tool of ['bash', 'cpio', 'zstd']) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    const target = join(work, 'no-lz4');
    const run = cli(['unpack', image, target, '--order', 'lz4,zstd', '--engine', 'native', '--json'], { env: { PATH: bin } });
    const report = JSON.parse(run.stdout.toString()) as Report;
    expect(report.attempts[0]).toMatchObject({ stage: 'lz4', ok: false, reason: expect.stringMatching(/lz4 is not installed/) });
    expect(report.winner).toBe('zstd');
  });

  it('restores the same tree as builtin, apart from the junk of failed attempts', () => {
    const native = trial(join(FIXTURES, 'dracut-gzip.img'), 'dracut-057', 'native');
    const builtin = trial(join(FIXTURES, 'dracut-gzip.img'), 'dracut-057', 'builtin');
    expect(native.report.winner).toBe('gzip');
    // The script runs `cpio -id` without -m: file times are the time of the restore.
    expect(describeTree(native.target, { mtimes: false })).toEqual(describeTree(builtin.target, { mtimes: false }));
  });
});
