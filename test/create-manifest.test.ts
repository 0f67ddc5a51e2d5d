import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, cli, cpioExtract, sh } from './support/cli.js';
import { NATIVE_DECOMPRESS } from './support/fixtures.js';
import { AS_ROOT } from './support/needs.js';
import { headersOf } from './support/newc.js';
import { describeTree } from './support/tree.js';

/**
 * create --manifest, checked against 3cpio --create from the same manifest: the same bytes for
 * plain archives, and the same trees from GNU cpio and our unpack for every archive.
 */
const work = mkdtempSync(join(tmpdir(), 'irr-manifest-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const fresh = (label: string) => join(work, `${label}${counter++}`);

const THREE_CPIO = `${ROOT}test-images/dracut-ng/3cpio/bin/3cpio`;
const ENV = { SOURCE_DATE_EPOCH: '' };

interface Created {
  archives: { start: number; end: number; format: string }[];
}

/** The files the manifests name, relative to it. */
const source = fresh('source');
mkdirSync(join(source, 'etc/sub dir'), { recursive: true });
writeFileSync(join(source, 'etc/hello'), 'hello\n');
linkSync(join(source, 'etc/hello'), join(source, 'etc/hello-link'));
writeFileSync(join(source, 'etc/tool'), '#!/bin/sh\n');
chmodSync(join(source, 'etc/tool'), 0o4755);
writeFileSync(join(source, 'etc/sub dir/with space'), 'spaced\n');
writeFileSync(join(source, 'empty'), '');
symlinkSync('hello', join(source, 'etc/greeting'));
writeFileSync(join(source, 'blob'), Buffer.from(Array.from({ length: 9000 }, (_, i) => (i * 31) & 0xff)));
sh(`mkfifo ${join(source, 'pipe')} && touch -h -d @1700000000 ${source}/etc/* ${source}/empty ${source}/blob`);

const EVERY_KIND = [
  '# every kind of line 3cpio takes',
  '.',
  'etc',
  './etc/hello',
  'etc/tool\tbin/tool',
  `etc/sub dir`,
  'etc/sub dir/with space\tspaced name',
  'etc/greeting',
  '-\tproc\tdir\t555\t0\t0\t1600000000',
  '-\tdev\tdir\t755\t0\t0\t1600000000',
  '-\tdev/console\tchar\t600\t0\t5\t1600000000\t5\t1',
  '-\tdev/sda\tblock\t660\t0\t6\t1600000000\t8\t0',
  '-\tlib\tlink\t777\t0\t0\t1600000000\tusr/lib',
  '-\tinit.empty\tfile\t700\t0\t0\t1600000000\t0',
  'etc/hello\tcopy\t\t640\t12\t34\t1650000000',
  'pipe',
  'empty',
  '',
  'etc/hello-link\tsecond',
].join('\n');

/** Runs our create --manifest on `manifest` (stdin), in `source`. */
function ours(manifest: string, out: string, args: string[] = [], env: Record<string, string> = ENV) {
  return cli(['create', out, '--manifest', '-', '-C', source, '--json', ...args], { input: Buffer.from(manifest), env });
}

/** The archive with its headers' hex digits in capitals, as 3cpio writes them. */
function capitalHex(archive: Buffer): Buffer {
  const copy = Buffer.from(archive);
  for (const { at } of headersOf(copy)) copy.write(copy.toString('latin1', at, at + 110).toUpperCase(), at, 'latin1');
  return copy;
}

/** Each archive's plain bytes, through the real decompressor. */
function archivesOf(image: string, created: Created): Buffer[] {
  const bytes = readFileSync(image);
  return created.archives.map(({ start, end, format }) => (format === 'cpio' ? bytes.subarray(start, end) : sh(NATIVE_DECOMPRESS[format], { input: bytes.subarray(start, end) })));
}

function cpioTree(archive: Buffer): ReturnType<typeof describeTree> {
  const target = fresh('cpio');
  mkdirSync(target);
  // As a user GNU cpio cannot make the manifest's devices, for 3cpio's archive or ours.
  cpioExtract('cpio -idmu --no-absolute-filenames --quiet', { cwd: target, input: archive });
  return describeTree(target, { owners: AS_ROOT });
}

describe.skipIf(!existsSync(THREE_CPIO))('create --manifest against 3cpio --create', () => {
  function threeCpio(manifest: string, env: Record<string, string> = ENV, args: string[] = []): { image: string; archives: Buffer[] } {
    const image = `${fresh('3cpio')}.img`;
    sh(`cd '${source}' && env SOURCE_DATE_EPOCH='${env.SOURCE_DATE_EPOCH}' ${THREE_CPIO} --create ${args.join(' ')} ${image}`, { input: Buffer.from(manifest) });
    const rows = sh(`${THREE_CPIO} --examine --raw ${image}`).toString().trim().split('\n').map((row) => row.split('\t'));
    const archives = archivesOf(image, { archives: rows.map(([start, end, , format]) => ({ start: Number(start), end: Number(end), format })) });
    return { image, archives };
  }

  it.each([['', ''], ['SOURCE_DATE_EPOCH', '1620000000']])('every kind of line, %s %s: the same bytes but for the hex digits\' case; the same trees', (_, epoch) => {
    const env = { SOURCE_DATE_EPOCH: epoch };
    const reference = threeCpio(EVERY_KIND, env);
    const out = `${fresh('ours')}.img`;
    // 3cpio takes owners from the files; create does with --keep-owners.
    const run = ours(EVERY_KIND, out, ['--keep-owners'], env);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const created = JSON.parse(run.stdout.toString()) as Created;
    const [archive] = archivesOf(out, created);
    expect(capitalHex(archive).equals(reference.archives[0])).toBe(true);

    const expected = cpioTree(reference.archives[0]);
    expect(Object.keys(expected)).toEqual(expect.arrayContaining(['spaced name', ...(AS_ROOT ? ['dev/console'] : []), 'lib', 'second', 'etc/hello']));
    expect(expected.second.linkGroup).toBe('copy');
    if (epoch) expect(expected.copy.mtime).toBe(1620000000);
    expect(cpioTree(archive)).toEqual(expected);
    const unpacked = fresh('unpack');
    expect(cli(['unpack', out, unpacked]).status).toBe(0);
    expect(describeTree(unpacked, { owners: AS_ROOT })).toEqual(expected);
    expect(cli(['list', out]).stdout.toString()).toContain('spaced name');
  });

  it('#cpio and #cpio: zstd -3: two archives, the second zstd; each gives 3cpio\'s tree', () => {
    const manifest = `#cpio\n-\tkernel\tdir\t755\t0\t0\t1600000000\netc/hello\tkernel/microcode.bin\n#cpio: zstd -3\n${EVERY_KIND}\n`;
    const reference = threeCpio(manifest);
    const out = `${fresh('two')}.img`;
    const run = ours(manifest, out, ['--keep-owners']);
    expect(run.status).toBe(0);
    const created = JSON.parse(run.stdout.toString()) as Created;
    expect(created.archives.map((a) => a.format)).toEqual(['cpio', 'zstd']);
    const archives = archivesOf(out, created);
    expect(capitalHex(archives[0]).equals(reference.archives[0])).toBe(true);
    // zstd's frame differs (3cpio runs the CLI, create node:zlib); what it holds does not.
    expect(capitalHex(archives[1]).equals(reference.archives[1])).toBe(true);
    for (const [i, archive] of archives.entries()) expect(cpioTree(archive)).toEqual(cpioTree(reference.archives[i]));
    expect(cli(['examine', out]).status).toBe(0);
  });

  /**
   * Two plain archives, so that the second's offsets are the image's, not its own; data longer
   * and shorter than N, a long symlink target, a hard link, a name of 2960 bytes that PATH_MAX
   * may leave unaligned; then a zstd archive, which --data-align leaves as it is.
   */
  const longDirs = Array.from({ length: 11 }, (_, i) => Array.from({ length: i + 1 }, () => 'd'.repeat(250)).join('/'));
  const longName = `${longDirs.at(-1)}/${'n'.repeat(200)}`;
  const ALIGNED = [
    '#cpio',
    'blob',
    `-\tlong-link\tlink\t777\t0\t0\t1600000000\t${'t'.repeat(700)}`,
    '#cpio',
    EVERY_KIND,
    ...longDirs.map((dir) => `-\t${dir}\tdir\t755\t0\t0\t1600000000`),
    'blob\tblob-again',
    `blob\t${longName}`,
    '#cpio: zstd',
    'blob',
    'etc/hello',
  ].join('\n');

  it.each([4, 8, 512, 4096])('--data-align %i: 3cpio\'s bytes; each datum of N bytes or more at a multiple of N in the image; the same trees as unaligned', (align) => {
    const reference = threeCpio(ALIGNED, ENV, ['--data-align', String(align)]);
    const unaligned = threeCpio(ALIGNED);
    const out = `${fresh('aligned')}.img`;
    const run = ours(ALIGNED, out, ['--keep-owners', '--data-align', String(align)]);
    expect(run.stderr).toBe('');
    const created = JSON.parse(run.stdout.toString()) as Created;
    expect(created.archives.map((a) => a.format)).toEqual(['cpio', 'cpio', 'zstd']);
    const archives = archivesOf(out, created);
    for (const [i, archive] of archives.entries()) expect(capitalHex(archive).equals(reference.archives[i])).toBe(true);
    // The compressed archive holds what it holds without --data-align.
    expect(capitalHex(archives[2]).equals(unaligned.archives[2])).toBe(true);

    const image = readFileSync(out);
    const placed: string[] = [];
    for (const { start, end } of created.archives.slice(0, 2)) {
      for (const h of headersOf(image.subarray(start, end)).filter((e) => e.size >= align)) {
        const data = start + ((h.at + 110 + h.namesize + 3) & ~3);
        if (data % align === 0) {
          placed.push(h.name.toString());
          continue;
        }
        // Left 4-aligned only where the NULs it needed would take namesize past PATH_MAX.
        expect(h.namesize).toBe(h.name.length + 1);
        expect(h.namesize + align - (data % align)).toBeGreaterThan(4096);
      }
    }
    expect(placed).toEqual(expect.arrayContaining(align <= 700 ? ['blob', 'long-link'] : ['blob']));
    // At 4096 the long name's NULs would pass PATH_MAX: the loop above checked why.
    expect(placed.includes(longName)).toBe(align !== 4096);

    for (const [i, archive] of archives.entries()) expect(cpioTree(archive)).toEqual(cpioTree(unaligned.archives[i]));
    const unpacked = fresh('unpack');
    expect(cli(['unpack', out, unpacked]).status).toBe(0);
    const expected = fresh('expected');
    expect(cli(['unpack', unaligned.image, expected]).status).toBe(0);
    expect(describeTree(unpacked, { owners: AS_ROOT })).toEqual(describeTree(expected, { owners: AS_ROOT }));
  });
});

describe('create --manifest', () => {
  it('--compress applies where the manifest names no compressor; archives may follow a compressed one', () => {
    const out = `${fresh('defaults')}.img`;
    const run = ours('#cpio: xz -1\netc/hello\n#cpio\netc/tool\n#cpio\nempty\n', out, ['--compress', 'none', '--compress', 'gzip', '--level', '9']);
    expect(run.stderr).toBe('');
    const created = JSON.parse(run.stdout.toString()) as Created;
    expect(created.archives.map((a) => a.format)).toEqual(['xz', 'gzip', 'gzip']);
    const unpacked = fresh('unpack');
    expect(cli(['unpack', out, unpacked]).status).toBe(0);
    expect(readdirSync(unpacked).sort()).toEqual(['empty', 'etc']);
  });

  it('file data through the existing checks: a size column the file lacks is an error naming the line', () => {
    const dir = fresh('short');
    mkdirSync(dir);
    const run = ours('etc/hello\tx\tfile\t644\t0\t0\t0\t99\n', join(dir, 'out.img'));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/stdin:1: etc\/hello: shrank while read: 6 of the 99 bytes/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.each([
    ['a missing file', '.\n# comment\netc/nothing-here\n', /^initramfs-restore: stdin:3: etc\/nothing-here: ENOENT: no such file or directory$/m],
    ['a mode that is not octal', '-\tx\tdir\t789\n', /stdin:1: mode "789" is not an octal number from 0 to 7777/],
    ['an unknown type', '-\tx\tthing\n', /stdin:1: unknown type "thing"/],
    ['too many columns', '-\tx\tdir\t755\t0\t0\t0\textra\n', /stdin:1: 8 columns: this type takes at most 7/],
    ['data with no location', '-\tx\tfile\t644\t0\t0\t0\t5\n', /stdin:1: a file of 5 bytes needs a location/],
    ['an unknown compressor', 'etc\n#cpio: brotli -3\n', /stdin:2: unknown compressor "brotli"/],
    ['a level the compressor lacks', '#cpio: gzip -12\n', /stdin:1: gzip -12: gzip takes 1 to 9/],
    ['a flag other than a level', '#cpio: zstd --long\n', /stdin:1: zstd: "--long" is not a level/],
    ['a marker that is neither', '#cpiox\n', /stdin:1: "#cpiox" is neither #cpio nor #cpio: COMMAND/],
  ])('%s: exit 1, the line named, no OUT', (_, manifest, message) => {
    const dir = fresh('fail');
    mkdirSync(dir);
    const run = ours(manifest, join(dir, 'out.img'));
    expect(run.stderr).toMatch(message);
    expect(run.status).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.each(['0', '6', 'x', '4294967300'])('--data-align %s: a usage error (exit 2), no OUT', (align) => {
    const dir = fresh('align');
    mkdirSync(dir);
    const run = ours('etc/hello\n', join(dir, 'out.img'), ['--data-align', align]);
    expect(run.stderr).toMatch(/^initramfs-restore: --data-align: /);
    expect(run.status).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('--root-owner: 0:0 where the uid and gid columns say otherwise, as GNU cpio reads it; with --keep-owners a usage error', () => {
    const manifest = '-\tx\tdir\t755\t1234\t5678\t0\netc/hello\ty\tfile\t644\t42\t43\t0\n';
    const owners = (args: string[]) => {
      const out = `${fresh('owners')}.img`;
      expect(ours(manifest, out, args).status).toBe(0);
      // GNU cpio's long listing: mode, links, uid, gid, ...
      return sh(`cpio -t -v --numeric-uid-gid --quiet < '${out}'`).toString().trim().split('\n').map((line) => line.split(/\s+/).slice(2, 4).join(':'));
    };
    expect(owners([])).toEqual(['1234:5678', '42:43']);
    expect(owners(['--root-owner'])).toEqual(['0:0', '0:0']);
    const dir = fresh('both');
    mkdirSync(dir);
    const run = ours(manifest, join(dir, 'out.img'), ['--root-owner', '--keep-owners']);
    expect(run.stderr).toMatch(/^initramfs-restore: --keep-owners and --root-owner /);
    expect(run.status).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a DIR beside --manifest, or -C without it: usage errors', () => {
    expect(cli(['create', 'out.img', '--manifest', '-', source], { input: Buffer.from('') }).status).toBe(2);
    expect(cli(['create', 'out.img', '-C', source, source]).status).toBe(2);
  });
});
