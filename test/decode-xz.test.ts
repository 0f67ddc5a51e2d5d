import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeXz } from '../src/decode/xz.js';
import { realistic } from './support/data.js';
import { decodeFile, expectFormatError, outputBeforeError } from './support/decode.js';
import { scratch } from './support/scratch.js';

// Every stream here is made by xz, or put together here from xz's raw LZMA2 output; xz -t is
// the oracle for every stream ours refuses.

const { writeImage } = scratch('xz-test-');
const tmp = (data: Uint8Array): string => writeImage([Buffer.from(data)]);

function xz(args: string[], input: Uint8Array): Buffer {
  return execFileSync('xz', args, { input, maxBuffer: 1 << 30 });
}

/** Whether xz itself accepts the stream. */
const xzAccepts = (stream: Uint8Array): boolean => spawnSync('xz', ['-t'], { input: stream }).status === 0;

const u32 = (value: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0);
  return b;
};
const vli = (value: number): number[] => {
  const out: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 128)) out.push((value % 128) | 0x80);
  return [...out, value];
};
const pad4 = (length: number): Buffer => Buffer.alloc((4 - (length % 4)) % 4);

/**
 * An xz stream of one block of raw LZMA2 data (its chunks and the end byte), check none, with
 * a 1 MiB dictionary: what xz makes, for data xz's encoder does not make.
 */
function xzOfLzma2(lzma2: Buffer, uncompressed: number, fields = Buffer.from([0x00, 0x21, 1, 16])): Buffer {
  const flags = Buffer.from([0, 0]);
  const header = Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]), flags, u32(crc32(flags))]);
  const blockLength = 1 + fields.length + pad4(1 + fields.length + 4).length + 4;
  const bodyNoCrc = Buffer.concat([Buffer.from([blockLength / 4 - 1]), fields, pad4(1 + fields.length + 4)]);
  const blockHeader = Buffer.concat([bodyNoCrc, u32(crc32(bodyNoCrc))]);
  const block = Buffer.concat([blockHeader, lzma2, pad4(lzma2.length)]);
  const records = Buffer.from([0, ...vli(1), ...vli(blockHeader.length + lzma2.length), ...vli(uncompressed)]);
  const indexNoCrc = Buffer.concat([records, pad4(records.length)]);
  const index = Buffer.concat([indexNoCrc, u32(crc32(indexNoCrc))]);
  const footerBody = Buffer.concat([u32(index.length / 4 - 1), flags]);
  const footer = Buffer.concat([u32(crc32(footerBody)), footerBody, Buffer.from('YZ')]);
  return Buffer.concat([header, block, index, footer]);
}

/** xz's raw LZMA2 chunks for `data`, without the end byte. */
function lzma2Chunks(data: Buffer, options = 'dict=1MiB'): Buffer {
  const raw = xz(['--format=raw', `--lzma2=${options}`, '-c'], data);
  expect(raw.at(-1)).toBe(0);
  return raw.subarray(0, -1);
}

const text = realistic(400_000, 5);
const noise = Buffer.from(Array.from({ length: 150_000 }, (_, i) => (Math.imul(i + 7, 2654435761) >>> 11) & 0xff));
const mixed = Buffer.concat([text, noise, text.subarray(0, 50_000), noise.subarray(0, 70_000)]);

