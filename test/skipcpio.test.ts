import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skipcpio } from '../src/restore/skipcpio.js';
import { ROOT, sh } from './support/cli.js';
import { FIXTURES } from './support/fixtures.js';
import { DIR, SYMLINK, newcArchive } from './support/newc.js';

/**
 * Differential: dracut's own skipcpio (Debian's dracut-core) and ours on the same files must
 * give the same stdout bytes and the same exit status. Where dracut's loops forever (a size
 * with a minus sign that walks back), ours must stop with status 1.
 */
const DRACUT = '/usr/lib/dracut/skipcpio';
const haveDracut = existsSync(DRACUT);
const work = mkdtempSync(join(tmpdir(), 'irr-skipcpio-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Outcome {
  status: number | 'hang';
  stdout: Buffer;
}

function dracut(path: string): Outcome {
  const r = spawnSync(DRACUT, [path], { timeout: 5000, maxBuffer: 1 << 30 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') return { status: 'hang', stdout: Buffer.alloc(0) };
  return { status: r.status ?? -1, stdout: r.stdout };
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

function compare(path: string): void {
  const expected = dracut(path);
  const actual = ours(path);
  if (expected.status === 'hang') {
    expect(actual.status, path).toBe(1);
    expect(actual.message, path).toMatch(/loop forever/);
    return;
  }
  expect({ path, status: actual.status }).toEqual({ path, status: expected.status });
  expect(actual.stdout.equals(expected.stdout), `${path}: stdout differs`).toBe(true);
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
    for (const image of [...images, `${ROOT}test-images/sample.img`]) compare(image);
  });

  it('agrees on every real dracut image', () => {
    const real = `${ROOT}test-images/real`;
    const images = existsSync(real) ? readdirSync(real).filter((f) => f.endsWith('.img')) : [];
    for (const image of images) compare(join(real, image));
  });

  it('agrees on 600 generated and mutated inputs', () => {
    const inputs = generated(600);
    let hangs = 0;
    inputs.forEach((bytes, n) => {
      const path = join(work, `gen-${n}.bin`);
      writeFileSync(path, bytes);
      if (dracut(path).status === 'hang') hangs++;
      compare(path);
    });
    // The generator must reach the quirks, not only the easy paths.
    const statuses = inputs.map((_, n) => ours(join(work, `gen-${n}.bin`)).status);
    expect(statuses.filter((s) => s === 0).length).toBeGreaterThan(100);
    expect(statuses.filter((s) => s === 1).length).toBeGreaterThan(100);
    expect(hangs).toBeLessThan(inputs.length / 10);
  });

  it('agrees on the edges of the format', () => {
    const cases: Record<string, Buffer> = {
      empty: Buffer.alloc(0),
      '119 bytes of text': Buffer.alloc(119, 0x41),
      '120 bytes of text': Buffer.alloc(120, 0x41),
      'one archive, nothing after': newcArchive([{ name: 'a', data: 'x' }]),
      'no trailer': newcArchive([{ name: 'a', data: 'x' }], false),
      'two plain archives then junk': Buffer.concat([newcArchive([{ name: 'a' }]), newcArchive([{ name: 'b' }]), Buffer.from('junk')]),
      'zeros then data': Buffer.concat([newcArchive([{ name: 'a' }]), Buffer.alloc(5), Buffer.from([0, 7, 0])]),
      'crc archive': newcArchive([{ name: 'a', data: 'x', magic: '070702' }]),
      'trailer first': Buffer.concat([newcArchive([]), Buffer.from('rest')]),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const path = join(work, `${name.replace(/\W+/g, '-')}.bin`);
      writeFileSync(path, bytes);
      compare(path);
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
    expect(run.stdout.equals(dracut(image).stdout)).toBe(true);
    const missing = spawnSync(process.execPath, [bin, join(work, 'missing')]);
    expect(missing.status).toBe(1);
  });
});
