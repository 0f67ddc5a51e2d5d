import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { diffTrees } from '../src/diff/compare.js';
import { NONE } from '../src/diff/tree-view.js';
import { describeDirectoryTree, describeImageTree } from '../src/diff/views.js';
import { EMPTY_SHA256 } from '../src/extract/walk-tree.js';
import { BIN, cli, cpioExtract, sh, skippedDevices } from './support/cli.js';
import { archivesOf, fixtureImages } from './support/fixtures.js';
import { AS_ROOT, HAVE_DRACUT, skipUnlessCI, titled } from './support/needs.js';
import { DIR, type FakeEntry, SYMLINK, newcArchive } from './support/newc.js';
import { realImage } from './support/real.js';
import { scratch, viewInMemory } from './support/scratch.js';
import { describeTree } from './support/tree.js';

/**
 * `diff A B` compares the trees unpack leaves (or a directory's). The oracles: GNU cpio's
 * extraction of the same archives must compare equal; each pair that differs in one thing must
 * give exactly that one difference, which `diff -r` (content, a path in one tree only) or a
 * tree description of its own (the rest) must see too.
 */
const { work, fresh, writeImage } = scratch('irr-diff-');

const CPIO_IN = 'cpio -idmu --no-absolute-filenames --quiet';

/** GNU cpio's extraction of each archive in turn into a new directory, and the device nodes it could not make. */
function gnuExtract(archives: Buffer[]): { dir: string; unmade: string[] } {
  const dir = fresh('cpio');
  const unmade = archives.flatMap((archive) => cpioExtract(CPIO_IN, { cwd: dir, input: archive }));
  return { dir, unmade };
}


const lines = (out: Buffer) => out.toString().split('\n').filter(Boolean);

/** As a user, what GNU cpio and unpack write is the user's: an owner line saying only that is no difference of theirs. */
const USER = `${process.getuid?.()}:${process.getgid?.()}`;
const OWNED_BY_USER = new RegExp(`: owner (\\d+:\\d+ -> ${USER}|${USER} -> \\d+:\\d+)$`);
const differences = (out: Buffer) => lines(out).filter((line) => AS_ROOT || !OWNED_BY_USER.test(line));
/**
 * diff's status for what it printed: 1 for any difference, 0 for none. As a user that depends on
 * who built the fixtures: root's hold device nodes and owners the user cannot make; a user's
 * own hold neither, and their extraction is equal.
 */
const statusFor = (out: Buffer) => (lines(out).length > 0 ? 1 : 0);

