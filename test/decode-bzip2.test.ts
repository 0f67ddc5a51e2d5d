import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bzip2MemberEnd, decodeBzip2 } from '../src/decode/bzip2.js';
import { ByteSource } from '../src/decode/source.js';
import { realistic } from './support/data.js';
import { decodeFile, expectFormatError as formatErrorOf } from './support/decode.js';

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

const decodeAt = (path: string, at = 0, bufferSize?: number) => decodeFile(decodeBzip2, path, at, bufferSize);
const expectFormatError = (path: string, at = 0) => formatErrorOf(decodeAt(path, at));

const small = realistic(300_000, 7);
const random = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 13) & 0xff));
/** For the handcrafted streams: 19 byte values, some runs of 4+ for RLE1. */
const handcrafted = Buffer.from(Array.from({ length: 3000 }, (_, i) => 0x41 + ((Math.imul(i >> ((i >> 6) & 3), 2654435761) >>> 27) % 19)));

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

  it('a >10 MiB input, -9 and -1, in chunks of at most 256 KiB', async () => {
    const data = realistic(11 << 20, 11);
    for (const level of [9, 1]) {
      const bz = bzip2(level, data);
      const { out, offset, chunks } = await decodeAt(tmp(bz));
      expect(out.equals(data)).toBe(true);
      expect(offset).toBe(bz.length);
      expect(Math.max(...chunks)).toBeLessThanOrEqual(256 << 10);
    }
  }, 120_000);

  it('a run of equal bytes across each 256 KiB output chunk (RLE1 count bytes split by a full output)', async () => {
    // Runs of 4..259 bytes are 4 bytes and a count: put one across every chunk boundary, at
    // every place in it from the 4th byte on, and bytes around them that are no run.
    const chunk = 256 << 10;
    const data = Buffer.from(realistic(5 << 20, 17));
    for (let k = 1; k <= 4; k++) {
      const boundary = k * chunk;
      const runStart = boundary - 3 - k * 50;
      data.fill(0x7a, runStart, runStart + 259);
    }
    for (const level of [9, 1]) {
      const bz = bzip2(level, data);
      const { out, chunks } = await decodeAt(tmp(bz));
      expect(out.equals(data)).toBe(true);
      expect(chunks.slice(0, 4)).toEqual([chunk, chunk, chunk, chunk]);
    }
  }, 60_000);

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

/**
 * A minimal bzip2 writer for streams real bzip2 never writes: one block, two Huffman groups
 * with the given code lengths (group 0 used throughout), and knobs to bend header fields.
 */
