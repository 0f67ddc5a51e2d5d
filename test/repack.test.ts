import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RepackResult } from '../src/create/repack.js';
import { cli, cpioExtract, sh } from './support/cli.js';
import { FIXTURES, NATIVE_DECOMPRESS } from './support/fixtures.js';
import { HAVE_DRACUT, skipUnlessCI, titled } from './support/needs.js';
import { REAL_EXPECTED, REAL_FORMATS, realImage } from './support/real.js';
import { describeTree } from './support/tree.js';

/**
 * repack, checked by what reads its images: our examine, and dracut's own skipcpio piped into
 * each format's real decompressor and GNU cpio, against the same pipeline on the original.
 */
const work = mkdtempSync(join(tmpdir(), 'irr-repack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const fresh = (label: string) => join(work, `${label}${counter++}`);
const SKIPCPIO = '/usr/lib/dracut/skipcpio';
const WHY_NOT_SKIPCPIO = skipUnlessCI(HAVE_DRACUT ? undefined : 'no /usr/lib/dracut/skipcpio: apt-get install dracut-core');

interface Examined {
  size: number;
  archives: { index: number; start: number; end: number; format: string; entries: number; extractedSize: number }[];
}

function examine(image: string): Examined {
  const run = cli(['examine', '--json', image]);
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout.toString()) as Examined;
}

function repack(args: string[]): RepackResult {
  const run = cli(['repack', '--json', ...args]);
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout.toString()) as RepackResult;
}

/** The tree dracut 057's pipeline restores: skipcpio IMG | DEC | cpio -idm. */
function restoredByDracut(image: string, format: string): ReturnType<typeof describeTree> {
  const target = fresh('tree');
  mkdirSync(target);
  const decompress = format === 'cpio' ? 'cat' : NATIVE_DECOMPRESS[format];
  cpioExtract(`${SKIPCPIO} '${image}' | ${decompress} | cpio -idm --no-absolute-filenames --quiet`, { cwd: target });
  return describeTree(target);
}

/**
 * Every dracut fixture (each source format), each into one target, so that every target
 * format comes up at least once: the whole cross product (10 × 8, each member 9 MB decoded,
 * xz and bzip2 slow) takes minutes on two cores for little more.
 */
const TARGETS = ['gzip', 'bzip2', 'xz', 'lzma', 'lz4', 'lzop', 'zstd', 'none'] as const;
const fixtures = existsSync(FIXTURES) ? readdirSync(FIXTURES).filter((f) => /^dracut-.*\.img$/.test(f)).sort() : [];
const cases = fixtures.map((f, i) => [f, TARGETS[i % TARGETS.length]] as const);

