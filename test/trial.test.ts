import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, cli, cpioExtract, sh } from './support/cli.js';
import { FIXTURES } from './support/fixtures.js';
import { SYMLINK, newcArchive } from './support/newc.js';
import { HAVE_DRACUT, WHY_NOT_NATIVE, titled } from './support/needs.js';
import { describeTree } from './support/tree.js';

/** dracut-initramfs-restore's trial chain, with both engines, on fixtures made by the real tools. */
const work = mkdtempSync(join(tmpdir(), 'irr-trial-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;

interface Report {
  engine: string;
  winner?: string;
  magic: string;
  skipcpio: string;
  note?: string;
  attempts: {
    stage: string; command: string; ok: boolean; reason?: string; offset?: number; skipped?: true;
    consoleBytes: number | null; consoleUtf8: boolean | null; utf8Error?: { message: string }; junkEntries: number;
  }[];
}

/** The skipcpio the oracle pipelines start with: dracut's own when installed, ours (byte-exact to it) otherwise. */
const SKIPCPIO = HAVE_DRACUT ? '/usr/lib/dracut/skipcpio' : `${process.execPath} ${ROOT}bin/skipcpio.js`;

/** The main archive as the real tools restore it: skipcpio | DEC | cpio -idm. */
function oracleTree(image: string, decompress: string) {
  const dir = join(work, `o${counter++}`);
  mkdirSync(dir);
  cpioExtract(`${SKIPCPIO} ${image} | ${decompress} | cpio -idm --no-absolute-filenames --quiet`, { cwd: dir });
  return describeTree(dir);
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

  it('builtin: every order restores the tree skipcpio | zstd -dc | cpio -idm restores, and failed attempts leave nothing', () => {
    const oracle = oracleTree(image, 'zstd -dc');
    expect(Object.keys(oracle).length).toBeGreaterThan(10);
    for (const order of ['dracut-056', 'dracut-057', 'zstd-first', 'zstd']) {
      const { run, report, target } = trial(image, order, 'builtin');
      expect(run.status).toBe(0);
      expect(report).toMatchObject({ engine: 'builtin', winner: 'zstd', magic: 'zstd' });
      expect(report.attempts.at(-1)!.ok).toBe(true);
      expect(report.attempts.every((a) => a.junkEntries === 0)).toBe(true);
      expect(describeTree(target)).toEqual(oracle);
    }
  });

  it('builtin: on a gzip image zstd-first is won by gzip, after our zstd decoder failed at the main archive\'s first byte', () => {
    const gzip = join(FIXTURES, 'dracut-gzip.img');
    const start = statSync(gzip).size - sh(`${SKIPCPIO} ${gzip}`).length;
    const { run, report } = trial(gzip, 'zstd-first', 'builtin');
    expect(run.status).toBe(0);
    expect(report).toMatchObject({ magic: 'gzip', winner: 'gzip' });
    expect(report.attempts.map((a) => [a.stage, a.ok])).toEqual([['zstd', false], ['gzip', true]]);
    expect(report.attempts[0]).toMatchObject({ command: 'our zstd decoder', offset: start, reason: `not a zstd frame at byte ${start}` });
    // In process: there is no console, and the report does not pretend there is one.
    expect(report.attempts.every((a) => a.consoleBytes === null && a.consoleUtf8 === null)).toBe(true);
  });

  it("builtin: each stage reads only its own format; on any other it fails with that reader's own error at skipcpio's offset", () => {
    const stages: Record<string, string> = { plain: 'none', gzip: 'gzip', bzip2: 'bzip2', xz: 'xz', lzma: 'lzma', lz4: 'lz4-legacy', lzop: 'lzop', zstd: 'zstd' };
    const own: Record<string, RegExp> = {
      plain: /^not a cpio archive \(bytes /, gzip: /^not a gzip member /, bzip2: /^not a bzip2 stream /, xz: /^not an xz stream /,
      lzma: /lzma/, lz4: /^not an lz4 stream /, lzop: /^not an lzop file /, zstd: /^not a zstd frame /,
    };
    let checked = 0;
    for (const [right, format] of Object.entries(stages)) {
      const img = join(FIXTURES, `dracut-${format}.img`);
      const start = statSync(img).size - sh(`${SKIPCPIO} ${img}`).length;
      // Every other stage first, the right one last: the chain tries them all.
      const order = [...Object.keys(stages).filter((s) => s !== right), right];
      const { run, report } = trial(img, order.join(','), 'builtin');
      expect(run.status, format).toBe(0);
      expect(report.winner, format).toBe(right);
      for (const a of report.attempts.slice(0, -1)) {
        expect(a.ok, `${a.stage} on ${format}`).toBe(false);
        expect(a.reason, `${a.stage} on ${format}`).toMatch(own[a.stage]);
        expect(a.offset, `${a.stage} on ${format}`).toBeGreaterThanOrEqual(start);
        expect(a.offset, `${a.stage} on ${format}`).toBeLessThan(start + 8);
        checked++;
      }
    }
    expect(checked).toBe(8 * 7);
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
    for (const engine of HAVE_DRACUT ? ['builtin', 'native'] : ['builtin']) {
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
    expect(cli(['unpack', image, join(work, 'x'), '--order', 'zstd', '--console', 'null']).status).toBe(2);
  });
});

describe.skipIf(WHY_NOT_NATIVE !== undefined)(titled("the native engine: the script's own pipelines", WHY_NOT_NATIVE), () => {
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

  it('keeps the raw console bytes of every attempt with --console-log, the spew of the plain stage first', () => {
    const log = join(work, 'console.log');
    const target = join(work, 'logged');
    const run = cli(['unpack', image, target, '--order', 'dracut-056', '--engine', 'native', '--console-log', log, '--json']);
    const report = JSON.parse(run.stdout.toString()) as Report;
    const bytes = report.attempts.map((a) => a.consoleBytes!);
    const logged = readFileSync(log);
    expect(logged.length).toBe(bytes.reduce((n, b) => n + b, 0));
    expect(bytes[0]).toBeGreaterThan(0);
    // What the plain stage wrote is cpio's complaint about the compressed bytes, raw.
    expect(logged.subarray(0, bytes[0]).toString('latin1')).toMatch(/^cpio: /);
    expect(report.attempts[0].utf8Error).toBeDefined();
    expect(logged.subarray(bytes[0]).toString('utf8')).toMatch(/gzip|bzip2|xz|lz4|lzop/);
  });

  it("wins with Debian's zstd -d on a gzip image, says so, and tells lz4 frames from the legacy format dracut writes", () => {
    const gzip = trial(join(FIXTURES, 'dracut-gzip.img'), 'zstd-first', 'native').report;
    expect(gzip).toMatchObject({ magic: 'gzip', winner: 'zstd' });
    expect(gzip.note).toMatch(/^the zstd stage read a gzip member: Debian's zstd reads zstd, gzip, xz, lzma, lz4-frame$/);
    expect(trial(join(FIXTURES, 'dracut-lz4-legacy.img'), 'zstd,lz4', 'native').report).toMatchObject({ magic: 'lz4-legacy', winner: 'lz4' });
    expect(trial(join(FIXTURES, 'dracut-lz4-frame.img'), 'zstd,lz4', 'native').report).toMatchObject({ magic: 'lz4-frame', winner: 'zstd' });
    expect(trial(join(FIXTURES, 'dracut-zstd.img'), 'zstd', 'native').report.note).toBeUndefined();
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

  it("runs no pipeline on an image whose entries our writer refuses: GNU cpio writes through a symlink the archive made, outside the target", () => {
    const outside = join(work, 'outside');
    mkdirSync(outside);
    const pwned = join(outside, 'pwned');
    const image = join(work, 'through-symlink.img');
    writeFileSync(image, sh('gzip -c', { input: newcArchive([{ name: 'd', mode: SYMLINK, data: outside }, { name: 'd/pwned', data: 'x' }]) }));
    const root = join(work, 'escape-root');
    mkdirSync(join(root, 'run/initramfs'), { recursive: true });
    writeFileSync(join(root, 'run/initramfs/.need_shutdown'), '');
    for (const args of [
      ['unpack', image, join(work, 'escape-unpack'), '--order', 'dracut-057', '--engine', 'native'],
      ['unpack', image, join(work, 'escape-unpack'), '--order', 'dracut-056', '--engine', 'native'],
      ['restore', '--root', root, '--image', image, '--order', 'dracut-057', '--engine', 'native'],
      ['bench', image, '--orders', 'dracut-057', '--engines', 'native', '--runs', '1'],
    ]) {
      const run = cli(args);
      expect(run.status, args.join(' ')).toBe(1);
      expect(run.stderr.toString()).toContain('"d/pwned": "d" is a symlink: nothing is written through a symlink; the native engine\'s pipelines run only on an image whose every entry unpack takes');
      expect(existsSync(pwned), args.join(' ')).toBe(false);
    }
    // The builtin engine refuses the entry alone.
    expect(cli(['unpack', image, join(work, 'escape-builtin'), '--order', 'dracut-057']).status).toBe(1);
    expect(existsSync(pwned)).toBe(false);
  });

  it('restores the same tree as builtin, apart from the junk of failed attempts', () => {
    const native = trial(join(FIXTURES, 'dracut-gzip.img'), 'dracut-057', 'native');
    const builtin = trial(join(FIXTURES, 'dracut-gzip.img'), 'dracut-057', 'builtin');
    expect(native.report.winner).toBe('gzip');
    // The script runs `cpio -id` without -m: file times are the time of the restore.
    expect(describeTree(native.target, { mtimes: false })).toEqual(describeTree(builtin.target, { mtimes: false }));
  });
});

describe.skipIf(!existsSync('/usr/bin/time'))('failed stages in bounded memory', () => {
  // The bzip2 stage fails on the xz member at its magic; started in the decoder thread, a
  // second V8 instance, it raised the peak RSS to about 76 MB.
  it('unpack --order dracut-057 of an xz image stays under 66 MiB, its failed stages read in this thread', () => {
    const report = join(work, `rss-${counter++}`);
    const target = join(work, `rss-target-${counter++}`);
    const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', report, process.execPath, BIN, 'unpack', join(FIXTURES, 'dracut-xz.img'), target, '--order', 'dracut-057', '--json']);
    expect(r.status, r.stderr.toString()).toBe(0);
    const stages = (JSON.parse(r.stdout.toString()) as Report).attempts.map((a) => `${a.stage}:${a.ok}`);
    expect(stages).toEqual(['gzip:false', 'bzip2:false', 'xz:true']);
    const peakKb = Number(readFileSync(report, 'utf8').trim().split('\n').at(-1));
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThanOrEqual(66 * 1024);
  });
});