function craft(
  data: Buffer,
  opts: { lengths?: (alphaSize: number) => number[]; selectors?: (needed: number) => number; randomised?: boolean; origPtr?: (real: number, n: number) => number; lengthSwings?: number; symbols?: (syms: number[]) => number[] } = {},
): Buffer {
  const bits: number[] = [];
  const put = (value: number, n: number): void => {
    for (let i = n - 1; i >= 0; i--) bits.push(Math.floor(value / 2 ** i) & 1);
  };
  const crcOf = (bytes: Uint8Array): number => {
    let c = 0xffffffff;
    for (const b of bytes) {
      c ^= b << 24;
      for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    }
    return ~c >>> 0;
  };
  // RLE1: runs of 4..259 equal bytes become 4 bytes and a count
  const rle: number[] = [];
  for (let i = 0; i < data.length; ) {
    let run = 1;
    while (i + run < data.length && data[i + run] === data[i] && run < 259) run++;
    for (let k = 0; k < Math.min(run, 4); k++) rle.push(data[i]);
    if (run >= 4) rle.push(run - 4);
    i += run;
  }
  // BWT by sorting rotations
  const n = rle.length;
  const rot = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
    for (let k = 0; k < n; k++) {
      const d = rle[(a + k) % n] - rle[(b + k) % n];
      if (d) return d;
    }
    return 0;
  });
  const last = rot.map((i) => rle[(i + n - 1) % n]);
  const origPtr = rot.indexOf(0);
  // MTF + RLE2
  const inUse = [...new Set(rle)].sort((a, b) => a - b);
  const list = [...inUse];
  const eob = inUse.length + 1;
  const syms: number[] = [];
  let zeros = 0;
  const flushZeros = (): void => {
    for (; zeros > 0; zeros = (zeros - 1) >> 1) syms.push((zeros - 1) & 1); // RUNA 0, RUNB 1
  };
  for (const b of last) {
    const v = list.indexOf(b);
    list.splice(v, 1);
    list.unshift(b);
    if (v === 0) zeros++;
    else {
      flushZeros();
      syms.push(v + 1);
    }
  }
  flushZeros();
  syms.push(eob);
  if (opts.symbols) syms.splice(0, syms.length, ...opts.symbols(syms));
  // canonical Huffman codes
  const alphaSize = inUse.length + 2;
  const lens = opts.lengths ? opts.lengths(alphaSize) : new Array(alphaSize).fill(Math.ceil(Math.log2(alphaSize)));
  const order = lens.map((l, s) => [l, s]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const codes: number[] = [];
  let code = 0;
  let prev = order[0][0];
  for (const [l, s] of order) {
    code *= 2 ** (l - prev);
    prev = l;
    codes[s] = code++;
  }

  put(0x425a6839, 32); // BZh9
  put(0x314159, 24);
  put(0x265359, 24);
  const crc = crcOf(data);
  put(crc, 32);
  put(opts.randomised ? 1 : 0, 1);
  put(opts.origPtr ? opts.origPtr(origPtr, n) : origPtr, 24);
  let map = 0;
  for (const b of inUse) map |= 0x8000 >>> (b >> 4);
  put(map, 16);
  for (let i = 0; i < 16; i++) {
    if (!(map & (0x8000 >>> i))) continue;
    let m = 0;
    for (const b of inUse) if (b >> 4 === i) m |= 0x8000 >>> (b & 15);
    put(m, 16);
  }
  put(2, 3); // groups
  const needed = Math.ceil(syms.length / 50);
  const nSelectors = opts.selectors ? opts.selectors(needed) : needed;
  put(nSelectors, 15);
  for (let i = 0; i < nSelectors; i++) put(0, 1); // MTF index 0: group 0
  for (let g = 0; g < 2; g++) {
    let cur = lens[0];
    put(cur, 5);
    // Up one and down one, as often as asked, before the first symbol's length: bzip2 allows
    // any number, so a decoder must read them all, from input given a part at a time.
    for (let k = 0; k < (opts.lengthSwings ?? 0); k++) put(0b1011, 4);
    for (const l of lens) {
      for (; cur < l; cur++) put(0b10, 2);
      for (; cur > l; cur--) put(0b11, 2);
      put(0, 1);
    }
  }
  for (const s of syms) put(codes[s], lens[s]);
  put(0x177245, 24);
  put(0x385090, 24);
  put(crc, 32); // one block: the combined CRC is (0 rotated) ^ crc
  while (bits.length % 8) bits.push(0);
  const out = Buffer.alloc(bits.length / 8);
  for (let i = 0; i < bits.length; i++) out[i >> 3] |= bits[i] << (7 - (i & 7));
  return out;
}

