import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, cli, sh } from './support/cli.js';
import { DIR, newcArchive } from './support/newc.js';

const work = mkdtempSync(join(tmpdir(), 'irr-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const SAMPLE = `${ROOT}test-images/sample.img`;

/** Three archives: plain, then gzip, then zstd; `b` is in all three and the last one wins. */
function threeArchives(): string {
  const path = join(work, 'three.img');
  const first = newcArchive([{ name: 'a', data: 'one' }, { name: 'b', data: 'first b' }]);
  const second = sh('gzip -9c', { input: newcArchive([{ name: 'dir', mode: DIR }, { name: 'b', data: 'second b' }]) });
  const third = sh('zstd -qc', { input: newcArchive([{ name: 'b', data: 'third b' }, { name: 'c', ino: 4, nlink: 2 }, { name: 'd', ino: 4, nlink: 2, data: 'shared' }]) });
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  const firstPadded = Buffer.concat([first, pad(first.length)]);
  writeFileSync(path, Buffer.concat([firstPadded, second, Buffer.alloc(3), third]));
  return path;
}

describe('the command line', () => {
  it('exits 2 on usage errors', () => {
    expect(cli([]).status).toBe(2);
    expect(cli(['frobnicate']).status).toBe(2);
    expect(cli(['examine']).status).toBe(2);
    expect(cli(['examine', 'a', 'b']).status).toBe(2);
    expect(cli(['list', '--bogus', SAMPLE]).status).toBe(2);
    expect(cli(['list', '--parts', 'x', SAMPLE]).status).toBe(2);
    expect(cli(['unpack', '--max-size', 'lots', SAMPLE, work]).status).toBe(2);
  });

  it('words a wrong --order, --engine or --console the same in every command, naming what it may be', () => {
    const firstLine = (args: string[]) => {
      const run = cli(args);
      expect(run.status).toBe(2);
      return run.stderr.split('\n')[0];
    };
    const dir = join(work, 'never-made');
    const sameIn = (runs: string[][]) => {
      const lines = runs.map(firstLine);
      expect(new Set(lines).size).toBe(1);
      return lines[0];
    };
    expect(sameIn([['unpack', SAMPLE, dir, '--order', 'bogus'], ['restore', '--order', 'bogus']]))
      .toMatch(/^initramfs-restore: --order: "bogus" is not detect, a preset \(dracut-055, .*dracut-112\) or a comma list of plain gzip .* extractinitrd$/);
    expect(firstLine(['bench', SAMPLE, '--orders', 'dracut-057,zstd+rar']))
      .toMatch(/^initramfs-restore: --orders: "zstd\+rar" is not a preset \(dracut-055, .*dracut-112\) or stages joined by '\+' \(plain gzip .* extractinitrd\)$/);
    expect(sameIn([['unpack', SAMPLE, dir, '--order', 'zstd', '--engine', 'magic'], ['restore', '--engine', 'magic'], ['validate', '--engine', 'magic', SAMPLE]]))
      .toBe('initramfs-restore: --engine: "magic" is not builtin or native');
    expect(firstLine(['bench', SAMPLE, '--engines', 'native,magic'])).toBe('initramfs-restore: --engines: "magic" is not builtin or native');
    expect(sameIn([['unpack', SAMPLE, dir, '--order', 'zstd', '--engine', 'native', '--console', 'loud'], ['validate', '--console', 'loud', SAMPLE], ['bench', SAMPLE, '--console', 'loud']]))
      .toBe('initramfs-restore: --console: "loud" is not a console sink: null, file, journal or serial:BAUD (e.g. serial:115200)');
    expect(sameIn([['validate', '--runs', '0', SAMPLE], ['bench', SAMPLE, '--runs', '0']])).toBe('initramfs-restore: --runs: "0" is not a whole number of at least 1');
    expect(existsSync(dir)).toBe(false);
  });

  it('exits 1 with the file named when the image cannot be read, without a stack trace', () => {
    const run = cli(['examine', join(work, 'missing.img')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^initramfs-restore: .*missing\.img/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('names the file and the byte offset of junk', () => {
    const path = join(work, 'junk.img');
    writeFileSync(path, Buffer.concat([newcArchive([{ name: 'x', data: 'y' }]), Buffer.alloc(8), Buffer.from('this is not an archive')]));
    const run = cli(['examine', path]);
    expect(run.status).toBe(1);
    const offset = newcArchive([{ name: 'x', data: 'y' }]).length + 8;
    expect(run.stderr).toBe(`initramfs-restore: ${path}: neither cpio nor a known compression format (bytes 74 68 69 73 20 69 73 20) at byte ${offset}\n`);
  });

  it('wants the padding after a plain archive to end 4-aligned, as the kernel does', () => {
    const path = join(work, 'misaligned.img');
    const plain = newcArchive([{ name: 'x', data: 'y' }]);
    writeFileSync(path, Buffer.concat([plain, Buffer.alloc(5), sh('gzip -c', { input: newcArchive([{ name: 'z' }]) })]));
    const run = cli(['examine', path]);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`initramfs-restore: ${path}: broken padding: byte 0x1f after a cpio entry is not 4-aligned at byte ${plain.length + 5}\n`);
  });

  it('names the offset inside a compressed stream', () => {
    const path = join(work, 'junk-in-gzip.img');
    const inner = Buffer.concat([newcArchive([{ name: 'x' }]), Buffer.from('JUNK')]);
    writeFileSync(path, sh('gzip -c', { input: inner }));
    const run = cli(['list', path]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`byte 0x4a cannot start a cpio entry at byte ${inner.length - 4} of the gzip stream at byte 0`));
  });

  it('examines, lists and unpacks the bundled sample image', () => {
    const report = JSON.parse(cli(['examine', '--json', SAMPLE]).stdout.toString());
    expect(report.archives.map((a: { format: string }) => a.format)).toEqual(['cpio', 'zstd']);
    expect(report.segments).toEqual(report.archives);
    const list = cli(['list', SAMPLE]);
    expect(list.status).toBe(0);
    expect(list.stdout.toString()).toMatch(/^kernel\/x86\/microcode\/GenuineIntel\.bin$/m);
    const dir = join(work, 'sample');
    const run = cli(['unpack', SAMPLE, dir]);
    expect(run.status).toBe(0);
    expect(existsSync(join(dir, 'early_cpio'))).toBe(true);
  });

  it('selects archives with --parts', () => {
    const image = threeArchives();
    const names = (parts: string) => cli(['list', `--parts=${parts}`, image]).stdout.toString().trim().split('\n');
    expect(names('1')).toEqual(['a', 'b']);
    expect(names('2-')).toEqual(['dir', 'b', 'b', 'c', 'd']);
    expect(names('-1,3')).toEqual(['a', 'b', 'b', 'c', 'd']);
    const json = JSON.parse(cli(['list', '--json', image]).stdout.toString());
    expect(json.entries.map((e: { archive: number }) => e.archive)).toEqual([1, 1, 2, 2, 3, 3, 3]);
    const dir = join(work, 'parts');
    expect(cli(['unpack', '--parts', '2', image, dir]).status).toBe(0);
    expect(readFileSync(join(dir, 'b'), 'utf8')).toBe('second b');
    expect(existsSync(join(dir, 'a'))).toBe(false);
  });

  it('cat prints the file as the kernel would leave it: the last archive wins, hard links share data', () => {
    const image = threeArchives();
    expect(cli(['cat', image, 'b']).stdout.toString()).toBe('third b');
    expect(cli(['cat', image, '/a']).stdout.toString()).toBe('one');
    expect(cli(['cat', image, 'c']).stdout.toString()).toBe('shared');
    const missing = cli(['cat', image, 'nope']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no entry named nope/);
    const dir = cli(['cat', image, 'dir']);
    expect(dir.status).toBe(1);
    expect(dir.stderr).toMatch(/is a dir, not a regular file/);
  });

  it('unpack --json reports counts by type', () => {
    const image = threeArchives();
    const run = cli(['unpack', '--json', image, join(work, 'json')]);
    const report = JSON.parse(run.stdout.toString());
    expect(report.archives).toBe(3);
    expect(report.counts).toMatchObject({ file: 6, dir: 1, hardlink: 1 });
    expect(report.refusedCount).toBe(0);
  });

  it('names the image, not another argument, and creates no DIR for a missing image', () => {
    const missing = join(work, 'missing.img');
    const dir = join(work, 'never-made');
    const run = cli(['unpack', '--parts', '1', missing, dir]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^initramfs-restore: ${missing}: `));
    expect(existsSync(dir)).toBe(false);
  });

  it('exits quietly when stdout is closed early', () => {
    const run = sh(`node ${ROOT}bin/initramfs-restore.js list ${SAMPLE} 2>&1 | head -1; echo "status \${PIPESTATUS[0]}"`, { env: true });
    expect(run.toString()).not.toMatch(/EPIPE|\n\s+at /);
    expect(run.toString()).toMatch(/status 0/);
  });

  it('leaves --json unterminated when the walk fails, so a consumer cannot take it as complete', () => {
    const path = join(work, 'half.img');
    const good = newcArchive([{ name: 'a' }]);
    writeFileSync(path, Buffer.concat([good, Buffer.from('garbage!')]));
    const run = cli(['list', '--json', path]);
    expect(run.status).toBe(1);
    expect(() => JSON.parse(run.stdout.toString())).toThrow();
  });

  it('cat gives a hard link the data carried by an earlier link', () => {
    const path = join(work, 'hl-first.img');
    writeFileSync(path, newcArchive([{ name: 'a', ino: 5, nlink: 2, data: 'on the first link' }, { name: 'b', ino: 5, nlink: 2 }]));
    expect(cli(['cat', path, 'b']).stdout.toString()).toBe('on the first link');
  });

  it('reads an image of 300 small compressed members, one row each', () => {
    const path = join(work, 'many.img');
    const member = sh('gzip -c', { input: newcArchive([{ name: 'f', data: 'x' }]) });
    writeFileSync(path, Buffer.concat(Array.from({ length: 300 }, () => member)));
    const run = cli(['examine', '--json', path]);
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout.toString()).archives).toHaveLength(300);
  });

  it('refuses an image of a million empty archives instead of running out of memory', () => {
    const path = join(work, 'trailers.img');
    const trailer = newcArchive([]);
    writeFileSync(path, sh('zstd -qc', { input: Buffer.concat(Array.from({ length: 200_000 }, () => trailer)) }));
    const run = cli(['examine', path]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/more than 100000 cpio archives/);
  });

  it('refuses a decompression bomb past --max-size', () => {
    const path = join(work, 'bomb.img');
    writeFileSync(path, sh('gzip -c', { input: newcArchive([{ name: 'big', data: Buffer.alloc(4 << 20) }]) }));
    const run = cli(['unpack', '--max-size', '1M', path, join(work, 'bomb')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/more than the 1048576-byte limit \(--max-size[^)]*\) at byte 0/);
  });

  it('names the xz check type the kernel cannot verify, rather than an option', () => {
    const path = join(work, 'sha256.img');
    writeFileSync(path, sh('xz --check=sha256 -c', { input: newcArchive([{ name: 'a', data: 'a' }]) }));
    const run = cli(['examine', path]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/xz check type SHA-256 is not supported .* at byte 7$/m);
  });
});

describe('arguments that are not UTF-8', () => {
  it('are refused before any work: Node reads their bytes as U+FFFD, which would name another file', () => {
    const root = mkdtempSync(join(work, 'argv-'));
    // $'...' is bash's: the byte 0xff itself, not its UTF-8.
    const viaBash = (script: string, args: string) => spawnSync('bash', ['-c', `exec "${process.execPath}" "${ROOT}bin/${script}" ${args}`]);
    const unpack = viaBash('initramfs-restore.js', `unpack ${SAMPLE} ${root}/$'dir\\xff'/out`);
    expect(unpack.status).toBe(2);
    expect(unpack.stderr.toString()).toBe(`initramfs-restore: an argument is not UTF-8 ("${root}/dir\uFFFD/out" as Node reads it): Node cannot hand on its bytes, and it would name another file\n`);
    const skip = viaBash('skipcpio.js', `${root}/$'\\xff.img'`);
    expect(skip.status).toBe(1);
    expect(skip.stderr.toString()).toMatch(/^skipcpio: an argument is not UTF-8 /);
    expect(readdirSync(root)).toEqual([]);
    // A name that holds U+FFFD as UTF-8 is as given.
    const named = join(root, 'dir\uFFFD');
    expect(cli(['unpack', SAMPLE, named]).status).toBe(0);
    expect(readdirSync(root)).toEqual(['dir\uFFFD']);
  });
});
