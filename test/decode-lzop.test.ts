import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../src/errors.js';
import { Lzo1xDecoder, adler32 } from '../src/decode/lzo1x.js';
import { decodeLzop } from '../src/decode/lzop.js';
import { rng, textData } from './support/data.js';
import { type Decoded, decodeFile, expectFormatError, hashMember } from './support/decode.js';
import { REAL_EXPECTED, realImage } from './support/real.js';

let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lzop-test-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tmp(name: string): string {
  return join(dir, `${counter++}-${name}`);
}

/** A plain Adler-32, independent of the one under test. */
function refAdler(b: Uint8Array, adler = 1): number {
  let a = adler & 0xffff;
  let s = adler >>> 16;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

function lzop(data: Buffer, args: string[]): Buffer {
  const input = tmp('in');
  const output = tmp('out.lzo');
  writeFileSync(input, data);
  execFileSync('lzop', [...args, '-f', '-o', output, input]);
  const out = readFileSync(output);
  rmSync(input);
  rmSync(output);
  return out;
}

async function decodeBytes(file: Buffer, start = 0): Promise<Decoded> {
  const path = tmp('member');
  writeFileSync(path, file);
  try {
    return await decodeFile(decodeLzop, path, start);
  } finally {
    rmSync(path, { force: true });
  }
}

const MAGIC = Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Blocks of a file written by `lzop --no-checksum` (lzop 1.04 header, flags without extras). */
function lzopBlocks(file: Buffer): { dstLen: number; data: Buffer }[] {
  let p = 9 + 2 + 2 + 2 + 1 + 1;
  expect(file.readUInt32BE(p) & 0xffff).toBe(0); // no checksum flags
  p += 4 + 4 + 4 + 4;
  p += 1 + file[p] + 4;
  const blocks: { dstLen: number; data: Buffer }[] = [];
  for (;;) {
    const dstLen = file.readUInt32BE(p);
    p += 4;
    if (dstLen === 0) return blocks;
    const srcLen = file.readUInt32BE(p);
    p += 4;
    blocks.push({ dstLen, data: file.subarray(p, p + srcLen) });
    p += srcLen;
  }
}

interface Build {
  version?: number;
  method?: number;
  flags: number;
  filter?: number;
  extra?: Buffer;
  name?: string;
}

/** Writes an lzop file around LZO1X blocks of `plain`, with every checksum `flags` asks for. */
function buildLzop(opts: Build, blocks: { dstLen: number; data: Buffer }[], plain: Buffer): Buffer {
  const version = opts.version ?? 0x1040;
  const u8 = (n: number) => Buffer.from([n]);
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  };
  const sum = (b: Buffer, crc: boolean) => (crc ? crc32(b) >>> 0 : refAdler(b));
  const name = Buffer.from(opts.name ?? 'file');
  const h: Buffer[] = [u16(version), u16(0x20a0)];
  if (version >= 0x0940) h.push(u16(0x0940));
  h.push(u8(opts.method ?? 1));
  if (version >= 0x0940) h.push(u8(5));
  h.push(u32(opts.flags));
  if (opts.flags & 0x800) h.push(u32(opts.filter ?? 0));
  h.push(u32(0o100644), u32(0x5c0a1e6b));
  if (version >= 0x0940) h.push(u32(0));
  h.push(u8(name.length), name);
  const header = Buffer.concat(h);
  const parts: Buffer[] = [MAGIC, header, u32(sum(header, (opts.flags & 0x1000) !== 0))];
  if (opts.flags & 0x40) {
    const extra = opts.extra ?? Buffer.alloc(0);
    const field = Buffer.concat([u32(extra.length), extra]);
    parts.push(field, u32(sum(field, (opts.flags & 0x1000) !== 0)));
  }
  let pos = 0;
  for (const b of blocks) {
    const raw = plain.subarray(pos, pos + b.dstLen);
    pos += b.dstLen;
    parts.push(u32(b.dstLen), u32(b.data.length));
    if (opts.flags & 0x1) parts.push(u32(refAdler(raw)));
    if (opts.flags & 0x100) parts.push(u32(crc32(raw)));
    if (b.data.length < b.dstLen) {
      if (opts.flags & 0x2) parts.push(u32(refAdler(b.data)));
      if (opts.flags & 0x200) parts.push(u32(crc32(b.data)));
    }
    parts.push(b.data);
  }
  parts.push(u32(0));
  return Buffer.concat(parts);
}