/** What real bzip2 makes of a stream: its output, or null when it rejects it. */
function nativeDecode(bz: Buffer): Buffer | null {
  try {
    return execFileSync('bzip2', ['-dc'], { input: bz, stdio: ['pipe', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

describe('decodeBzip2 on handcrafted streams, against real bzip2', () => {
  const data = handcrafted;

  it('the writer itself: fixed-length codes decode the same in bzip2 and here', async () => {
    const bz = craft(data);
    expect(nativeDecode(bz)?.equals(data)).toBe(true);
    const { out, offset } = await decodeAt(tmp(bz));
    expect(out.equals(data)).toBe(true);
    expect(offset).toBe(bz.length);
  });

  it('code lengths 1..20 (longer than the lookup table, up to the format maximum)', async () => {
    // no runs of 4, so no RLE1 count bytes: 19 byte values, 21 symbols, a complete code
    const noRuns = Buffer.from(data);
    for (let i = 3; i < noRuns.length; i++) {
      if (noRuns[i] === noRuns[i - 1] && noRuns[i] === noRuns[i - 2] && noRuns[i] === noRuns[i - 3]) {
        noRuns[i] = noRuns[i] === 0x41 ? 0x42 : 0x41;
      }
    }
    let alphaSize = 0;
    const skewed = (a: number): number[] => {
      alphaSize = a;
      return Array.from({ length: a }, (_, s) => Math.min(s + 1, a - 1));
    };
    const bz = craft(noRuns, { lengths: skewed });
    expect(alphaSize).toBe(21);
    expect(nativeDecode(bz)?.equals(noRuns)).toBe(true);
    const { out } = await decodeAt(tmp(bz));
    expect(out.equals(noRuns)).toBe(true);
  });

  it('more selectors than bzip2 1.0.8 keeps (18002): the rest are read and ignored', async () => {
    for (const count of [18002, 18003, 32767]) {
      const bz = craft(data, { selectors: () => count });
      expect(nativeDecode(bz)?.equals(data)).toBe(true);
      const { out, offset } = await decodeAt(tmp(Buffer.concat([bz, Buffer.alloc(8)])));
      expect(out.equals(data)).toBe(true);
      expect(offset).toBe(bz.length);
    }
  });

  it('code lengths that swing up and down for 100,000 steps: decoded as bzip2 decodes them; cut short: truncated', async () => {
    const bz = craft(data, { lengthSwings: 100_000 });
    expect(bz.length).toBeGreaterThan(100_000);
    expect(nativeDecode(bz)?.equals(data)).toBe(true);
    for (const bufferSize of [undefined, 7]) {
      const { out, offset } = await decodeAt(tmp(bz), 0, bufferSize);
      expect(out.equals(data)).toBe(true);
      expect(offset).toBe(bz.length);
    }
    const cut = bz.subarray(0, 60_000);
    expect(nativeDecode(cut)).toBeNull();
    const e = await expectFormatError(tmp(cut));
    expect(e.message).toBe('truncated bzip2 stream');
    expect(e.offset).toBe(cut.length);
  });

  it('rejects what bzip2 rejects: too few selectors, origPtr past the block, oversubscribed codes', async () => {
    const bad = [
      craft(data, { selectors: (needed) => needed - 1 }),
      craft(data, { origPtr: (_, n) => n }),
      craft(data, { lengths: (a) => new Array(a).fill(1) }),
    ];
    for (const bz of bad) {
      expect(nativeDecode(bz)).toBeNull();
      await expectFormatError(tmp(bz));
    }
  });

  it('rejects runs of the front byte past the block size: one too long, or two that add up past it', async () => {
    // RUNB (1) digits: n of them make a run of 2^(n+1) - 2 bytes; bzip2 -9's block holds 900,000.
    const runB = (n: number) => new Array<number>(n).fill(1);
    const cases: [string, (syms: number[]) => number[]][] = [
      ['run longer than the block', (syms) => [...runB(20), ...syms]],
      ['more bytes than the block size', (syms) => [...runB(18), syms.find((s) => s > 1)!, ...runB(18), ...syms]],
    ];
    for (const [message, symbols] of cases) {
      const bz = craft(data, { symbols });
      expect(nativeDecode(bz)).toBeNull();
      const e = await expectFormatError(tmp(bz));
      expect(e.message).toBe(`bzip2 block 1: ${message}`);
    }
  });

  it('rejects randomised blocks (obsolete; the kernel rejects them too)', async () => {
    const e = await expectFormatError(tmp(craft(data, { randomised: true })));
    expect(e.message).toMatch(/randomised/);
  });

  it('leaves a stream with a randomised block to our decoder: lbzip2 would derandomise it', () => {
    expect(memberEndAt(tmp(craft(data)))).toBe(craft(data).length);
    expect(memberEndAt(tmp(craft(data, { randomised: true })))).toBeUndefined();
    // Only a block before the first end-of-stream magic counts.
    const clean = craft(data);
    expect(memberEndAt(tmp(Buffer.concat([clean, craft(data, { randomised: true })])))).toBe(clean.length);
  });
});

/** bzip2MemberEnd of the member at `at` of the file `path`, through a source of `bufferSize` bytes. */
function memberEndAt(path: string, at = 0, bufferSize = 512, window?: number): number | undefined {
  const src = ByteSource.open(path, bufferSize);
  try {
    src.seek(at);
    return bzip2MemberEnd(src, window);
  } finally {
    src.close();
  }
}

describe('bzip2MemberEnd: where a co-process must stop, from the bits alone', () => {
  it('is where our decoder stops, with the end-of-stream magic at every bit offset, the block magics too', async () => {
    const eosShifts = new Set<number>();
    const blockShifts = new Set<number>();
    for (let len = 0; len < 48; len++) {
      // -1 over more than 100 kB: several blocks, so block magics fall at bit offsets too.
      const data = realistic(len < 40 ? len * 7 : 100_000 * (len - 38), len + 5);
      const bz = bzip2(1, data);
      const path = tmp(Buffer.concat([Buffer.from('ab'), bz, Buffer.alloc(8), bzip2(9, small)]));
      const end = memberEndAt(path, 2);
      expect(end).toBe((await decodeAt(path, 2)).offset);
      expect(end).toBe(2 + bz.length);
      eosShifts.add(lastMagicShift(bz, EOS));
      for (const shift of magicShifts(bz, BLOCK)) blockShifts.add(shift);
    }
    expect([...eosShifts].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...blockShifts].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  }, 60_000);

  it('finds a magic wherever it falls against the reads: any read size gives the same end and verdict', () => {
    const bz = bzip2(1, realistic(250_000, 3));
    const path = tmp(Buffer.concat([bz, Buffer.alloc(5)]));
    const randomised = tmp(craft(handcrafted, { randomised: true }));
    for (const window of [1, 2, 5, 6, 7, 8, 13, 64, 4096]) {
      expect(memberEndAt(path, 0, 512, window)).toBe(bz.length);
      expect(memberEndAt(randomised, 0, 512, window)).toBeUndefined();
    }
  });

  it('says nothing of a truncated stream, or of what is not bzip2: our decoder finds the error', () => {
    const bz = bzip2(9, small);
    expect(memberEndAt(tmp(bz.subarray(0, bz.length - 3)))).toBeUndefined();
    expect(memberEndAt(tmp(bz.subarray(0, bz.length >> 1)))).toBeUndefined();
    expect(memberEndAt(tmp(Buffer.concat([Buffer.from('BZh0'), bz.subarray(4)])))).toBeUndefined();
    expect(memberEndAt(tmp(Buffer.from('BZ')))).toBeUndefined();
  });
});

const BLOCK = 0x314159265359n;
const EOS = 0x177245385090n;

/** The bit offsets in `bz` where the 48-bit `magic` starts, found one bit at a time. */
function magicBits(bz: Buffer, magic: bigint): number[] {
  const found: number[] = [];
  let window = 0n;
  for (let bit = 0; bit < bz.length * 8; bit++) {
    window = ((window << 1n) | BigInt((bz[bit >> 3] >> (7 - (bit & 7))) & 1)) & 0xffffffffffffn;
    if (bit >= 47 && window === magic) found.push(bit - 47);
  }
  return found;
}

const magicShifts = (bz: Buffer, magic: bigint): number[] => magicBits(bz, magic).map((bit) => bit % 8);
const lastMagicShift = (bz: Buffer, magic: bigint): number => magicShifts(bz, magic).at(-1)!;