describe('an image compared with its extraction', () => {
  const fixtures = fixtureImages().filter(({ manifest }) => /^(dracut-(none|gzip|zstd|lz4-legacy|xz)|order-gzip-xz)\.img$/.test(manifest.image));

  it('covers several fixtures', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(5);
  });

  it.each(fixtures.map((f) => [f.manifest.image, f] as const))('%s: equal to GNU cpio -idmu of each archive (as a user, but for the devices and owners it cannot make)', (_, { path, manifest }) => {
    const { dir, unmade } = gnuExtract(archivesOf(path, manifest));
    const run = cli(['diff', path, dir]);
    expect(run.stderr).toBe('');
    expect(differences(run.stdout)).toEqual(unmade.sort().map((name) => `- ${name}`));
    expect(run.status).toBe(statusFor(run.stdout));
  });

  it.each(fixtures.map((f) => [f.manifest.image, f] as const))('%s: equal to our own unpack of it, both ways (as a user, but for the devices and owners it cannot make)', (_, { path }) => {
    const dir = join(fresh('unpack'), 'target');
    const unpack = cli(['unpack', path, dir]);
    expect(unpack.status).toBe(0);
    const skipped = skippedDevices(unpack.stderr).sort();
    for (const [args, sign] of [[[path, dir], '-'], [[dir, path], '+']] as const) {
      const run = cli(['diff', ...args]);
      expect(run.stderr).toBe('');
      expect(differences(run.stdout)).toEqual(skipped.map((name) => `${sign} ${name}`));
      expect(run.status).toBe(statusFor(run.stdout));
    }
  });

  const real = realImage('fedora-like-zstd.img');
  const whyNotReal = skipUnlessCI(!existsSync(real) ? `no ${real}: npm run setup` : !HAVE_DRACUT ? 'no /usr/lib/dracut/skipcpio' : !AS_ROOT ? "not root: GNU cpio cannot make the image's device nodes" : undefined);
  it.skipIf(whyNotReal)(titled('a real image equals cpio -idmu of it, then skipcpio | zstd -dc | cpio -idmu', whyNotReal), () => {
    const dir = fresh('real');
    sh(`cpio -idmu --no-absolute-filenames --quiet < ${real}`, { cwd: dir });
    sh(`/usr/lib/dracut/skipcpio ${real} | zstd -dc | cpio -idmu --no-absolute-filenames --quiet`, { cwd: dir });
    const run = cli(['diff', real, dir]);
    expect({ status: run.status, stdout: run.stdout.toString(), stderr: run.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
  }, 120_000);
});

/*
 * Past 16,384 directories the writer's directory records spill to sorted runs in a scratch file,
 * and past 16,384 groups its hard-link groups: in the target for unpack, in $TMPDIR for the model
 * diff describes an image by (src/extract/model.ts), merged at the end (eachDirectoryMeta).
 */
describe('an image of 17,000 directories and 16,500 hard-link groups, past what the writer holds in memory', () => {
  const DIRECTORIES = 17_000;
  const entries: FakeEntry[] = [];
  for (let d = 0; d < DIRECTORIES; d++) {
    const name = d < 100 ? `d${d}` : `d${d % 100}/e${d}`;
    entries.push({ name, mode: 0o040700 + (d % 64), mtime: 1_600_000_000 + d });
  }
  // Hard-link groups far apart: every first name, then every second.
  for (const n of ['x', 'y']) for (let g = 0; g < 16_500; g++) entries.push({ name: `d${g % 100}/${n}${g}`, ino: g + 1, nlink: 2, data: n === 'y' ? `${g}` : undefined, mtime: 1 });
  const image = writeImage([newcArchive(entries)]);

  it('is what GNU cpio -idmu extracts, modes and links; and with no $TMPDIR to spill into, too', () => {
    const { dir } = gnuExtract([newcArchive(entries)]);
    const run = cli(['diff', image, dir]);
    expect(differences(run.stdout)).toEqual([]);
    expect(run.stderr).toBe('');
    const inMemory = cli(['diff', image, dir], { env: { TMPDIR: join(work, 'missing') } });
    expect([inMemory.stdout.toString(), inMemory.stderr]).toEqual([run.stdout.toString(), '']);
  });

  it('is the same where the address space is limited (ulimit -v), which refuses the reservations the arrays that grow ask for', () => {
    const { dir } = gnuExtract([newcArchive(entries)]);
    const run = cli(['diff', image, dir]);
    // Some 3 GB: Node's own start takes about 1.2 GB of it, and six reservations of 256 MiB fit in the rest.
    const limited = spawnSync('bash', ['-c', 'ulimit -v 3000000 && exec "$@"', 'bash', process.execPath, BIN, 'diff', image, dir], { maxBuffer: 1 << 30 });
    expect([limited.status, limited.stdout.toString(), limited.stderr.toString()]).toEqual([run.status, run.stdout.toString(), '']);
  });

  // GNU cpio sets a directory's mtime as it makes it, and the names made in it after change it.
  it('is what our unpack leaves, mtimes too, both ways', () => {
    const dir = join(fresh('unpack'), 'target');
    expect(cli(['unpack', image, dir]).status).toBe(0);
    for (const args of [[image, dir], [dir, image]]) {
      const run = cli(['diff', '--mtime', ...args]);
      expect([differences(run.stdout), run.stderr]).toEqual([[], '']);
    }
  });

  it('says so where one directory\'s mode and one group differ', () => {
    const changed = entries.map((e) => (e.name === 'd7/e12307' ? { ...e, mode: 0o040711 } : e.name === 'd3/y16003' ? { ...e, ino: 99_999, nlink: 1 } : e));
    const run = cli(['diff', image, writeImage([newcArchive(changed)])]);
    // x16003 alone has no data: it is the empty file GNU cpio leaves where a group's data never came.
    expect(lines(run.stdout)).toEqual([
      'M d3/x16003: size 5 -> 0',
      'M d3/x16003: hard links d3/y16003 -> (none)',
      'M d3/y16003: hard links d3/x16003 -> (none)',
      'M d7/e12307: mode 0723 -> 0711',
    ]);
    expect(run.status).toBe(1);
  });
});

describe('diffTrees', () => {
  it('gives each difference its own path, all of them collected before any is read', () => {
    const make = (names: string[]) => {
      const root = fresh('tree');
      for (const name of names) {
        mkdirSync(join(root, name, '..'), { recursive: true });
        writeFileSync(join(root, name), name);
      }
      return describeDirectoryTree(root);
    };
    const found = diffTrees(make(['x/1', 'x/22', 'y']), make(['x/333', 'y', 'zz']));
    expect(found.map((d) => `${d.kind} ${d.path.toString()}`)).toEqual(['removed x/1', 'removed x/22', 'added x/333', 'added zz']);
  });

  it('finds an image of fewer paths, each path of the first alone removed, and no other difference', async () => {
    const files = (count: number) => newcArchive(Array.from({ length: count }, (_, i) => ({ name: `d/x${i}`, data: `${i}` })));
    const [many, fewer] = await Promise.all([describeImageTree(writeImage([files(3000)])), describeImageTree(writeImage([files(1500)]))]);
    const found = diffTrees(many.tree, fewer.tree);
    expect(found).toHaveLength(1500);
    expect(found.every((d) => d.kind === 'removed')).toBe(true);
    expect(diffTrees(fewer.tree, many.tree).map((d) => `${d.kind} ${d.path.toString()}`)).toEqual(found.map((d) => `added ${d.path.toString()}`));
  });

  it('sees empty files as equal, to one another\'s content too, and as sha256 sees nothing', () => {
    expect(Buffer.from(EMPTY_SHA256).toString('hex')).toBe(createHash('sha256').digest('hex'));
    const make = (files: Record<string, string>) => {
      const root = fresh('tree');
      for (const [name, data] of Object.entries(files)) writeFileSync(join(root, name), data);
      return describeDirectoryTree(root);
    };
    // By records made in this order: a file of data first, then empty ones, which share a digest.
    const view = (...files: [string, string][]) => {
      const tree = viewInMemory();
      for (const [name, data] of files) {
        const record = tree.addRecord('file', { mode: 0o644, uid: 0, gid: 0 }, createHash('sha256').update(data).digest(), data.length);
        tree.put(tree.paths.add(Buffer.from(name)), record, NONE);
      }
      return tree.sortInto();
    };
    expect(diffTrees(view(['d', 'data'], ['e1', ''], ['e2', '']), view(['e1', ''], ['e2', ''], ['d', 'data']))).toEqual([]);
    const a = make({ e1: '', e2: '', f: 'x', g: '' });
    expect(diffTrees(a, make({ e1: '', e2: '', f: 'x', g: '' }))).toEqual([]);
    const found = diffTrees(a, make({ e1: '', e2: 'y', f: '', g: '' }));
    expect(found.map((d) => [d.path.toString(), d.kind, 'a' in d ? `${d.a} -> ${d.b}` : ''])).toEqual([
      ['e2', 'size', '0 -> 1'],
      ['f', 'size', '1 -> 0'],
    ]);
  });
});

/** The tree every pair starts from; each variant changes one thing. */
const BASE: FakeEntry[] = [
  { name: 'etc', mode: DIR, mtime: 1_600_000_000 },
  { name: 'etc/foo', mode: 0o100644, data: 'hello\n', mtime: 1_600_000_001 },
  { name: 'etc/bar', mode: 0o100755, data: 'bar', mtime: 1_600_000_002 },
  { name: 'etc/gone', data: 'soon gone', mtime: 1_600_000_003 },
  { name: 'link', mode: SYMLINK, data: 'etc/foo', mtime: 1_600_000_004 },
  // As GNU cpio writes a hard-link group: the data on its last name.
  { name: 'h1', ino: 100, nlink: 2, mtime: 1_600_000_005 },
  { name: 'h2', ino: 100, nlink: 2, data: 'shared', mtime: 1_600_000_005 },
  { name: 'tty', mode: 0o020600, rdevMajor: 4, rdevMinor: 1, mtime: 1_600_000_006 },
];

const sha256 = (text: string) => sh('sha256sum', { input: Buffer.from(text) }).toString().slice(0, 64);

function variant(change: (entries: FakeEntry[]) => FakeEntry[]): FakeEntry[] {
  return change(BASE.map((e) => ({ ...e })));
}

function replace(name: string, fields: Partial<FakeEntry>): (entries: FakeEntry[]) => FakeEntry[] {
  return (entries) => entries.map((e) => (e.name === name ? { ...e, ...fields } : e));
}

/** Each pair, its expected lines, and whether `diff -r` sees the difference. */
const PAIRS: { what: string; entries: FakeEntry[]; expected: string[]; diffR?: RegExp }[] = [
  { what: 'a mode', entries: variant(replace('etc/foo', { mode: 0o100600 })), expected: ['M etc/foo: mode 0644 -> 0600'] },
  { what: 'an owner', entries: variant(replace('etc/foo', { uid: 1000, gid: 100 })), expected: ['M etc/foo: owner 0:0 -> 1000:100'] },
  {
    what: 'content of the same size',
    entries: variant(replace('etc/foo', { data: 'HELLO\n' })),
    expected: [`M etc/foo: content ${sha256('hello\n')} -> ${sha256('HELLO\n')}`],
    diffR: /^diff -r \S+\/etc\/foo \S+\/etc\/foo$/m,
  },
  { what: 'a size', entries: variant(replace('etc/foo', { data: 'hello, world\n' })), expected: ['M etc/foo: size 6 -> 13'], diffR: /^diff -r \S+\/etc\/foo \S+\/etc\/foo$/m },
  { what: 'a symlink target', entries: variant(replace('link', { data: 'etc/bar' })), expected: ['M link: target etc/foo -> etc/bar'] },
  {
    what: 'hard-link grouping (shown at each name of the group)',
    entries: variant((entries) => entries.map((e) => (e.name === 'h1' ? { ...e, ino: 101, nlink: 1, data: 'shared' } : e.name === 'h2' ? { ...e, nlink: 1 } : e))),
    expected: ['M h1: hard links h2 -> (none)', 'M h2: hard links h1 -> (none)'],
  },
  {
    what: 'a hard-link group of other names (two names each)',
    entries: variant((entries) => [
      ...entries.map((e) => (e.name === 'h1' ? { ...e, ino: 101, nlink: 1, data: 'shared' } : e.name === 'h2' ? { ...e, data: undefined } : e)),
      { name: 'h3', ino: 100, nlink: 2, data: 'shared', mtime: 1_600_000_005 },
    ]),
    expected: ['M h1: hard links h2 -> (none)', 'M h2: hard links h1 -> h3', '+ h3'],
  },
  { what: 'device numbers', entries: variant(replace('tty', { rdevMajor: 5, rdevMinor: 64 })), expected: ['M tty: device 4:1 -> 5:64'] },
  {
    what: 'added paths, in the order of their bytes (not a walk\'s: \'-\' is below \'/\', \'0\' above)',
    entries: variant((entries) => [...entries, ...['etc0', 'etc/new', 'etc-new'].map((name) => ({ name, data: 'new', mtime: 1 }))]),
    expected: ['+ etc-new', '+ etc/new', '+ etc0'],
  },
  { what: 'an added file', entries: variant((entries) => [...entries, { name: 'etc/new', data: 'new', mtime: 1 }]), expected: ['+ etc/new'], diffR: /^Only in \S+\/etc: new$/m },
  { what: 'a removed file', entries: variant((entries) => entries.filter((e) => e.name !== 'etc/gone')), expected: ['- etc/gone'], diffR: /^Only in \S+\/etc: gone$/m },
  { what: 'a type', entries: variant(replace('etc/bar', { mode: SYMLINK, data: 'foo' })), expected: ['T etc/bar: file -> symlink'] },
];

/** The paths whose description differs between two directories, or that only one has. */
function describedDifferences(a: string, b: string): string[] {
  const [x, y] = [describeTree(a, { owners: true }), describeTree(b, { owners: true })];
  return [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k])).sort();
}