describe('decodeXz on streams xz makes', () => {
  const cases: [string, string[], Buffer][] = [
    ['empty', ['-6'], Buffer.alloc(0)],
    ['one byte', ['-0'], Buffer.from('x')],
    ['-6, CRC64 (xz default)', ['-6'], mixed],
    ['-0, CRC32 (as dracut)', ['-0', '--check=crc32'], mixed],
    ['-9e, no check', ['-9e', '--check=none'], mixed],
    ['blocks of 100 kB, their sizes in the block headers', ['-T2', '--block-size=100000'], mixed],
    ['a 4 KiB dictionary, which the ring wraps', ['--lzma2=dict=4KiB'], realistic(3_000_000, 9)],
    ['lc=0 lp=4 pb=4', ['--lzma2=lc=0,lp=4,pb=4'], mixed],
    ['lc=4 lp=0 pb=0', ['--lzma2=lc=4,lp=0,pb=0'], mixed],
    ['incompressible, in stored chunks', ['-6'], noise],
  ];
  for (const [name, args, data] of cases) {
    it(name, async () => {
      const stream = xz([...args, '-c'], data);
      const { out, offset } = await decodeFile(decodeXz, tmp(Buffer.concat([stream, Buffer.from('next member')])));
      expect(out.equals(data)).toBe(true);
      expect(offset).toBe(stream.length);
    });
  }

  // Real code, the kind each filter is for: this very Node binary, whatever its architecture.
  const code = readFileSync(process.execPath).subarray(0, 3_000_000);
  for (const filter of ['x86', 'powerpc', 'ia64', 'arm', 'armthumb', 'sparc', 'arm64']) {
    it(`BCJ ${filter} before LZMA2, in blocks of 700 kB, CRC32 and CRC64`, async () => {
      for (const check of ['crc32', 'crc64']) {
        const stream = xz([`--${filter}`, '--lzma2=preset=1', `--check=${check}`, '-T2', '--block-size=700000', '-c'], code);
        const { out, offset } = await decodeFile(decodeXz, tmp(stream));
        expect(out.equals(code)).toBe(true);
        expect(offset).toBe(stream.length);
      }
    });
  }

  it('an x86 call across the end of a 1 MiB output chunk: the filter keeps its start back', async () => {
    // Calls 5 bytes apart: 2^20 is 1 mod 5, so the ring's first chunk ends just after an E8.
    const calls = Buffer.alloc(3_000_000);
    for (let i = 0; i + 5 <= calls.length; i += 5) calls.set([0xe8, i & 0xff, (i >> 8) & 0xff, 0, 0], i);
    const stream = xz(['--x86', '--lzma2=preset=1', '-c'], calls);
    const { out } = await decodeFile(decodeXz, tmp(stream));
    expect(out.equals(calls)).toBe(true);
  });

  it('a dictionary reset inside a block: positions count from it, the byte before it is zero', async () => {
    // A second raw LZMA2 stream's chunks start with a dictionary reset (control 0xe0, or 0x01
    // stored): appended to a first one's, they make one block xz decodes to both inputs.
    // The ring is the 1 MiB dictionary: after 1 MiB its last byte is output, which the first
    // literal after the reset must not take for the byte before it.
    const wrapped = realistic(1_100_000, 2);
    wrapped[(1 << 20) - 1] = 0xff;
    for (const [first, second] of [[text, mixed], [wrapped, text], [noise.subarray(0, 1001), text]]) {
      const lzma2 = Buffer.concat([lzma2Chunks(first), lzma2Chunks(second, 'dict=1MiB,lc=3,lp=1,pb=3'), Buffer.from([0])]);
      const stream = xzOfLzma2(lzma2, first.length + second.length);
      const both = Buffer.concat([first, second]);
      expect(xz(['-dc'], stream).equals(both)).toBe(true);
      const { out, offset } = await decodeFile(decodeXz, tmp(stream));
      expect(out.equals(both)).toBe(true);
      expect(offset).toBe(stream.length);
    }
  });
});

/** An LZMA2 chunk header for `data` stored (control 1: dictionary reset, or 2). */
const stored = (data: Buffer, control = 1): Buffer => Buffer.concat([Buffer.from([control, (data.length - 1) >> 8, (data.length - 1) & 0xff]), data]);

