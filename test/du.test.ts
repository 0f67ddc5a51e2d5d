import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { escapeName } from '../src/cpio/names.js';
import { cli, cpioExtract, sh } from './support/cli.js';
import { archivesOf, fixtureImages } from './support/fixtures.js';
import { AS_ROOT, HAVE_DRACUT, skipUnlessCI, titled } from './support/needs.js';
import { DIR, newcArchive } from './support/newc.js';
import { realImage } from './support/real.js';
import { scratch } from './support/scratch.js';

/**
 * `du IMAGE`: the extracted size per directory. The oracle: GNU cpio's extraction of the same
 * archives, measured by find alone: for every directory, the sizes of the regular files below
 * it, each inode once (`find -printf '%i %s'`, `sort -u`).
 */
const { fresh, writeImage } = scratch('irr-du-');

interface Space {
  bytes: number;
  files: number;
}

/** By escaped path ('.' the root): what find says the files below each directory of `dir` hold. */
function measuredByFind(dir: string): Map<string, Space> {
  const out = sh(`find . -type d -print0 | while IFS= read -r -d '' d; do
    find "$d" -type f -printf '%i %s\\n' | sort -u | awk '{ s += $2; n++ } END { printf "%.0f %d ", s, n }'
    printf '%s\\0' "$d"
  done`, { cwd: dir });
  const measured = new Map<string, Space>();
  for (let start = 0, end = out.indexOf(0); end >= 0; start = end + 1, end = out.indexOf(0, start)) {
    const record = out.subarray(start, end);
    const [bytes, files] = record.toString('latin1').split(' ', 2).map(Number);
    const path = record.subarray(record.indexOf(0x20, record.indexOf(0x20) + 1) + 1);
    measured.set(path.equals(Buffer.from('.')) ? '.' : escapeName(path.subarray(2)), { bytes, files });
  }
  return measured;
}

interface DuJson {
  bytes: number;
  files: number;
  archives: { index: number; format: string; entries: number; extractedSize: number; inTree: number }[];
  directories: ({ path: string } & Space)[];
}

function du(args: string[]): DuJson {
  const run = cli(['du', '--json', ...args]);
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout.toString()) as DuJson;
}

const byPath = (json: DuJson) => new Map(json.directories.map(({ path, bytes, files }) => [path, { bytes, files }]));

const CPIO_IN = 'cpio -idmu --no-absolute-filenames --quiet';

describe('du: the extracted size per directory, against find on GNU cpio\'s extraction', () => {
  const fixtures = fixtureImages().filter(({ manifest }) => /^(dracut-(none|gzip|zstd|xz)|order-gzip-xz|order-newc-newc-zstd)\.img$/.test(manifest.image));

  it('covers several fixtures', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(5);
  });

  it.each(fixtures.map((f) => [f.manifest.image, f] as const))('%s: every directory\'s bytes and files', (_, { path, manifest }) => {
    const dir = fresh('cpio');
    for (const archive of archivesOf(path, manifest)) cpioExtract(CPIO_IN, { cwd: dir, input: archive });
    const json = du([path]);
    expect(byPath(json)).toEqual(measuredByFind(dir));
    expect(json.bytes).toBe(byPath(json).get('.')!.bytes);
  });

  it('a hard-link group counts once in each directory holding one of its names; the last entry named a path wins', () => {
    const group = { mode: 0o100644, ino: 7, nlink: 2 };
    const first = newcArchive([
      { name: 'a', mode: DIR }, { name: 'b', mode: DIR },
      { name: 'a/replaced', data: 'x'.repeat(5000) },
      { ...group, name: 'a/link' },
      { ...group, name: 'b/link', data: 'y'.repeat(1000) },
    ]);
    const second = newcArchive([{ name: 'a/replaced', data: 'short' }, { name: 'c', mode: DIR }, { name: 'c/new', data: 'z'.repeat(300) }]);
    const image = writeImage([first, sh('gzip -c', { input: second })]);
    const dir = fresh('cpio');
    cpioExtract(CPIO_IN, { cwd: dir, input: first });
    cpioExtract(CPIO_IN, { cwd: dir, input: second });
    const json = du([image]);
    expect(byPath(json)).toEqual(measuredByFind(dir));
    expect(byPath(json).get('.')).toEqual({ bytes: 1000 + 5 + 300, files: 3 });
    // What of each archive the tree holds: the first's 5000 bytes were replaced by the second's 5.
    expect(json.archives.map((a) => [a.format, a.extractedSize, a.inTree])).toEqual([['cpio', 6000, 1000], ['gzip', 305, 305]]);
  });

  it('a file of more than 2^31 bytes counts its size, and its hard link\'s group once', () => {
    // GNU cpio archives a sparse file; zstd keeps the image small, and du reads its data past.
    const dir = fresh('large');
    const size = 2 ** 31 + 5;
    sh(`mkdir d && truncate -s ${size} d/big && ln d/big d/link && printf ab > small`, { cwd: dir });
    const image = `${dir}/large.img`;
    sh(`find d small | cpio -o -H newc --quiet | zstd -q -1 -c > ${image}`, { cwd: dir });
    const json = du([image]);
    expect(byPath(json)).toEqual(new Map([['.', { bytes: size + 2, files: 2 }], ['d', { bytes: size, files: 1 }]]));
    expect(json.archives.map((a) => a.inTree)).toEqual([size + 2]);
  }, 60_000);

  it('what the tree holds of each archive, past 255 archives and 65,535', () => {
    // Each archive names the file f, whose last data wins, and a file of its own.
    const archives = 65_540;
    const archive = (i: number) => newcArchive([{ name: 'f', data: 'x'.repeat(i % 7) }, { name: `n${i}`, data: 'y'.repeat(i % 5) }]);
    const json = du([writeImage(Array.from({ length: archives }, (_, i) => archive(i)))]);
    expect(json.archives).toHaveLength(archives);
    const last = archives - 1;
    expect(json.archives.map((a) => a.inTree)).toEqual(Array.from({ length: archives }, (_, i) => (i % 5) + (i === last ? last % 7 : 0)));
    expect(json.bytes).toBe(json.archives.reduce((sum, a) => sum + a.inTree, 0));
  }, 120_000);

  const real = realImage('fedora-like-zstd.img');
  const whyNotReal = skipUnlessCI(!existsSync(real) ? `no ${real}: npm run setup` : !HAVE_DRACUT ? 'no /usr/lib/dracut/skipcpio' : !AS_ROOT ? "not root: GNU cpio cannot make the image's device nodes" : undefined);
  it.skipIf(whyNotReal)(titled('a real image: every directory, against cpio -idmu of it, then skipcpio | zstd -dc | cpio -idmu', whyNotReal), () => {
    const dir = fresh('real');
    sh(`${CPIO_IN} < ${real}`, { cwd: dir });
    sh(`/usr/lib/dracut/skipcpio ${real} | zstd -dc | ${CPIO_IN}`, { cwd: dir });
    const json = du([real]);
    expect(json.directories.length).toBeGreaterThan(100);
    expect(byPath(json)).toEqual(measuredByFind(dir));
  }, 120_000);
});