const inputs: Record<string, () => Buffer> = {
  empty: () => Buffer.alloc(0),
  'one byte': () => Buffer.from([0x42]),
  compressible: () => Buffer.concat([Buffer.alloc(300_000, 0), Buffer.from('abc'.repeat(100_000)), Buffer.alloc(70_000, 7)]),
  random: () => randomBytes(300_000),
  text: () => textData(700_000),
  mixed: () => Buffer.concat([textData(100_000, 2), randomBytes(100_000), textData(100_000, 3)]),
  'short repeats': () => shortRepeats(200_000, 11),
};

/**
 * Random bytes, each few followed by a repeat from 1..40 bytes back of 3..40 bytes: matches
 * on both sides of the decoder's word copies' limits (8 bytes back, 32 bytes long).
 */
function shortRepeats(size: number, seed: number): Buffer {
  const next = rng(seed);
  const pick = (n: number) => Math.floor(next() * n);
  const out = Buffer.alloc(size);
  let n = 0;
  while (n < size) {
    for (let k = 1 + pick(4); k > 0 && n < size; k--) out[n++] = pick(256);
    const dist = 1 + pick(Math.min(40, n));
    for (let k = 3 + pick(38); k > 0 && n < size; k--, n++) out[n] = out[n - dist];
  }
  return out;
}

describe('Adler-32', () => {
  it('matches a plain implementation', () => {
    const data = Buffer.concat([randomBytes(10_000), Buffer.alloc(10_000, 255)]);
    expect(adler32(data)).toBe(refAdler(data));
    expect(adler32(Buffer.from('Wikipedia'))).toBe(0x11e60398);
    expect(adler32(data.subarray(5, 7777), adler32(data.subarray(0, 5)))).toBe(refAdler(data.subarray(0, 7777)));
    expect(adler32(new Uint8Array(0))).toBe(1);
    // runs of every length around the 16-byte vectors and the 5552-byte reduction, at every
    // alignment, and the largest sums (all 255s) continuing from sums just below the modulus
    for (const n of [1, 15, 16, 17, 31, 32, 33, 5551, 5552, 5553, 5568, 11104, 11105, 16656, 20_000 - 16]) {
      for (const at of [0, 1, 7, 15]) {
        const run = data.subarray(at, Math.min(data.length, at + n));
        expect(adler32(run), `${n} bytes from ${at}`).toBe(refAdler(run));
      }
      const ones = Buffer.alloc(n, 255);
      for (const from of [1, 0xfff0fff0, 0x0001fff0]) expect(adler32(ones, from), `${n} 255s from ${from}`).toBe(refAdler(ones, from));
    }
  });
});