const whyNotOwners = AS_ROOT ? undefined : 'not root: GNU cpio cannot give the archives\' owners';

describe.skipIf(whyNotOwners)(titled('pairs that differ in one thing', whyNotOwners), () => {
  const baseImage = writeImage([newcArchive(BASE)]);
  const baseDir = gnuExtract([newcArchive(BASE)]).dir;

  /** Our unpack: GNU cpio -m leaves directories and symlinks with the time it made them. */
  const baseUnpacked = join(fresh('unpack'), 'target');
  cli(['unpack', baseImage, baseUnpacked]);

  it.each([['GNU cpio -idmu', baseDir, []], ['our unpack, mtimes included', baseUnpacked, ['--mtime']]])('the base image equals its extraction by %s', (_, dir, options) => {
    const run = cli(['diff', baseImage, dir, ...options]);
    expect({ status: run.status, stdout: run.stdout.toString(), stderr: run.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it.each(PAIRS.map((p) => [p.what, p] as const))('%s: exactly that difference, image or directory, as diff -r or the trees see it', (_, { entries, expected, diffR }) => {
    const archive = newcArchive(entries);
    const image = writeImage([archive]);
    const dir = gnuExtract([archive]).dir;
    for (const [a, b] of [[baseImage, dir], [baseDir, dir], [baseImage, image], [baseDir, image]]) {
      const run = cli(['diff', a, b]);
      expect({ status: run.status, lines: lines(run.stdout).filter((l) => !l.startsWith('A ')), stderr: run.stderr }).toEqual({ status: 1, lines: expected, stderr: '' });
    }
    const paths = [...new Set(expected.map((line) => /^. ([^:]+)/.exec(line)![1]))].sort();
    expect(describedDifferences(baseDir, dir)).toEqual(paths);
    const r = spawnSync('diff', ['-r', baseDir, dir]);
    if (diffR) {
      expect(r.status).toBe(1);
      expect(r.stdout.toString()).toMatch(diffR);
    }
  });

  it('an extra early archive: the archive section differs, the trees do not', () => {
    const early = newcArchive([{ name: 'etc', mode: DIR, mtime: 1_600_000_000 }]);
    const padded = Buffer.concat([early, Buffer.alloc(512 - (early.length % 512))]);
    const image = writeImage([padded, newcArchive(BASE)]);
    const main = newcArchive(BASE).length;
    const data = BASE.reduce((sum, e) => sum + (e.data?.length ?? 0), 0);
    const run = cli(['diff', baseImage, image, '--mtime']);
    expect(run.status).toBe(1);
    expect(lines(run.stdout)).toEqual([
      `A archive 1: end ${main} -> ${early.length}, size ${main} -> ${early.length}, entries ${BASE.length} -> 1, extractedSize ${data} -> 0`,
      `A archive 2: + cpio 512-${512 + main}, ${BASE.length} entries, ${data} bytes`,
    ]);
    const json = JSON.parse(cli(['diff', baseImage, image, '--json']).stdout.toString());
    expect(json.differences).toEqual([]);
    expect(json.archives.a).toHaveLength(1);
    expect(json.archives.b).toHaveLength(2);
    expect(json.archives.differences.map((d: { kind: string }) => d.kind)).toEqual(['changed', 'added']);
  });

  it('--mtime: an mtime differs only when asked', () => {
    const image = writeImage([newcArchive(variant(replace('etc/bar', { mtime: 5 })))]);
    // Only a byte of a header differs: the archives' sizes and counts are the same.
    expect(cli(['diff', baseImage, image]).status).toBe(0);
    const run = cli(['diff', baseUnpacked, image, '--mtime']);
    expect(lines(run.stdout)).toEqual(['M etc/bar: mtime 1600000002 -> 5']);
    expect(cli(['diff', baseUnpacked, image]).status).toBe(0);
  });

  it('--stat and --json', () => {
    const entries = variant((e) => [...replace('etc/foo', { mode: 0o100600, uid: 7 })(e).filter((x) => x.name !== 'etc/gone'), { name: 'a', data: '' }, { name: 'b', data: '' }]);
    const dir = gnuExtract([newcArchive(entries)]).dir;
    const stat = cli(['diff', baseDir, dir, '--stat']);
    expect({ status: stat.status, stdout: stat.stdout.toString() }).toEqual({ status: 1, stdout: '2 added, 1 removed, 1 changed\n' });
    const json = JSON.parse(cli(['diff', baseDir, dir, '--json']).stdout.toString());
    expect(json).toEqual({
      a: baseDir,
      b: dir,
      equal: false,
      summary: { added: 2, removed: 1, changed: 1 },
      differences: [
        { path: 'a', kind: 'added', type: 'file' },
        { path: 'b', kind: 'added', type: 'file' },
        { path: 'etc/foo', kind: 'mode', a: '0644', b: '0600' },
        { path: 'etc/foo', kind: 'owner', a: '0:0', b: '7:0' },
        { path: 'etc/gone', kind: 'removed', type: 'file' },
      ],
    });
    expect(JSON.parse(cli(['diff', baseDir, baseDir, '--json']).stdout.toString())).toMatchObject({ equal: true, differences: [] });
  });
});

describe('trouble: exit 2', () => {
  it.each([[[]], [['one']], [['a', 'b', 'c']], [['a', 'b', '--bogus']]])('usage error: diff %j', (args) => {
    const run = cli(['diff', ...args]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^initramfs-restore: .*\nRun 'initramfs-restore diff --help' for usage\.\n$/);
  });

  it('a truncated image names the file and the byte offset', () => {
    const archive = newcArchive(BASE);
    const image = writeImage([archive.subarray(0, 200)]);
    const dir = fresh('empty');
    const run = cli(['diff', dir, image]);
    expect(run.status).toBe(2);
    expect(run.stdout.toString()).toBe('');
    expect(run.stderr).toMatch(new RegExp(`^initramfs-restore: ${image.replaceAll('/', '\\/')}: .* at byte \\d+\\n$`));
  });

  it('a missing input is named', () => {
    const run = cli(['diff', join(work, 'nothing-here'), fresh('empty')]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('nothing-here');
  });

});
