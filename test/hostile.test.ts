import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, sh } from './support/cli.js';
import { newcArchive } from './support/newc.js';
import { listPaths } from './support/tree.js';

/**
 * The hostile corpus (test-images/hostile/make-hostile.ts, built by the global setup): every
 * command that reads an image, on every case, gives its expected exit status, a message with the byte offset, never a
 * stack trace, never a hang, and nothing outside the target, checked by walking a sandbox
 * around it.
 */
const CORPUS = `${ROOT}test-images/hostile/build`;
const cases = JSON.parse(readFileSync(join(CORPUS, 'cases.json'), 'utf8')) as {
  name: string;
  about: string;
  expect: { status: 0 | 1 | 'either'; refused?: boolean; offset?: boolean };
}[];
const work = mkdtempSync(join(tmpdir(), 'irr-hostile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const HANG_MS = 120_000;
/** Bombs are stopped by the limit here; the default limit has a test of its own. */
const LIMIT = ['--max-size', '256M'];

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: HANG_MS, maxBuffer: 1 << 28 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** The target sits three levels down, so that ../../.. still lands in the sandbox, where it shows. */
function sandbox(name: string) {
  const root = join(work, name);
  const target = join(root, 'a/b/c/target');
  mkdirSync(join(root, 'a/b/c'), { recursive: true });
  const outside = () => listPaths(root).filter((p) => !p.startsWith('a/b/c/target'));
  return { root, target, outside, before: outside() };
}

const ESCAPED = ['/tmp/escape', '/tmp/escape-absolute', '/escape', '/escape-absolute'];

/** `failed`: the command's status for trouble (diff's is 2: its 1 means different). */
function expectWellBehaved(r: ReturnType<typeof run>, image: string, failed = 1) {
  expect(r.signal, 'killed: a hang').toBeNull();
  expect([0, 1, failed]).toContain(r.status);
  expect(r.stderr).not.toMatch(/\n\s+at .*\(|node:internal|RangeError|TypeError/);
  if (r.status === failed) expect(r.stderr).toMatch(/^initramfs-restore: /);
  if (r.status === failed && !/refused/.test(r.stderr)) expect(r.stderr).toContain(image);
}

/** What some cases must leave inside the target when they succeed. */
const LEAVES: Record<string, (target: string) => void> = {
  absolute: (target) => expect(readFileSync(join(target, 'escape-absolute'), 'utf8')).toBe('owned\n'),
  'symlink-then-file': (target) => expect(lstatSync(join(target, 'f')).isFile()).toBe(true),
  'non-utf8-names': (target) => expect(readdirSync(target, { encoding: 'buffer' }).map((n) => n.toString('hex')).sort())
    .toEqual([Buffer.from([0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]).toString('hex'), Buffer.from('caf\xe9', 'latin1').toString('hex')].sort()),
  'deep-2000': (target) => expect(existsSync(join(target, `${Array(2000).fill('a').join('/')}/f`))).toBe(true),
  'million-entries': (target) => expect(readdirSync(target)).toEqual(['e']),
};

describe('the hostile corpus', () => {
  it('is built: every case has its image, and every case whose leavings are checked must succeed', () => {
    expect(cases.length).toBeGreaterThan(0);
    for (const { name } of cases) expect(existsSync(join(CORPUS, `${name}.img`)), name).toBe(true);
    const succeeding = cases.filter((c) => c.expect.status === 0).map((c) => c.name);
    expect(succeeding).toEqual(expect.arrayContaining(Object.keys(LEAVES)));
  });
});

describe.each(cases)('hostile case $name', ({ name, about, expect: want }) => {
  const image = join(CORPUS, `${name}.img`);

  it(`unpack: ${about}`, () => {
    const box = sandbox(`unpack-${name}`);
    const r = run(['unpack', image, box.target, ...LIMIT]);
    expectWellBehaved(r, image);
    if (want.status !== 'either') expect(r.status).toBe(want.status);
    if (want.refused) expect(r.stderr).toMatch(/refused/);
    if (r.status === 1 && want.offset) expect(r.stderr).toMatch(/at byte \d+/);
    expect(box.outside()).toEqual(box.before);
    for (const path of ESCAPED) expect(existsSync(path), path).toBe(false);
    if (r.status === 0) LEAVES[name]?.(box.target);
  });

  it('unpack --order dracut-057 (staged, moved into place only on success)', () => {
    const box = sandbox(`trial-${name}`);
    const r = run(['unpack', image, box.target, '--order', 'dracut-057', '--engine', 'builtin', ...LIMIT]);
    expect(r.signal, 'killed: a hang').toBeNull();
    expect([0, 1]).toContain(r.status);
    expect(r.stdout.toString() + r.stderr).not.toMatch(/\n\s+at .*\(|node:internal/);
    expect(box.outside()).toEqual(box.before);
    for (const path of ESCAPED) expect(existsSync(path), path).toBe(false);
    // Success moves the tree in; failure leaves nothing, staging included.
    if (r.status === 1) expect(existsSync(box.target) ? readdirSync(box.target) : []).toEqual([]);
  });

  it('examine and list', () => {
    for (const command of ['examine', 'list']) {
      const r = run([command, image, ...LIMIT]);
      expectWellBehaved(r, image);
      if (want.offset && want.status === 1) {
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/at byte \d+/);
      }
    }
  });
});

describe.each(cases)('hostile case $name, read by the model tree', ({ name, expect: want }) => {
  const image = join(CORPUS, `${name}.img`);

  // cat of a path most cases lack still reads the whole image first, to find the last entry.
  it.each([
    { command: 'du', args: [image], failed: 1 },
    { command: 'cat', args: [image, 'f'], failed: 1 },
    { command: 'diff', args: [image, image], failed: 2 },
  ])('$command', ({ command, args, failed }) => {
    const r = run([command, ...args, ...LIMIT]);
    expectWellBehaved(r, image, failed);
    if (want.offset && want.status === 1) {
      expect(r.status).toBe(failed);
      expect(r.stderr).toMatch(/at byte \d+/);
    }
    // An image is the same tree as itself.
    if (command === 'diff' && r.status !== failed) expect(r.status).toBe(0);
  });
});

describe.skipIf(!existsSync('/usr/bin/time'))('bombs in bounded memory', () => {
  it('8 GiB of a zstd bomb is read with a peak RSS under 128 MiB, then stopped by the limit', () => {
    const image = join(CORPUS, 'zstd-bomb.img');
    const report = join(work, 'rss');
    const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', report, process.execPath, BIN, 'list', image, '--max-size', '8G'], { timeout: HANG_MS });
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(/more than the 8589934592-byte limit \(--max-size[^)]*\) at byte 0/);
    const peakKb = Number(readFileSync(report, 'utf8').trim().split('\n').at(-1));
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThanOrEqual(128 * 1024);
  });

  // node:zlib decodes gzip into a new buffer per output chunk: left to V8's collections
  // instead of freed as the sink is done with it (release in src/decode/zlib-pump.ts), this
  // peaks near 124 MB.
  it('the 1 GiB of a gzip bomb pass through node:zlib with a peak RSS under 80 MiB', () => {
    const image = join(CORPUS, 'gzip-bomb.img');
    const report = join(work, 'rss-gzip');
    const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', report, process.execPath, BIN, 'list', image], { timeout: HANG_MS });
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(/truncated cpio archive: the data ends inside the entry "bomb0"/);
    const peakKb = Number(readFileSync(report, 'utf8').trim().split('\n').at(-1));
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThanOrEqual(80 * 1024);
  });

  // A window of its own per member, or a decoder memory per lz4 frame, left megabytes to V8's
  // collections each time, and it collects by what JavaScript allocates: 190-250 MB here.
  it('3000 lz4 frames, each a member our decoder reads, with a peak RSS under 100 MiB', () => {
    const frame = sh('lz4 -q -c', { input: newcArchive([{ name: 'f', data: 'x' }]) });
    const image = join(work, 'lz4-frames.img');
    writeFileSync(image, Buffer.concat(Array.from({ length: 3000 }, () => frame)));
    const report = join(work, 'rss-lz4-frames');
    const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', report, process.execPath, BIN, 'examine', '--in-process', '--json', image], { timeout: HANG_MS, maxBuffer: 64 << 20 });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(JSON.parse(r.stdout.toString()).archives).toHaveLength(3000);
    const peakKb = Number(readFileSync(report, 'utf8').trim().split('\n').at(-1));
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThanOrEqual(100 * 1024);
  });
});
