import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../src/errors.js';
import { decodeBzip2 } from '../src/decode/bzip2.js';
import { ByteSource } from '../src/decode/source.js';

let dir: string;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bzip2-test-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tmp(data: Uint8Array): string {
  const path = join(dir, `f${n++}`);
  writeFileSync(path, data);
  return path;
}

function bzip2(level: number, input: Uint8Array): Buffer {
  return execFileSync('bzip2', [`-${level}`, '-c'], { input, maxBuffer: 1 << 30 });
}

/** Deterministic data that looks like real files: text, binary, zero runs, repeats. */
function realistic(size: number, seed = 1): Buffer {
  let x = seed >>> 0 || 1;
  const rnd = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const words = ['initramfs', 'kernel', ' ', 'lib', '/usr/', 'module', '\n', 'systemd', '.so', 'dracut', '=', '0x'];
  const out = Buffer.alloc(size);
  let p = 0;
  while (p < size) {
    const kind = rnd() % 10;
    const len = Math.min(size - p, 1 + (rnd() % 2000));
    if (kind < 4) {
      for (let q = p; q < p + len; ) q += out.write(words[rnd() % words.length], q, 'latin1');
    } else if (kind < 6) {
      for (let q = p; q < p + len; q++) out[q] = rnd() & 0xff;
    } else if (kind < 7) {
      out.fill(0, p, p + len);
    } else if (p > 0) {
      const from = rnd() % p;
      for (let q = 0; q < len; q++) out[p + q] = out[from + q];
    }
    p += len;
  }
  return out;
}

async function decodeAt(path: string, at = 0, bufferSize?: number): Promise<{ out: Buffer; offset: number; chunks: number[] }> {
  const src = ByteSource.open(path, bufferSize);
  try {
    src.seek(at);
    const parts: Buffer[] = [];
    const chunks: number[] = [];
    await decodeBzip2(src, (c) => {
      parts.push(Buffer.from(c));
      chunks.push(c.length);
    });
    return { out: Buffer.concat(parts), offset: src.offset, chunks };
  } finally {
    src.close();
  }
}

async function expectFormatError(path: string, at = 0): Promise<FormatError> {
  let err: unknown;
  try {
    await decodeAt(path, at);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FormatError);
  return err as FormatError;
}

const small = realistic(300_000, 7);
const random = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 13) & 0xff));

describe('decodeBzip2 on real bzip2 output', () => {
  const cases: [string, number, Buffer][] = [
    ['empty, -9', 9, Buffer.alloc(0)],
    ['1 byte, -1', 1, Buffer.from('x')],
    ['text-like, -9', 9, small],
    ['text-like, -1 (3 blocks)', 1, small],
    ['random, -9', 9, random],
    ['long runs (run-length stages)', 1, Buffer.concat([Buffer.alloc(500_000, 0x61), Buffer.alloc(3, 0x62), Buffer.alloc(300_000)])],
  ];
  for (const [name, level, data] of cases) {
    it(name, async () => {
      const bz = bzip2(level, data);
      const { out, offset } = await decodeAt(tmp(bz));
      expect(out.equals(data)).toBe(true);
      expect(offset).toBe(bz.length);
    });
  }

  it('a >10 MiB input, -9 and -1, in chunks of at most 1 MiB', async () => {
    const data = realistic(11 << 20, 11);
    for (const level of [9, 1]) {
      const bz = bzip2(level, data);
      const { out, offset, chunks } = await decodeAt(tmp(bz));
      expect(out.equals(data)).toBe(true);
      expect(offset).toBe(bz.length);
      expect(Math.max(...chunks)).toBeLessThanOrEqual(1 << 20);
    }
  }, 120_000);

  it('small ByteSource buffers give the same result', async () => {
    const bz = bzip2(1, small);
    const path = tmp(Buffer.concat([bz, Buffer.from('070701')]));
    for (const size of [1, 7, 4096]) {
      const { out, offset } = await decodeAt(path, 0, size);
      expect(out.equals(small)).toBe(true);
      expect(offset).toBe(bz.length);
    }
  });
});

