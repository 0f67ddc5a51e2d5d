import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skipcpio } from '../src/restore/skipcpio.js';
import { ROOT, sh } from './support/cli.js';
import { type DracutWalk, dracutWalk } from './support/dracut-skipcpio.js';
import { FIXTURES } from './support/fixtures.js';
import { DIR, SYMLINK, newcArchive, newcEntry } from './support/newc.js';
import { REAL, REAL_EXPECTED, REAL_IMAGES, realImagesFound } from './support/real.js';

/**
 * Differential: dracut's own skipcpio (Debian's dracut-core) and ours on the same files must
 * give the same stdout bytes and the same exit status. Where dracut's loops forever (a size
 * with a minus sign that walks back), ours must stop with status 1 and say so. Which inputs
 * those are is decided from their bytes (test/support/dracut-skipcpio.ts), never from how long
 * dracut's takes: a slow run on a loaded machine fails its test instead of changing what ours
 * is held to.
 */
const DRACUT = '/usr/lib/dracut/skipcpio';
const haveDracut = existsSync(DRACUT);
const work = mkdtempSync(join(tmpdir(), 'irr-skipcpio-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A run of dracut's skipcpio that the model says ends; not ending in this long is a failure. */
const DRACUT_ENDS_MS = 120_000;
/** How long dracut's is watched on an input the model says it loops on: it must still be running. */
const DRACUT_LOOPS_MS = 300;
/** Per-test budgets: each test runs dracut's many times, and a loaded machine may be slow. */
const MANY_RUNS_MS = 900_000;

interface Outcome {
  status: number;
  stdout: Buffer;
}

function dracut(path: string): Outcome {
  const r = spawnSync(DRACUT, [path], { timeout: DRACUT_ENDS_MS, maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`dracut's skipcpio on ${path}: ${r.error.message} (it must end: the walk does not come back on itself)`);
  if (r.status === null) throw new Error(`dracut's skipcpio on ${path} was killed by ${r.signal}`);
  return { status: r.status, stdout: r.stdout };
}

function ours(path: string): Outcome & { message?: string } {
  const out = join(work, 'ours.out');
  const fd = openSync(out, 'w');
  let result;
  try {
    result = skipcpio(path, fd);
  } finally {
    closeSync(fd);
  }
  return { status: result.status, stdout: readFileSync(out), message: result.message };
}

/** Compares ours with dracut's on `path`, and returns what the model says dracut's walk does. */
function compare(path: string): DracutWalk {
  const walk = dracutWalk(path);
  const actual = ours(path);
  if (walk.outcome === 'loop') {
    expect({ path, status: actual.status, stdout: actual.stdout.length }).toEqual({ path, status: 1, stdout: 0 });
    expect(actual.message, path).toMatch(/would loop forever/);
    expect(actual.message, path).toContain(`returns to byte ${walk.revisits}`);
    // A check of the model, not a verdict on ours: given a moment, dracut's has not ended.
    const r = spawnSync(DRACUT, [path], { timeout: DRACUT_LOOPS_MS });
    expect(r.error && (r.error as NodeJS.ErrnoException).code, `${path}: the model says dracut's skipcpio loops, yet it ended with status ${r.status}`).toBe('ETIMEDOUT');
    return walk;
  }
  const expected = dracut(path);
  expect({ path, status: actual.status }).toEqual({ path, status: expected.status });
  expect(actual.stdout.equals(expected.stdout), `${path}: stdout differs`).toBe(true);
  // The model agrees with dracut's where it ends, so its word on the loops can be trusted.
  const size = statSync(path).size;
  expect({ path, status: walk.outcome === 'copy' ? 0 : 1, stdout: walk.outcome === 'copy' ? size - walk.start : 0 }).toEqual({
    path,
    status: expected.status,
    stdout: expected.stdout.length,
  });
  return walk;
}

/** A small deterministic generator, so that a failure can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const FIELD_CHARS = ['-', '+', ' ', '\t', 'x', 'X', '0', 'g', '\0', '\n', 'f', 'F', '9', '7'];

function generated(count: number): Buffer[] {
  const rand = prng(20220414);
  const pick = <T>(list: T[]): T => list[Math.floor(rand() * list.length)];
  const payloads = [
    Buffer.alloc(0),
    Buffer.alloc(37),
    sh('gzip -c', { input: Buffer.from('payload'.repeat(50)) }),
    Buffer.concat([Buffer.alloc(3), Buffer.from([1, 2, 3])]),
    newcArchive([{ name: 'second', data: 'x' }]),
  ];
  const bases = [
    newcArchive([{ name: '.', mode: DIR }, { name: 'early_cpio', data: '1\n' }]),
    newcArchive([{ name: 'a', data: 'abc' }, { name: 'l', mode: SYMLINK, data: 'a' }, { name: 'd', mode: DIR }]),
    newcArchive([{ name: 'TRAILER', data: 'not the end' }]),
    newcArchive([]),
  ];
  const inputs: Buffer[] = [];
  for (let n = 0; n < count; n++) {
    let bytes = Buffer.concat([pick(bases), Buffer.alloc(Math.floor(rand() * 9)), pick(payloads)]);
    const kind = Math.floor(rand() * 8);
    const header = Math.floor(rand() * 3) * 124;
    if (kind === 0) {
      bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
    } else if (kind === 1 || kind === 2) {
      // A character of the namesize or filesize field.
      const field = kind === 1 ? 94 : 54;
      const at = header + field + Math.floor(rand() * 8);
      if (at < bytes.length) bytes[at] = pick(FIELD_CHARS).charCodeAt(0);
    } else if (kind === 3) {
      const at = Math.floor(rand() * Math.min(bytes.length, 400));
      bytes[at] = Math.floor(rand() * 256);
    } else if (kind === 4) {
      bytes.write(pick(['070702', '070707', '07070', ' 70701']), 0, 'latin1');
    } else if (kind === 5 && bytes.length > header + 102) {
      // A whole field replaced by a lax-number spelling.
      const spelling = pick([' +0000b', '-0000001', '0x00000b', '0X0006E', '      0b', '-000006e', 'b\0\0\0\0\0\0\0', '0xg00000']);
      Buffer.from(spelling.padEnd(8, '0').slice(0, 8), 'latin1').copy(bytes, header + pick([54, 94]));
    } else if (kind === 6) {
      bytes = bytes.subarray(0, Math.floor(rand() * 130));
    } else {
      bytes = Buffer.concat([bytes, Buffer.alloc(Math.floor(rand() * 3000))]);
    }
    inputs.push(bytes);
  }
  return inputs;
}

describe.skipIf(!haveDracut && !process.env.CI)("skipcpio against dracut's own", () => {
  it('is installed (CI installs dracut-core)', () => {
    expect(existsSync(DRACUT)).toBe(true);
  });

  it('agrees on every fixture and the sample image', () => {
    const images = readdirSync(FIXTURES).filter((f) => f.endsWith('.img')).map((f) => join(FIXTURES, f));
    expect(images.length).toBeGreaterThan(20);
    for (const image of [...images, `${ROOT}test-images/sample.img`]) expect(compare(image).outcome, image).toBe('copy');
  }, MANY_RUNS_MS);

  it.skipIf(!REAL_EXPECTED)('agrees on every real dracut image, all 7 of them there', () => {
    expect(realImagesFound()).toEqual(REAL_IMAGES);
    // Whatever else the directory holds (the bench keeps the Debian installer's initrd there) too.
    const images = readdirSync(REAL).filter((f) => f.endsWith('.img'));
    for (const image of images) expect(compare(join(REAL, image)).outcome, image).toBe('copy');
  }, MANY_RUNS_MS);

  it('agrees on 600 generated and mutated inputs', () => {
    const inputs = generated(600);
    const walks = inputs.map((bytes, n) => {
      const path = join(work, `gen-${n}.bin`);
      writeFileSync(path, bytes);
      return compare(path);
    });
    // The generator must reach the quirks, not only the easy paths: copies, failures, and loops.
    const count = (outcome: DracutWalk['outcome']) => walks.filter((w) => w.outcome === outcome).length;
    expect(count('copy')).toBeGreaterThan(100);
    expect(count('fail')).toBeGreaterThan(100);
    expect(count('loop')).toBeGreaterThan(0);
    expect(count('loop')).toBeLessThan(inputs.length / 10);
  }, MANY_RUNS_MS);

  it('agrees on the edges of the format, and stops where dracut loops forever', () => {
    /** An entry whose namesize or filesize field is spelt `spelling`. */
    const spelt = (entry: Buffer, field: 'namesize' | 'filesize', spelling: string) => {
      Buffer.from(spelling, 'latin1').copy(entry, field === 'namesize' ? 94 : 54);
      return entry;
    };
    const first = newcEntry({ name: 'a', data: 'abcd' }); // 116 bytes
    const cases: Record<string, [Buffer, DracutWalk['outcome']]> = {
      empty: [Buffer.alloc(0), 'fail'],
      '119 bytes of text': [Buffer.alloc(119, 0x41), 'fail'],
      '120 bytes of text': [Buffer.alloc(120, 0x41), 'copy'],
      'one archive, nothing after': [newcArchive([{ name: 'a', data: 'x' }]), 'copy'],
      'no trailer': [newcArchive([{ name: 'a', data: 'x' }], false), 'fail'],
      'two plain archives then junk': [Buffer.concat([newcArchive([{ name: 'a' }]), newcArchive([{ name: 'b' }]), Buffer.from('junk')]), 'copy'],
      'zeros then data': [Buffer.concat([newcArchive([{ name: 'a' }]), Buffer.alloc(5), Buffer.from([0, 7, 0])]), 'copy'],
      'crc archive': [newcArchive([{ name: 'a', data: 'x', magic: '070702' }]), 'copy'],
      'trailer first': [Buffer.concat([newcArchive([]), Buffer.from('rest')]), 'copy'],
      // pos = align4(0 + 110 - 0x6e) + 0: the walk stands still on the first header.
      'namesize -000006e, no data': [Buffer.concat([spelt(newcEntry({ name: 'a' }), 'namesize', '-000006e'), newcArchive([])]), 'loop'],
      // The same on the second header, at byte 116.
      'namesize -000006e on the second entry': [Buffer.concat([first, spelt(newcEntry({ name: 'b' }), 'namesize', '-000006e'), newcArchive([])]), 'loop'],
      // pos = align4(116 + 110 + 2) - 0xe4: from the second header back to the first.
      'filesize -00000e4 on the second entry': [Buffer.concat([first, spelt(newcEntry({ name: 'b' }), 'filesize', '-00000e4'), newcArchive([])]), 'loop'],
      // -0x6e with data: the walk lands on byte 4, which is no header.
      'namesize -000006e with data': [Buffer.concat([spelt(newcEntry({ name: 'a', data: 'abcd' }), 'namesize', '-000006e'), newcArchive([])]), 'fail'],
      // 112 - 0xfffffff is below 0: a negative offset for fseek.
      'filesize -fffffff': [Buffer.concat([spelt(newcEntry({ name: 'a', data: 'abcd' }), 'filesize', '-fffffff'), newcArchive([])]), 'fail'],
    };
    for (const [name, [bytes, outcome]] of Object.entries(cases)) {
      const path = join(work, `${name.replace(/\W+/g, '-')}.bin`);
      writeFileSync(path, bytes);
      expect(compare(path).outcome, name).toBe(outcome);
    }
  });

  it('as the skipcpio command: dracut usage and exit status, and the same bytes', () => {
    const bin = `${ROOT}bin/skipcpio.js`;
    const usage = spawnSync(process.execPath, [bin]);
    expect(usage.status).toBe(1);
    expect(usage.stderr.toString()).toMatch(/^Usage: skipcpio <file>/);
    const image = join(FIXTURES, 'dracut-zstd.img');
    const run = spawnSync(process.execPath, [bin, image], { maxBuffer: 1 << 30 });
    expect(run.status).toBe(0);
    const theirs = dracut(image);
    expect(theirs.stdout.length).toBeGreaterThan(0);
    expect(run.stdout.equals(theirs.stdout)).toBe(true);
    const missing = spawnSync(process.execPath, [bin, join(work, 'missing')]);
    expect(missing.status).toBe(1);
  });
});
