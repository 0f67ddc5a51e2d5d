import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cli } from './support/cli.js';
import { fixtureImages, sampleImage } from './support/fixtures.js';
import { REAL_EXPECTED, realImage } from './support/real.js';
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
function redirected(args: string[], file: string) {
  const fd = openSync(file, 'r');
  try {
    const r = spawnSync(process.execPath, [BIN, ...args], { stdio: [fd, 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 1 << 30 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
  } finally {
    closeSync(fd);
  }
}

const piped = (args: string[], file: string) => cli(args, { input: readFileSync(file) });
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
    expect(unpack.status).toBe(0);
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
    // What was decoded before the error is listed; the decoder thread, which reads the path,
    // drops the part of its last chunk it had not handed over yet.
    expect(run.stdout.subarray(0, plain.stdout.length).equals(plain.stdout)).toBe(true);
  });

  it('diff: one side from a pipe; both is a usage error', () => {
    const { path } = sampleImage();
    expect(piped(['diff', '-', path], path).status).toBe(0);
    const both = piped(['diff', '-', '-'], path);
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('diff reads standard input (-) for one side only');
  });

  it('cat reads the image twice: a pipe is a usage error, a redirected file works', () => {
    const { path } = sampleImage();
    const file = 'kernel/x86/microcode/GenuineIntel.bin';
    const run = piped(['cat', '-', file], path);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('cat reads IMAGE twice, and standard input is a pipe: give the file, or redirect it (- < FILE)');
    const ok = redirected(['cat', '-', file], path);
    expect(ok.status).toBe(0);
    expect(ok.stdout.equals(cli(['cat', path, file]).stdout)).toBe(true);
  });

  it('a trial order reads the image once per stage: a pipe is a usage error', () => {
    const { path } = sampleImage();
    const run = piped(['unpack', '--order', 'dracut-057', '-', join(fresh('trial'), 'tree')], path);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('a trial reads the image once per stage, and standard input is a pipe');
  });

  it('a redirected file is read as the file: members decoded by their co-process', () => {
    const { path } = fixtureImages().find((f) => f.manifest.image === 'dracut-zstd.img')!;
    expect(redirected(['examine', '--json', '-'], path).stdout.toString()).toBe(cli(['examine', '--json', path]).stdout.toString().replace(JSON.stringify(path), '"-"'));
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
});