describe.skipIf(WHY_NOT_SKIPCPIO !== undefined)(titled('repack of the dracut fixtures', WHY_NOT_SKIPCPIO), () => {
  it('covers every target format', () => {
    expect(new Set(cases.map(([, target]) => target))).toEqual(new Set(TARGETS));
  });

  it.each(cases)('%s into %s: examine finds the same archives, the early one unchanged; skipcpio | DEC | cpio restores the same tree', (fixture, target) => {
    const source = join(FIXTURES, fixture);
    const out = `${fresh(target)}.img`;
    const before = examine(source);
    // A plain image has no compressed member: its main archive is named.
    const parts = before.archives.every((a) => a.format === 'cpio') ? ['--parts', '2-'] : [];
    const result = repack([source, out, '--compress', target, ...parts]);
    expect(result.members.map((m) => m.rewritten)).toEqual([false, true]);

    const after = examine(out);
    expect(after.size).toBe(readFileSync(out).length);
    expect(after.archives.length).toBe(before.archives.length);
    const [early, main] = after.archives;
    expect(early).toEqual(before.archives[0]);
    expect(readFileSync(out).subarray(early.start, early.end).equals(readFileSync(source).subarray(early.start, early.end))).toBe(true);
    expect(main.format).toBe(target === 'none' ? 'cpio' : target);
    expect(main.start).toBe(before.archives[1].start);
    expect([main.entries, main.extractedSize]).toEqual([before.archives[1].entries, before.archives[1].extractedSize]);

    expect(restoredByDracut(out, main.format)).toEqual(restoredByDracut(source, before.archives[1].format));
  });

  it('--parts: only the selected member changes', () => {
    const source = join(FIXTURES, 'order-xz-zstd-newc.img');
    const out = `${fresh('parts')}.img`;
    const result = repack([source, out, '--compress', 'gzip', '--parts', '2']);
    expect(result.members.map((m) => [m.archives, m.rewritten, m.format])).toEqual([[[1], false, 'xz'], [[2], true, 'gzip'], [[3], false, 'cpio']]);
    const before = examine(source).archives;
    const after = examine(out).archives;
    expect(after.map((a) => a.format)).toEqual(['xz', 'gzip', 'cpio']);
    const [inBytes, outBytes] = [readFileSync(source), readFileSync(out)];
    // The xz member keeps its place; the plain archive after the new member has moved, unchanged.
    expect(after[0]).toEqual(before[0]);
    expect(after[2].start % 4).toBe(0);
    for (const i of [0, 2]) {
      expect(outBytes.subarray(after[i].start, after[i].end).equals(inBytes.subarray(before[i].start, before[i].end))).toBe(true);
    }
    expect(after.map((a) => [a.entries, a.extractedSize])).toEqual(before.map((a) => [a.entries, a.extractedSize]));
  });

  it('an lz4 member that another follows ends in a zero word, where the kernel\'s unlz4 stops', () => {
    const source = join(FIXTURES, 'order-xz-zstd-newc.img');
    const out = `${fresh('lz4-word')}.img`;
    const result = repack([source, out, '--compress', 'lz4']);
    const bytes = readFileSync(out);
    const lz4 = result.members.filter((m) => m.format === 'lz4');
    expect(lz4.length).toBeGreaterThan(1);
    for (const [i, member] of result.members.slice(0, -1).entries()) {
      const next = result.members[i + 1];
      if (member.format !== 'lz4') continue;
      expect(next.start - member.end).toBeGreaterThanOrEqual(4);
      expect(bytes.subarray(member.end, next.start).every((b) => b === 0)).toBe(true);
    }
    expect(examine(out).archives.map((a) => a.format)).toEqual(['lz4', 'lz4', 'cpio']);
    // A member copied after a copied lz4 member keeps its offset, the zero word already before it.
    const again = `${fresh('lz4-kept')}.img`;
    const kept = repack([out, again, '--compress', 'gzip', '--parts', '3']);
    expect(kept.members.slice(0, 2).map((m) => [m.start, m.rewritten])).toEqual(result.members.slice(0, 2).map((m) => [m.start, false]));
  });

  it('a member that holds several archives is one: its whole stream, padding included, goes into the new one', () => {
    const source = join(FIXTURES, 'stream3-pad-zstd.img');
    const out = `${fresh('stream3')}.img`;
    const result = repack([source, out, '--compress', 'xz']);
    expect(result.members.map((m) => [m.archives, m.format])).toEqual([[[1], 'cpio'], [[2, 3, 4], 'xz']]);
    const stream = (image: string, { start, end }: { start: number; end: number }, decompress: string) => sh(decompress, { input: readFileSync(image).subarray(start, end) });
    expect(stream(out, result.members[1], 'xz -dc').equals(stream(source, result.members[1].source, 'zstd -dc'))).toBe(true);
  });
});

const WHY_NOT_REAL = WHY_NOT_SKIPCPIO ?? (REAL_EXPECTED ? undefined : 'no test-images/real: npm run setup');

/**
 * Each real image (55 to 156 MB, its main archive 134 MB decoded) into every format, each
 * restored by dracut's pipeline as the image itself is. xz, lzma and bzip2 at their default
 * level take 15 to 60 s each on this archive, at -1 a few: the level changes nothing this checks.
 */
