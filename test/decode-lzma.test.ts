import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeLzma } from '../src/decode/lzma.js';
import { ByteSource } from '../src/decode/source.js';
import { realistic } from './support/data.js';
import { decodeFile, expectFormatError as formatErrorOf, outputBeforeError } from './support/decode.js';

// Inputs are made with the real xz/lzma tools. Note that xz always writes "size unknown" plus
// an end marker in .lzma files, from a file or from stdin; known-size members are built here
// from xz output (a patched header, or the raw LZMA data of an LZMA2 chunk).

let dir: string;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lzma-test-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tmp(data: Uint8Array): string {
  const path = join(dir, `f${n++}`);
  writeFileSync(path, data);
  return path;
}

function xz(args: string[], input: Uint8Array): Buffer {
  return execFileSync(args[0], args.slice(1), { input, maxBuffer: 1 << 30 });
}

const decodeAt = (path: string, at = 0, bufferSize?: number) => decodeFile(decodeLzma, path, at, bufferSize);
const expectFormatError = (path: string, at = 0) => formatErrorOf(decodeAt(path, at));

/** Header with a known uncompressed size (the data still ends with xz's end marker). */
function withKnownSize(lzma: Buffer, size: number): Buffer {
  const b = Buffer.from(lzma);
  b.writeUInt32LE(size % 0x100000000, 5);
  b.writeUInt32LE(Math.floor(size / 0x100000000), 9);
  return b;
}

/**
 * A known-size .lzma member without an end marker: the LZMA data of the first (only) chunk of
 * a raw LZMA2 stream, which is range-coded LZMA flushed without a marker.
 */
function knownSizeNoMarker(data: Buffer): Buffer {
  const raw = xz(['xz', '--format=raw', '--lzma2=preset=6,dict=1MiB', '-c'], data);
  const ctrl = raw[0];
  expect(ctrl & 0xe0).toBe(0xe0); // LZMA chunk, dictionary reset, new properties
  const usize = ((ctrl & 0x1f) << 16) + raw.readUInt16BE(1) + 1;
  const psize = raw.readUInt16BE(3) + 1;
  expect(usize).toBe(data.length);
  expect(raw[6 + psize]).toBe(0x00); // end of the LZMA2 stream: a single chunk
  const head = Buffer.alloc(13);
  head[0] = raw[5];
  head.writeUInt32LE(1 << 20, 1);
  head.writeUInt32LE(data.length, 5);
  return Buffer.concat([head, raw.subarray(6, 6 + psize)]);
}

const small = realistic(300_000, 7);
const random = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 13) & 0xff));

describe('decodeLzma on real xz/lzma output', () => {
  const cases: [string, string[], Buffer][] = [
    ['empty, xz -9', ['xz', '--format=lzma', '-9', '-c'], Buffer.alloc(0)],
    ['1 byte, lzma -1', ['lzma', '-1', '-c'], Buffer.from('x')],
    ['text-like, xz -9', ['xz', '--format=lzma', '-9', '-c'], small],
    ['text-like, lzma -1', ['lzma', '-1', '-c'], small],
    ['random, xz -6', ['xz', '--format=lzma', '-6', '-c'], random],
    ['4 KiB dictionary, wraps the ring', ['xz', '--format=lzma', '--lzma1=dict=4KiB', '-c'], realistic(3_000_000, 3)],
    ['lc=0 lp=4 pb=4', ['xz', '--format=lzma', '--lzma1=preset=6,lc=0,lp=4,pb=4', '-c'], small],
    ['lc=4 lp=0 pb=0', ['xz', '--format=lzma', '--lzma1=preset=6,lc=4,lp=0,pb=0', '-c'], small],
    ['extreme', ['xz', '--format=lzma', '-6e', '-c'], small],
  ];
  for (const [name, args, data] of cases) {
    it(name, async () => {
      const lzma = xz(args, data);
      const path = tmp(lzma);
      const { out, offset } = await decodeAt(path);
      expect(out.equals(data)).toBe(true);
      expect(offset).toBe(lzma.length);
    });
  }

  it('a >10 MiB input (lzma -1, 1 MiB dictionary, many ring wraps) in chunks of at most 1 MiB', async () => {
    const data = realistic(12 << 20, 11);
    const lzma = xz(['lzma', '-1', '-c'], data);
    const path = tmp(lzma);
    const { out, offset, chunks } = await decodeAt(path);
    expect(out.equals(data)).toBe(true);
    expect(offset).toBe(lzma.length);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(1 << 20);
    expect(Math.min(...chunks)).toBeGreaterThan(0);
  }, 60_000);

  it('a 2 MiB input with xz -9 (64 MiB dictionary)', async () => {
    const data = realistic(2 << 20, 5);
    const lzma = xz(['xz', '--format=lzma', '-9', '-c'], data);
    const { out, offset } = await decodeAt(tmp(lzma));
    expect(out.equals(data)).toBe(true);
    expect(offset).toBe(lzma.length);
  }, 60_000);

  it('small ByteSource buffers give the same result', async () => {
    const lzma = xz(['xz', '--format=lzma', '-6', '-c'], small);
    const path = tmp(Buffer.concat([lzma, Buffer.from('070701')]));
    for (const size of [16, 64, 100, 4096]) {
      const { out, offset } = await decodeAt(path, 0, size);
      expect(out.equals(small)).toBe(true);
      expect(offset).toBe(lzma.length);
    }
  });
});