describe('decodeXz refuses what xz refuses, naming the byte', () => {
  const stream = xz(['-6', '-c'], mixed);

  /** Checks that xz refuses `bad` too, and returns our error. */
  async function refused(bad: Buffer): Promise<{ message: string; offset: number }> {
    expect(xzAccepts(bad), `xz -t accepts ${bad.length} bytes`).toBe(false);
    return await expectFormatError(decodeFile(decodeXz, tmp(bad)));
  }

  it('a wrong CRC64, at the check', async () => {
    const bad = Buffer.from(stream);
    // The check ends the one block, before an Index and a footer of 12 bytes each.
    const checkAt = stream.length - 12 - 12 - 8;
    bad[checkAt] ^= 1;
    expect(await refused(bad)).toMatchObject({ message: expect.stringMatching(/^xz block CRC64 mismatch/), offset: checkAt });
  });

  it('a wrong CRC32, at the check', async () => {
    const crc = xz(['-6', '--check=crc32', '-c'], mixed);
    const checkAt = crc.length - 12 - 12 - 4;
    const bad = Buffer.from(crc);
    bad[checkAt + 3] ^= 0x80;
    expect(await refused(bad)).toMatchObject({ message: expect.stringMatching(/^xz block CRC32 mismatch/), offset: checkAt });
  });

  it('a damaged byte anywhere in the compressed data', async () => {
    for (let at = 12 + 12; at < stream.length - 40; at += 9973) {
      const bad = Buffer.from(stream);
      bad[at] ^= 0x55;
      const { message, offset } = await refused(bad);
      expect(message).toMatch(/^(corrupt xz data|xz block CRC64 mismatch|truncated xz stream)/);
      expect(offset).toBeGreaterThanOrEqual(at);
    }
  });

  it('what the bytes before an error decode to reaches the sink first, as xz -dc gives it; cut short, one symbol less at most', async () => {
    // 1.5 MiB, more than a chunk of the ring: the ring handed out only whole chunks before an error.
    const data = realistic(3 << 19, 11);
    const whole = xz(['--check=crc32', '--lzma2=dict=1MiB', '-c'], data);
    for (const share of [0.3, 0.55, 0.8]) {
      const at = Math.floor(whole.length * share);
      const flipped = Buffer.from(whole);
      flipped[at] ^= 0x10;
      for (const [how, bad] of [['cut', whole.subarray(0, at)], ['flipped', flipped]] as const) {
        const { out, error } = await outputBeforeError(decodeXz, tmp(bad));
        const theirs = spawnSync('xz', ['-dc'], { input: bad, maxBuffer: 1 << 30 });
        expect(theirs.status, `xz took the ${how} stream`).not.toBe(0);
        const label = `${how} at ${at}: ours ${out.length} bytes, xz ${theirs.stdout.length} (${error.message})`;
        if (how === 'flipped') expect(out.equals(theirs.stdout), label).toBe(true);
        else {
          expect(theirs.stdout.subarray(0, out.length).equals(out), label).toBe(true);
          expect(theirs.stdout.length - out.length, label).toBeLessThanOrEqual(273);
        }
      }
    }
  });

  it('a stream cut short anywhere: truncated, where the file ends', async () => {
    for (const cut of [13, 30, 1000, 65_600, 65_536 + 60, stream.length - 30, stream.length - 13, stream.length - 1]) {
      const { message, offset } = await refused(stream.subarray(0, cut));
      expect(message).toMatch(/truncated/);
      expect(offset).toBeLessThanOrEqual(cut);
    }
  });

  it("a block header's sizes, smaller than its block: refused where the block passes them", async () => {
    // xz -T writes both sizes into each block header: compressed, then uncompressed (100,000).
    const blocks = xz(['-T2', '--block-size=100000', '-c'], mixed);
    const headerSize = (blocks[12] + 1) * 4;
    expect(blocks[13] & 0xc0).toBe(0xc0);
    let compressed = 0;
    let at = 14;
    for (let scale = 1; ; scale *= 128) {
      compressed += (blocks[at] & 0x7f) * scale;
      if ((blocks[at++] & 0x80) === 0) break;
    }
    const cases: [number, RegExp, number][] = [
      [14, /^xz data goes past the compressed size its header gives/, 12 + headerSize + compressed - 1],
      [at, /^xz block decodes to more than the 99999 bytes its header gives/, -1],
    ];
    for (const [field, message, offset] of cases) {
      const bad = Buffer.from(blocks);
      expect(bad[field] & 0x7f).toBeGreaterThan(0);
      bad[field] -= 1;
      bad.writeUInt32LE(crc32(bad.subarray(12, 12 + headerSize - 4)), 12 + headerSize - 4);
      const error = await refused(bad);
      expect(error.message).toMatch(message);
      if (offset >= 0) expect(error.offset).toBe(offset);
      else expect(error.offset).toBeLessThanOrEqual(12 + headerSize + compressed);
    }
  });

  it("a block header's integer with a needless last byte of 0, where xz wants the shortest form", async () => {
    const data = Buffer.from('x'.repeat(10));
    const lzma2 = Buffer.concat([stored(data), Buffer.from([0])]);
    expect(lzma2.length).toBeLessThan(128);
    const shortest = xzOfLzma2(lzma2, data.length, Buffer.from([0x40, lzma2.length, 0x21, 1, 16]));
    expect((await decodeFile(decodeXz, tmp(shortest))).out.equals(data)).toBe(true);
    expect(xzAccepts(shortest)).toBe(true);
    const padded = xzOfLzma2(lzma2, data.length, Buffer.from([0x40, lzma2.length | 0x80, 0, 0x21, 1, 16]));
    expect(await refused(padded)).toMatchObject({ message: expect.stringMatching(/^xz block header's compressed size is no valid integer/), offset: 14 });
  });

  it('an Index that does not match the blocks, a footer that does not match the Index', async () => {
    // Index: 0x00, count 1, unpadded size, uncompressed size (3 bytes: 1,000,000 < 2^21), padding, CRC32.
    const indexAt = stream.length - 12 - 12;
    expect(stream[indexAt]).toBe(0);
    const fix = (b: Buffer): Buffer => {
      b.writeUInt32LE(crc32(b.subarray(indexAt, indexAt + 8)), indexAt + 8);
      return b;
    };
    const wrongSize = Buffer.from(stream);
    let uncompressedAt = indexAt + 2;
    while (stream[uncompressedAt] & 0x80) uncompressedAt++;
    wrongSize[uncompressedAt + 1] ^= 1;
    const record = await refused(fix(wrongSize));
    expect(record.message).toMatch(/^xz index record 1 does not match block 1/);
    const wrongCrc = Buffer.from(stream);
    wrongCrc[indexAt + 8] ^= 1;
    expect(await refused(wrongCrc)).toMatchObject({ message: 'xz index CRC32 mismatch', offset: indexAt + 8 });
    const wrongBackward = Buffer.from(stream);
    const footerAt = stream.length - 12;
    expect(stream.readUInt32LE(footerAt + 4)).toBe(2);
    wrongBackward[footerAt + 4] = 3;
    wrongBackward.writeUInt32LE(crc32(wrongBackward.subarray(footerAt + 4, footerAt + 10)), footerAt);
    expect(await refused(wrongBackward)).toMatchObject({ message: 'xz stream footer says the index is 16 bytes, it is 12', offset: footerAt + 4 });
  });

  it('filters the kernel does not read, by name: delta, two BCJ filters, a BCJ start offset', async () => {
    const cases: [string[], RegExp][] = [
      [['--delta=dist=1', '--lzma2'], /^unsupported xz filter 0x03 \(delta\)/],
      [['--x86', '--arm', '--lzma2'], /^unsupported xz filter 0x04 \(x86 BCJ\)/],
      [['--x86=start=16', '--lzma2'], /^xz x86 BCJ filter has a start offset/],
    ];
    for (const [filters, message] of cases) {
      const bad = xz([...filters, '-c'], mixed);
      expect(xz(['-dc'], bad).equals(mixed)).toBe(true); // a valid stream, which xz reads
      const error = await expectFormatError(decodeFile(decodeXz, tmp(bad)));
      expect(error.message).toMatch(message);
      expect(error.offset).toBe(14);
    }
  });

  describe('LZMA2 chunks that break its rules', () => {
    const good = lzma2Chunks(text);
    const broken: [string, Buffer, RegExp, number][] = [
      ['a control byte of 3', Buffer.concat([good, Buffer.from([3, 0, 0, 0])]), /LZMA2 control byte 0x03 is invalid/, good.length],
      ['no dictionary reset first (stored)', stored(text.subarray(0, 10), 2), /first LZMA2 chunk does not reset the dictionary/, 0],
      ['no dictionary reset first (LZMA)', Buffer.concat([Buffer.from([0xc0]), good.subarray(1)]), /first LZMA2 chunk does not reset the dictionary/, 0],
      ['no properties after a stored reset', Buffer.concat([stored(text.subarray(0, 10)), Buffer.from([0xa0]), good.subarray(1, 5), good.subarray(6)]), /without properties/, 13],
      ['lc + lp above 4', Buffer.concat([good.subarray(0, 5), Buffer.from([3 + 9 * 2]), good.subarray(6)]), /properties byte 0x15 is invalid/, 0],
    ];
    for (const [name, chunks, message, at] of broken) {
      it(name, async () => {
        const bad = xzOfLzma2(Buffer.concat([chunks, Buffer.from([0])]), 0);
        const error = await refused(bad);
        expect(error.message).toMatch(message);
        expect(error.offset).toBe(24 + at);
      });
    }

    it('a compressed size that does not fit the range-coded data', async () => {
      // The first chunk's compressed size, one less and one more.
      const csize = good.readUInt16BE(3) + 1;
      expect(good.length).toBeGreaterThan(csize + 6); // more chunks follow
      for (const [delta, message] of [[-1, /runs past its compressed size/], [1, /ends before its compressed size/]] as const) {
        const chunks = Buffer.from(good);
        chunks.writeUInt16BE(csize - 1 + delta, 3);
        const error = await refused(xzOfLzma2(Buffer.concat([chunks, Buffer.from([0])]), text.length));
        expect(error.message).toMatch(message);
      }
    });
  });
});