describe.skipIf(WHY_NOT_REAL !== undefined)(titled('each real image repacked into every format', WHY_NOT_REAL), () => {
  const originals = new Map<string, ReturnType<typeof describeTree>>();
  const realCases = REAL_FORMATS.flatMap((source) => TARGETS.map((target) => [source, target] as const));
  it.each(realCases)('fedora-like-%s into %s: skipcpio | DEC | cpio -idm restores what it restores from the original', (source, target) => {
    const image = realImage(`fedora-like-${source}.img`);
    const sourceFormat = source === 'none' ? 'cpio' : source === 'lzo' ? 'lzop' : source;
    if (!originals.has(source)) originals.set(source, restoredByDracut(image, sourceFormat));
    const out = `${fresh('real')}.img`;
    // The plain image has no compressed member: its main archive is named.
    const parts = source === 'none' ? ['--parts', '2-'] : [];
    const slow = target === 'xz' || target === 'lzma' || target === 'bzip2';
    const result = repack([image, out, '--compress', target, ...parts, ...(slow ? ['--level', '1'] : [])]);
    const format = target === 'none' ? 'cpio' : target;
    expect(result.members.map((m) => [m.source.format, m.format])).toEqual([['cpio', 'cpio'], [sourceFormat, format]]);
    expect(restoredByDracut(out, format)).toEqual(originals.get(source));
    rmSync(out);
  });
});

describe('repack errors', () => {
  it('IN truncated in its compressed member: exit 1 naming IN and a byte; no OUT, no temporary file', () => {
    const source = `${fresh('truncated')}.img`;
    const bytes = readFileSync(join(FIXTURES, 'dracut-zstd.img'));
    writeFileSync(source, bytes.subarray(0, 14848 + 60_000));
    const dir = fresh('out');
    mkdirSync(dir);
    const run = cli(['repack', source, join(dir, 'out.img'), '--compress', 'xz']);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^initramfs-restore: ${source.replaceAll('.', '\\.')}: .* at byte \\d+`));
    expect(readdirSync(dir)).toEqual([]);
  });

  // The member is decoded as the compressor takes it, by our decoder (lzop) or a co-process
  // (zstd): a compressor that stops reading stops the decoder, with no hang and no OUT.
  it.each(['dracut-lzop.img', 'dracut-zstd.img'])('%s into a compressor that fails after 64 KiB: exit 1 with its words; no OUT, no temporary file', (fixture) => {
    const bin = fresh('bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'lz4'), '#!/bin/sh\nhead -c 65536 >/dev/null\necho "lz4: out of luck" >&2\nexit 3\n', { mode: 0o755 });
    const dir = fresh('out');
    mkdirSync(dir);
    const run = cli(['repack', join(FIXTURES, fixture), join(dir, 'out.img'), '--compress', 'lz4'], { env: { PATH: `${bin}:${process.env.PATH}` }, timeout: 60_000 });
    expect(run.stderr).toContain('lz4 exited with status 3: lz4: out of luck');
    expect(run.status).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('usage errors exit 2: an unknown --compress, none at all, a missing OUT, IN on standard input', () => {
    const source = join(FIXTURES, 'dracut-gzip.img');
    const dir = fresh('out');
    mkdirSync(dir);
    const unknown = cli(['repack', source, join(dir, 'out.img'), '--compress', 'rar']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/--compress: "rar" is not one of none, gzip/);
    expect(cli(['repack', source, join(dir, 'out.img')]).status).toBe(2);
    expect(cli(['repack', source, '--compress', 'gzip']).status).toBe(2);
    expect(cli(['repack', source, join(dir, 'out.img'), '--compress', 'gzip', '--parts', 'x']).status).toBe(2);
    // IN is read twice: standard input cannot be.
    const piped = cli(['repack', '-', join(dir, 'out.img'), '--compress', 'gzip'], { input: readFileSync(source) });
    expect([piped.status, piped.stderr]).toEqual([2, expect.stringContaining('IN must be a file, not standard input')]);
    expect(readdirSync(dir)).toEqual([]);
  });
});