describe('du: the report', () => {
  const image = writeImage([newcArchive([
    { name: 'small', mode: DIR }, { name: 'small/f', data: 'ab' },
    { name: 'big', mode: DIR }, { name: 'big/deeper', mode: DIR }, { name: 'big/deeper/f', data: 'x'.repeat(3000) },
    { name: 'mid', mode: DIR }, { name: 'mid/f', data: 'x'.repeat(100) }, { name: 'mid/\x01odd', data: 'x' },
  ])]);

  it('largest first, names escaped, --depth as du -d; list --sizes prints the same', () => {
    const run = cli(['du', image]);
    expect(run.status).toBe(0);
    const text = run.stdout.toString();
    const directories = text.slice(text.indexOf('\n\n') + 2).split('\n').filter(Boolean);
    expect(directories.map((line) => line.split(/\s+/).filter(Boolean))).toEqual([
      ['bytes', 'size', 'files', 'directory'],
      ['3103', '3.0', 'KiB', '4', '.'],
      ['3000', '2.9', 'KiB', '1', 'big'],
      ['3000', '2.9', 'KiB', '1', 'big/deeper'],
      ['101', '101', 'B', '2', 'mid'],
      ['2', '2', 'B', '1', 'small'],
    ]);
    expect(du([image, '--depth', '1']).directories.map((d) => d.path)).toEqual(['.', 'big', 'mid', 'small']);
    expect(du([image, '-d', '0']).directories).toEqual([{ path: '.', bytes: 3103, files: 4 }]);
    const list = cli(['list', '--sizes', image]);
    expect({ status: list.status, stdout: list.stdout.toString() }).toEqual({ status: 0, stdout: text });
    expect(cli(['list', '--sizes', '--json', image]).stdout.toString()).toBe(cli(['du', '--json', image]).stdout.toString());
  });

  it('a name that is not printable is escaped', () => {
    const odd = writeImage([newcArchive([{ name: 'd\x01', mode: DIR }, { name: 'd\x01/f', data: 'abc' }])]);
    expect(du([odd]).directories.map((d) => d.path)).toEqual(['.', 'd\\x01']);
  });

  it('a truncated image is an error naming the file and the byte offset, exit 1', () => {
    const truncated = fresh('bad') + '/truncated.img';
    writeFileSync(truncated, readFileSync(image).subarray(0, 200));
    const run = cli(['du', truncated]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^initramfs-restore: ${truncated}: .* at byte \\d+\\n$`));
    expect(run.stdout.toString()).toBe('');
  });

  it('usage errors exit 2', () => {
    expect(cli(['du']).status).toBe(2);
    expect(cli(['du', image, '--depth', 'x']).status).toBe(2);
    expect(cli(['list', '--sizes', '-v', image]).status).toBe(2);
  });
});