describe('lzop', () => {
  for (const args of [['-9'], ['-1'], ['-1', '--crc32'], ['-3', '--no-checksum']]) {
    for (const [name, make] of Object.entries(inputs)) {
      it(`decodes ${name} input written by lzop ${args.join(' ')}`, async () => {
        const data = make();
        const z = lzop(data, args);
        const d = await decodeBytes(z);
        expect(d.out.equals(data)).toBe(true);
        expect(d.offset).toBe(z.length);
      });
    }
  }

  it('stops exactly at the end marker, before padding or what follows', async () => {
    const data = textData(600_000, 4);
    const z = lzop(data, ['-9']);
    for (const tail of [Buffer.alloc(512 - (z.length % 512) + 512), Buffer.from('070701000000010000'), Buffer.from([0x89, 0x4c, 0x5a])]) {
      const prefix = Buffer.alloc(700, 0x30);
      const d = await decodeBytes(Buffer.concat([prefix, z, tail]), prefix.length);
      expect(d.out.equals(data)).toBe(true);
      expect(d.offset).toBe(prefix.length + z.length);
    }
  });

  it('decodes every checksum kind, header CRC32, extra field, filter 0 and the old header layout', async () => {
    const data = Buffer.concat([textData(262_144, 5), randomBytes(262_144), textData(1000, 6)]);
    const blocks = lzopBlocks(lzop(data, ['-1', '--no-checksum']));
    expect(blocks.length).toBe(3);
    expect(blocks[1].data.length).toBe(blocks[1].dstLen); // a stored block
    const variants: Build[] = [
      { flags: 0x1 | 0x2 | 0x100 | 0x200 },
      { flags: 0x1000 | 0x100 | 0x200 },
      { flags: 0x2 },
      { flags: 0x40 | 0x1, extra: Buffer.from('extra field bytes') },
      { flags: 0x40 | 0x1000 | 0x100, extra: Buffer.alloc(0) },
      { flags: 0x800 | 0x1, filter: 0 },
      { flags: 0x1, version: 0x0930, name: '' },
      { flags: 0x1 | 0x2, method: 3, name: 'x'.repeat(255) },
    ];
    for (const v of variants) {
      const z = buildLzop(v, blocks, data);
      const d = await decodeBytes(Buffer.concat([z, Buffer.alloc(4)]));
      expect(d.out.equals(data)).toBe(true);
      expect(d.offset).toBe(z.length);
    }
  });

  it('rejects bad checksums, methods, filters and block sizes with the right offsets', async () => {
    const data = textData(300_000, 7);
    const blocks = lzopBlocks(lzop(data, ['-1', '--no-checksum']));
    const all = buildLzop({ flags: 0x1 | 0x2 | 0x100 | 0x200, name: 'ab' }, blocks, data);
    // magic 9, version..level 8, flags 4, mode and mtime 12, then the name length and name
    const fixed = 9 + 8 + 4 + 12;
    const headerSum = fixed + 1 + 2; // 'ab'
    expect(headerSum).toBe(36);
    const first = headerSum + 4; // first block
    const bad = (at: number, xor = 1) => {
      const b = Buffer.from(all);
      b[at] ^= xor;
      return b;
    };
    let e = await expectFormatError(decodeBytes(bad(headerSum + 2)));
    expect(e.offset).toBe(headerSum);
    e = await expectFormatError(decodeBytes(bad(25))); // mode: header checksum
    expect(e.offset).toBe(headerSum);
    // checksums: adler D at +8, crc D at +12, adler C at +16, crc C at +20, data at +24
    for (const k of [8, 12, 16, 20, 24, 40]) {
      e = await expectFormatError(decodeBytes(bad(first + k)));
      expect(e.offset).toBe(first + 24);
      expect(e.message).toMatch(/mismatch/);
    }

    const method = buildLzop({ flags: 0x1, method: 4 }, blocks, data);
    expect((await expectFormatError(decodeBytes(method))).message).toMatch(/method 4/);
    const filter = buildLzop({ flags: 0x800 | 0x1, filter: 1 }, blocks, data);
    expect((await expectFormatError(decodeBytes(filter))).message).toMatch(/filter/);
    const extra = buildLzop({ flags: 0x40 | 0x1, extra: Buffer.from('abc') }, blocks, data);
    const extraBad = Buffer.from(extra);
    extraBad[fixed + 1 + 4 + 4 + 4 + 1] ^= 1; // 'file', header checksum, extra length, then its 2nd byte
    expect((await expectFormatError(decodeBytes(extraBad))).message).toMatch(/extra field/);

    // dst_len above 64 MiB, src_len above dst_len, src_len 0
    const plainStart = fixed + 1 + 4 + 4; // name 'file', header checksum
    const simple = buildLzop({ flags: 0 }, blocks, data);
    const huge = Buffer.from(simple);
    huge.writeUInt32BE(0xfffffff0, plainStart);
    e = await expectFormatError(decodeBytes(huge));
    expect(e.offset).toBe(plainStart);
    const over = Buffer.from(simple);
    over.writeUInt32BE(blocks[0].dstLen + 1, plainStart + 4);
    expect((await expectFormatError(decodeBytes(over))).offset).toBe(plainStart + 4);
    const zero = Buffer.from(simple);
    zero.writeUInt32BE(0, plainStart + 4);
    expect((await expectFormatError(decodeBytes(zero))).offset).toBe(plainStart + 4);
    // a compressed length past the end of the file
    const long = Buffer.from(simple);
    long.writeUInt32BE(blocks[0].dstLen - 1, plainStart + 4);
    long.writeUInt32BE(blocks[0].dstLen, plainStart);
    await expectFormatError(decodeBytes(long.subarray(0, plainStart + 8 + 100)));
    // not lzop at all
    expect((await expectFormatError(decodeBytes(Buffer.from('070701')))).offset).toBe(0);
  });

  it('truncation anywhere is a FormatError', async () => {
    const data = Buffer.concat([textData(270_000, 8), randomBytes(300)]);
    for (const args of [['-9'], ['-1', '--crc32'], ['--no-checksum']]) {
      const z = lzop(data, args);
      for (let n = 0; n < z.length; n += n < 80 ? 1 : 97) {
        const e = await expectFormatError(decodeBytes(z.subarray(0, n)));
        expect(e.offset).toBeLessThanOrEqual(n);
      }
    }
  });

  it('bit flips give a FormatError or the original bytes', async () => {
    const data = textData(300_000, 9);
    const r = rng(3);
    for (const args of [['-9'], ['-1', '--crc32']]) {
      const z = lzop(data, args);
      for (let i = 0; i < 400; i++) {
        const bad = Buffer.from(z);
        const at = i < 60 ? i : Math.floor(r() * bad.length);
        bad[at] ^= 1 << Math.floor(r() * 8);
        let d: Decoded | undefined;
        try {
          d = await decodeBytes(bad);
        } catch (e) {
          expect(e).toBeInstanceOf(FormatError);
        }
        if (d && !d.out.equals(data)) {
          // The one unprotected field: a block length flipped to 0 ends the stream early.
          expect(bad.readUInt32BE(d.offset - 4), `flip at ${at}`).toBe(0);
          expect(z.readUInt32BE(d.offset - 4)).not.toBe(0);
          expect(data.subarray(0, d.out.length).equals(d.out)).toBe(true);
        }
      }
    }
  });

  it('without checksums, corrupt LZO1X data gives a FormatError or some output, never another error', async () => {
    const data = textData(300_000, 10);
    const z = lzop(data, ['-1', '--no-checksum']);
    const r = rng(4);
    let errors = 0;
    for (let i = 0; i < 400; i++) {
      const bad = Buffer.from(z);
      const at = 50 + Math.floor(r() * (bad.length - 50));
      bad[at] ^= 1 << Math.floor(r() * 8);
      try {
        const d = await decodeBytes(bad);
        expect(d.offset).toBeLessThanOrEqual(bad.length);
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
        errors++;
      }
    }
    // Nothing checks the data, so most flips decode to other bytes; the decoder's own bounds
    // checks must still catch some.
    expect(errors).toBeGreaterThan(0);
  });

  const real = realImage('fedora-like-lzo.img');
  it.skipIf(!REAL_EXPECTED)('decodes the main member of a dracut lzop image like lzop -dc does', async () => {
    const image = readFileSync(real);
    const start = image.indexOf(MAGIC);
    expect(start).toBeGreaterThan(0);
    const expected = execFileSync('lzop', ['-dc'], { input: image.subarray(start), maxBuffer: 1 << 30 });
    const decoded = await hashMember(decodeLzop, real, start);
    expect(decoded.offset).toBe(image.length);
    expect(decoded.size).toBe(expected.length);
    expect(decoded.sha256).toBe(createHash('sha256').update(expected).digest('hex'));
  });
});