describe('decodeLzma known sizes', () => {
  it('known size followed by an end marker (accepted, as xz does)', async () => {
    const lzma = withKnownSize(xz(['xz', '--format=lzma', '-6', '-c'], small), small.length);
    const path = tmp(lzma);
    expect(xz(['xz', '--format=lzma', '-dc'], lzma).equals(small)).toBe(true);
    const { out, offset } = await decodeAt(path);
    expect(out.equals(small)).toBe(true);
    expect(offset).toBe(lzma.length);
  });

  it('known size without an end marker', async () => {
    for (const data of [realistic(150_000, 2), Buffer.from('a'.repeat(100)), Buffer.alloc(1_500_000)]) {
      const lzma = knownSizeNoMarker(data);
      expect(xz(['xz', '--format=lzma', '-dc'], lzma).equals(data)).toBe(true); // a valid file
      const path = tmp(Buffer.concat([lzma, Buffer.from('0707010000')]));
      const { out, offset } = await decodeAt(path);
      expect(out.equals(data)).toBe(true);
      expect(offset).toBe(lzma.length);
    }
  });

  it('known size 0 without an end marker', async () => {
    const lzma = Buffer.concat([withKnownSize(Buffer.from([0x5d, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 0), Buffer.alloc(5)]);
    const path = tmp(Buffer.concat([lzma, Buffer.alloc(7)]));
    const { out, offset } = await decodeAt(path);
    expect(out.length).toBe(0);
    expect(offset).toBe(18);
  });

  it('a declared size smaller than the data is an error', async () => {
    const lzma = withKnownSize(xz(['xz', '--format=lzma', '-6', '-c'], small), 1000);
    const e = await expectFormatError(tmp(lzma));
    expect(e.message).toMatch(/declared uncompressed size/);
  });

  it('a declared size that ends inside a match: the output up to it, then the error', async () => {
    // 1 MiB of zeros is a literal and matches of 273 bytes: most sizes fall inside one.
    const zeros = Buffer.alloc(1 << 20);
    const lzma = xz(['xz', '--format=lzma', '-6', '-c'], zeros);
    const messages = new Set<string>();
    for (const size of [100_000, 100_001, 100_002, 500_000]) {
      const src = ByteSource.open(tmp(withKnownSize(lzma, size)));
      let decoded = 0;
      const e = await formatErrorOf(decodeLzma(src, (chunk) => void (decoded += chunk.length)));
      src.close();
      messages.add(e.message);
      expect(decoded).toBe(size);
    }
    expect(messages).toContain('corrupt lzma data: match goes past the declared uncompressed size');
  });

  it('an end marker before the declared size is an error', async () => {
    const lzma = withKnownSize(xz(['xz', '--format=lzma', '-6', '-c'], small), small.length + 1);
    const e = await expectFormatError(tmp(lzma));
    expect(e.message).toMatch(/end marker before/);
  });
});

describe('decodeLzma end offset', () => {
  const lzma = xz(['xz', '--format=lzma', '-6', '-c'], small);

  it('stops before zero padding', async () => {
    const { out, offset } = await decodeAt(tmp(Buffer.concat([lzma, Buffer.alloc(4096)])));
    expect(out.equals(small)).toBe(true);
    expect(offset).toBe(lzma.length);
  });

  it('stops before a following cpio header', async () => {
    const cpio = Buffer.from('07070100000000000081a4'.padEnd(110, '0') + 'TRAILER!!!\0', 'latin1');
    const { out, offset } = await decodeAt(tmp(Buffer.concat([lzma, cpio])));
    expect(out.equals(small)).toBe(true);
    expect(offset).toBe(lzma.length);
  });

  it('decodes two concatenated members one at a time, from a non-zero start', async () => {
    const second = xz(['lzma', '-1', '-c'], random);
    const prefix = Buffer.from('junk');
    const path = tmp(Buffer.concat([prefix, lzma, second]));
    const a = await decodeAt(path, prefix.length);
    expect(a.out.equals(small)).toBe(true);
    expect(a.offset).toBe(prefix.length + lzma.length);
    const b = await decodeAt(path, a.offset);
    expect(b.out.equals(random)).toBe(true);
    expect(b.offset).toBe(prefix.length + lzma.length + second.length);
  });

  it('ends exactly at the end of every short member (each with trailing bytes)', async () => {
    for (let len = 0; len < 40; len++) {
      const data = realistic(len, len + 1);
      const one = xz(['xz', '--format=lzma', '-6', '-c'], data);
      const { out, offset } = await decodeAt(tmp(Buffer.concat([one, Buffer.from([0xff, 0, 0xff])])));
      expect(out.equals(data)).toBe(true);
      expect(offset).toBe(one.length);
    }
  });
});

describe('decodeLzma bad input', () => {
  const lzma = xz(['xz', '--format=lzma', '-6', '-c'], small);

  it('truncated anywhere: FormatError', async () => {
    const cuts = [0, 5, 12, 13, 14, 17, 18, 100, lzma.length >> 1, lzma.length - 2, lzma.length - 1];
    for (const cut of cuts) {
      const e = await expectFormatError(tmp(lzma.subarray(0, cut)));
      expect(e.message).toMatch(/truncated/);
      expect(e.offset).toBeLessThanOrEqual(cut);
    }
  });

  it('truncated member followed by zero padding: FormatError, no hang', async () => {
    const path = tmp(Buffer.concat([lzma.subarray(0, lzma.length >> 1), Buffer.alloc(1 << 16)]));
    await expectFormatError(path);
  });

  it('bit flips in the range-coded data: FormatError', async () => {
    let x = 12345;
    for (let k = 0; k < 150; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const at = 13 + (x % (lzma.length - 13));
      const bad = Buffer.from(lzma);
      bad[at] ^= 1 << ((x >>> 8) & 7);
      await expectFormatError(tmp(bad));
    }
  }, 60_000);

  it('bit flips in the last bytes: FormatError', async () => {
    for (let back = 1; back <= 6; back++) {
      for (const bit of [0, 3, 7]) {
        const bad = Buffer.from(lzma);
        bad[lzma.length - back] ^= 1 << bit;
        await expectFormatError(tmp(bad));
      }
    }
  });

  it('a nonzero first range coder byte', async () => {
    const bad = Buffer.from(lzma);
    bad[13] = 1;
    const e = await expectFormatError(tmp(bad));
    expect(e.offset).toBe(13);
  });

  it('a properties byte out of range', async () => {
    const bad = Buffer.from(lzma);
    bad[0] = 225;
    const e = await expectFormatError(tmp(bad));
    expect(e.offset).toBe(0);
  });

  it('a dictionary above 128 MiB is refused', async () => {
    const bad = Buffer.from(lzma);
    bad.writeUInt32LE((128 << 20) + 1, 1);
    const e = await expectFormatError(tmp(bad));
    expect(e.message).toMatch(/dictionary/);
  });

  it('a distance beyond the dictionary (4 KiB declared, data made with 1 MiB)', async () => {
    const data = Buffer.concat([random.subarray(0, 50_000), random.subarray(0, 50_000)]);
    const bad = xz(['xz', '--format=lzma', '--lzma1=dict=1MiB', '-c'], data);
    bad.writeUInt32LE(4096, 1);
    const e = await expectFormatError(tmp(bad));
    expect(e.message).toMatch(/distance/);
  });

  it('lets the sink error through unchanged', async () => {
    const path = tmp(lzma);
    const src = ByteSource.open(path);
    const boom = new Error('sink says no');
    await expect(
      decodeLzma(src, () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    src.close();
  });
});

describe('decodeLzma before an error', () => {
  // 1.5 MiB, more than a chunk of the ring: the ring handed out only whole chunks before an error.
  const data = realistic(3 << 19, 9);

  it('hands on what the bytes before it decode to, as xz -dc does; cut short, one symbol less at most', async () => {
    for (const level of ['-1', '-6']) {
      const lzma = xz(['xz', '--format=lzma', level, '-c'], data);
      for (const share of [0.3, 0.55, 0.8, 0.97]) {
        const at = Math.floor(lzma.length * share);
        const flipped = Buffer.from(lzma);
        flipped[at] ^= 0x10;
        for (const [how, bad] of [['cut', lzma.subarray(0, at)], ['flipped', flipped]] as const) {
          const { out, error } = await outputBeforeError(decodeLzma, tmp(bad));
          const theirs = spawnSync('xz', ['-dc', '--format=lzma'], { input: bad, maxBuffer: 1 << 30 });
          expect(theirs.status, `xz took the ${how} member`).not.toBe(0);
          const label = `${level}, ${how} at ${at}: ours ${out.length} bytes, xz ${theirs.stdout.length} (${error.message})`;
          if (how === 'flipped') expect(out.equals(theirs.stdout), label).toBe(true);
          else {
            // Ours reads a bit's last byte right after the bit, xz before the next: the symbol
            // whose read ran past the end, xz may still finish (273 bytes at most, a match).
            expect(theirs.stdout.subarray(0, out.length).equals(out), label).toBe(true);
            expect(theirs.stdout.length - out.length, label).toBeLessThanOrEqual(273);
          }
        }
      }
    }
  }, 60_000);
});

describe('decodeLzma agrees with xz on a corpus of sizes', () => {
  it('matches xz -dc', async () => {
    for (const size of [1000, 65_536, 777_777]) {
      const data = realistic(size, size);
      const lzma = xz(['xz', '--format=lzma', '-7', '-c'], data);
      expect(xz(['xz', '--format=lzma', '-dc'], lzma).equals(data)).toBe(true);
      const { out } = await decodeAt(tmp(lzma));
      expect(out.equals(data)).toBe(true);
    }
  }, 60_000);
});