describe('decodeBzip2 end offset', () => {
  const bz = bzip2(9, small);

  it('stops before zero padding', async () => {
    const { out, offset } = await decodeAt(tmp(Buffer.concat([bz, Buffer.alloc(4096)])));
    expect(out.equals(small)).toBe(true);
    expect(offset).toBe(bz.length);
  });

  it('stops before a following cpio header', async () => {
    const cpio = Buffer.from('07070100000000000081a4'.padEnd(110, '0') + 'TRAILER!!!\0', 'latin1');
    const { out, offset } = await decodeAt(tmp(Buffer.concat([bz, cpio])));
    expect(out.equals(small)).toBe(true);
    expect(offset).toBe(bz.length);
  });

  it('decodes only the first of two concatenated streams, then the second, from a non-zero start', async () => {
    const second = bzip2(1, random);
    const prefix = Buffer.from('junk!');
    const path = tmp(Buffer.concat([prefix, bz, second]));
    const a = await decodeAt(path, prefix.length);
    expect(a.out.equals(small)).toBe(true);
    expect(a.offset).toBe(prefix.length + bz.length);
    const b = await decodeAt(path, a.offset);
    expect(b.out.equals(random)).toBe(true);
    expect(b.offset).toBe(prefix.length + bz.length + second.length);
  });

  it('ends exactly at the end of short streams (their final padding varies)', async () => {
    for (let len = 0; len < 60; len++) {
      const data = realistic(len, len + 3);
      const one = bzip2(9, data);
      const { out, offset } = await decodeAt(tmp(Buffer.concat([one, Buffer.from([0x42, 0x5a, 0x68])])));
      expect(out.equals(data)).toBe(true);
      expect(offset).toBe(one.length);
    }
  });
});

describe('decodeBzip2 bad input', () => {
  const bz = bzip2(1, small);

  it('truncated anywhere: FormatError', async () => {
    for (const cut of [0, 2, 3, 4, 5, 10, 40, 1000, bz.length >> 1, bz.length - 5, bz.length - 1]) {
      const e = await expectFormatError(tmp(bz.subarray(0, cut)));
      expect(e.offset).toBeLessThanOrEqual(cut);
    }
  });

  it('truncated stream followed by zeros: FormatError', async () => {
    await expectFormatError(tmp(Buffer.concat([bz.subarray(0, bz.length >> 1), Buffer.alloc(1 << 16)])));
  });

  it('bit flips anywhere after the header: FormatError', async () => {
    let x = 4242;
    for (let k = 0; k < 120; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      // not the last byte: it may hold only padding bits, which bzip2 ignores too
      const at = 4 + (x % (bz.length - 5));
      const bad = Buffer.from(bz);
      bad[at] ^= 1 << ((x >>> 8) & 7);
      await expectFormatError(tmp(bad));
    }
  }, 120_000);

  it('a bad stream CRC', async () => {
    const bad = Buffer.from(bz);
    bad[bz.length - 2] ^= 0x10; // always inside the 32-bit stream CRC
    const e = await expectFormatError(tmp(bad));
    expect(e.message).toMatch(/stream CRC/);
  });

  it('a bad block CRC names the block', async () => {
    const bad = Buffer.from(bz);
    bad[12] ^= 0x01; // bytes 10..13 are the first block's CRC
    const e = await expectFormatError(tmp(bad));
    expect(e.message).toMatch(/block 1: .*CRC/);
    expect(e.offset).toBe(4);
  });

  it('not bzip2 at all', async () => {
    const e = await expectFormatError(tmp(Buffer.from('BZx9 hello')));
    expect(e.offset).toBe(0);
    const e2 = await expectFormatError(tmp(Buffer.from('BZh0 hello')));
    expect(e2.offset).toBe(0);
  });

  it('lets the sink error through unchanged', async () => {
    const src = ByteSource.open(tmp(bz));
    const boom = new Error('sink says no');
    await expect(
      decodeBzip2(src, () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    src.close();
  });
});