const lzo = new Lzo1xDecoder();
/** `stream`, at file offset `at`, decoded by our LZO1X decoder to `dstLen` bytes. */
function lzo1x(stream: ArrayLike<number>, dstLen: number, at: number): Buffer {
  lzo.layout(stream.length, dstLen).input.set(stream);
  lzo.decode(stream.length, dstLen, at);
  return Buffer.from(lzo.output);
}

describe('LZO1X decompressor bounds', () => {
  const run = (stream: number[], dstLen: number) => lzo1x(stream, dstLen, 1000).toString('latin1');
  const EOS = [0x11, 0x00, 0x00];

  it('decodes literals, matches and the end marker', () => {
    expect(run([17 + 3, 0x61, 0x62, 0x63, ...EOS], 3)).toBe('abc');
    // one literal, then M2 length 3 distance 1
    expect(run([18, 0x61, 0x40, 0x00, ...EOS], 4)).toBe('aaaa');
    // long literal run after a match with no trailing literals
    expect(run([18, 0x61, 0x40, 0x00, 0x01, 0x62, 0x63, 0x64, 0x65, ...EOS], 8)).toBe('aaaabcde');
  });

  const bad: [string, number[], number, RegExp][] = [
    ['a distance before the start', [18, 0x61, 0x40, 0x01, ...EOS], 4, /distance/],
    ['a match past the output', [18, 0x61, 0x40, 0x00, ...EOS], 3, /past the end of the output/],
    ['literals past the input', [17 + 10, 0x61, 0x62], 10, /past the end of the input/],
    ['literals past the output', [17 + 3, 0x61, 0x62, 0x63, ...EOS], 2, /past the end of the output/],
    ['a missing end marker', [18, 0x61], 1, /end marker/],
    ['bytes after the end marker', [18, 0x61, ...EOS, 0], 1, /after|followed/],
    ['too little output', [18, 0x61, ...EOS], 2, /decodes to 1/],
    ['a truncated distance', [18, 0x61, 0x21], 4, /truncated/],
    ['an empty stream', [], 0, /empty/],
    ['a truncated instruction', [18, 0x61, 0x40], 4, /truncated LZO1X instruction/],
    ['a truncated match length', [18, 0x61, 0x20, 0x00], 40, /truncated LZO1X match length/],
    ['a truncated literal length', [0x00, 0x00], 40, /truncated LZO1X literal length/],
  ];
  for (const [what, stream, dstLen, message] of bad) {
    it(`rejects ${what}`, () => {
      let error: unknown;
      try {
        run(stream, dstLen);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(FormatError);
      expect((error as FormatError).message).toMatch(message);
      expect((error as FormatError).offset).toBeGreaterThanOrEqual(1000);
      expect((error as FormatError).offset).toBeLessThanOrEqual(1000 + stream.length);
    });
  }
});

describe('LZO1X lengths that would wrap 32 bits', () => {
  it('refuses a literal run whose zero bytes add up to 2^32 + 3, as too long for its input', () => {
    // 15 + 255 * 16843008 + 241 + 3 = 2^32 + 3: a length kept in 32 bits would copy 3 literals.
    const zeros = 16_843_008;
    const stream = new Uint8Array(1 + zeros + 1 + 3 + 3);
    stream[1 + zeros] = 241;
    stream.set([0x61, 0x62, 0x63, 0x11, 0x00, 0x00], 1 + zeros + 1);
    expect(() => lzo1x(stream, 3, 0)).toThrow(expect.objectContaining({ message: expect.stringMatching(/literals run past the end of the input/), offset: 1 + zeros + 1 }));
  });
});

describe('LZO1X decompressor word copies (room on both sides)', () => {
  /** An M2 (3..8 bytes, 1..2048 back) or M3 (3..33 bytes) match, then `lits` literals. */
  const match = (len: number, dist: number, lits: number[]): number[] => {
    if (len <= 8 && dist <= 2048) return [((len - 1) << 5) | (((dist - 1) & 7) << 2) | lits.length, (dist - 1) >> 3, ...lits];
    const d = ((dist - 1) << 2) | lits.length;
    return [32 | (len - 2), d & 0xff, d >> 8, ...lits];
  };
  const EOS = [0x11, 0x00, 0x00];

  /** Matches of 3..33 bytes from 1..40 back, each with 0..3 literals, and what they decode to. */
  function shortMatches(count: number, seed: number): { stream: number[]; expected: number[] } {
    const next = rng(seed);
    const pick = (n: number) => Math.floor(next() * n);
    const expected = [0x61, 0x62, 0x63, 0x64];
    const stream = [17 + expected.length, ...expected];
    for (let i = 0; i < count; i++) {
      const len = 3 + pick(31);
      const dist = 1 + pick(Math.min(40, expected.length));
      const lits = Array.from({ length: pick(4) }, () => pick(256));
      stream.push(...match(len, dist, lits));
      for (let k = 0; k < len; k++) expected.push(expected[expected.length - dist]);
      expected.push(...lits);
    }
    stream.push(...EOS);
    return { stream, expected };
  }

  it('decodes overlapping and short-distance matches byte for byte', () => {
    for (const seed of [1, 2, 3]) {
      const { stream, expected } = shortMatches(3000, seed);
      expect(lzo1x(stream, expected.length, 0).equals(Buffer.from(expected))).toBe(true);
    }
  });

  const head = [17 + 8, ...Buffer.from('abcdefgh')]; // 8 literals
  const decode = (stream: number[], dstLen: number): string => lzo1x(stream, dstLen, 1000).toString('latin1');
  const failure = (stream: number[], dstLen: number): FormatError => {
    try {
      decode(stream, dstLen);
    } catch (e) {
      expect(e).toBeInstanceOf(FormatError);
      return e as FormatError;
    }
    throw new Error('expected a FormatError');
  };

  it('decodes matches at the limits of the word copies: 32 and 33 bytes, 36 and 35 bytes of room', () => {
    // 4 literals in a literal run follow each match: 36 bytes of room after a 32-byte match
    const run4 = [0x01, ...Buffer.from('wxyz')];
    expect(decode([...head, ...match(32, 8, []), ...run4, ...EOS], 44)).toBe('abcdefgh'.repeat(5) + 'wxyz');
    expect(decode([...head, ...match(31, 8, []), ...run4, ...EOS], 43)).toBe('abcdefgh'.repeat(4) + 'abcdefg' + 'wxyz');
    expect(decode([...head, ...match(33, 8, []), ...run4, ...EOS], 45)).toBe('abcdefgh'.repeat(5) + 'a' + 'wxyz');
    expect(decode([...head, ...match(32, 7, [0x2d]), ...EOS], 41)).toBe('abcdefgh' + 'bcdefgh'.repeat(4) + 'bcde' + '-');
    // 35 bytes of room, all taken: the literals' word would end a byte past the output
    expect(decode([...head, ...match(32, 8, [0x78, 0x79, 0x7a]), ...EOS], 43)).toBe('abcdefgh'.repeat(5) + 'xyz');
    // the last match before the end marker: three input bytes left after its one literal
    expect(decode([...head, ...match(8, 8, [0x2d]), ...EOS], 17)).toBe('abcdefgh'.repeat(2) + '-');
  });

  it('rejects a stream that ends right after a match with room left, at its end marker', () => {
    // three input bytes after the match: too few for the literals' word
    expect(failure([...head, ...match(8, 8, []), ...EOS], 64)).toMatchObject({ message: expect.stringMatching(/decodes to 16 bytes, expected 64/), offset: 1011 });
    expect(failure([...head, ...match(8, 8, [0x2d]), ...EOS], 64)).toMatchObject({ message: expect.stringMatching(/decodes to 17 bytes, expected 64/), offset: 1012 });
  });

  it('rejects a distance one byte before the start, at the instruction', () => {
    expect(decode([...head, ...match(8, 8, []), ...match(16, 16, []), ...EOS], 32)).toBe('abcdefgh'.repeat(4));
    expect(failure([...head, ...match(8, 9, []), ...EOS], 64)).toMatchObject({ message: expect.stringMatching(/distance 9 /), offset: 1009 });
    expect(failure([...head, ...match(32, 9, []), ...EOS], 64)).toMatchObject({ message: expect.stringMatching(/distance 9 /), offset: 1009 });
  });

  it('rejects matches and literals one byte past the output or the input, at the same bytes as before', () => {
    const stream = [...head, ...match(4, 8, Array.from(Buffer.from('xyz'))), ...EOS];
    expect(decode(stream, 15)).toBe('abcdefghabcdxyz');
    expect(failure(stream, 11)).toMatchObject({ message: expect.stringMatching(/match runs past the end of the output/), offset: 1009 });
    expect(failure(stream, 14)).toMatchObject({ message: expect.stringMatching(/literals run past the end of the output/), offset: 1011 });
    expect(failure(stream.slice(0, 13), 15)).toMatchObject({ message: expect.stringMatching(/literals run past the end of the input/), offset: 1011 });
    const long = [...head, ...match(32, 8, []), ...EOS];
    expect(failure(long, 39)).toMatchObject({ message: expect.stringMatching(/match runs past the end of the output/), offset: 1009 });
  });
});
