import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FormatError } from '../src/errors.js';
import { decodeLz4 } from '../src/decode/lz4.js';
import { Lz4BlockDecoder, xxh32 } from '../src/decode/lz4-block.js';
import { ByteSource } from '../src/decode/source.js';
import { rng, textData } from './support/data.js';
import { type Decoded, decodeFile, expectFormatError, hashMember } from './support/decode.js';
import { REAL_EXPECTED, realImage } from './support/real.js';

/** The decoder's output area: a match's reach, 64 KiB, and 1 MiB pushed at a time. */
const OUTPUT_AREA = (1 << 20) + (64 << 10);
let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lz4-test-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tmp(name: string): string {
  return join(dir, `${counter++}-${name}`);
}

/** Runs the real lz4 on `data` with `args`, returning the compressed bytes. */
function lz4(data: Buffer, args: string[]): Buffer {
  const input = tmp('in');
  const output = tmp('out.lz4');
  writeFileSync(input, data);
  execFileSync('lz4', [...args, '-f', '-q', input, output]);
  const out = readFileSync(output);
  rmSync(input);
  rmSync(output);
  return out;
}

async function decodeBytes(file: Buffer, start = 0): Promise<Decoded> {
  const path = tmp('member');
  writeFileSync(path, file);
  try {
    return await decodeFile(decodeLz4, path, start);
  } finally {
    rmSync(path, { force: true });
  }
}

const inputs: Record<string, () => Buffer> = {
  empty: () => Buffer.alloc(0),
  'one byte': () => Buffer.from([0x42]),
  compressible: () => Buffer.concat([Buffer.alloc(300_000, 0), Buffer.from('abc'.repeat(100_000)), Buffer.alloc(70_000, 7)]),
  random: () => randomBytes(200_000),
  text: () => textData(500_000),
};

describe('xxHash32', () => {
  it('matches the reference vectors', () => {
    expect(xxh32(new Uint8Array(0))).toBe(0x02cc5d05);
    expect(xxh32(Buffer.from('a'))).toBe(0x550d7456);
    expect(xxh32(Buffer.from('abc'))).toBe(0x32d153ff);
    expect(xxh32(Buffer.from('Nobody inspects the spammish repetition'))).toBe(0xe2293b2f);
  });

  it('streams a content hash to the same value whatever the split', () => {
    const data = textData(1000, 5);
    const blocks = new Lz4BlockDecoder().layout(0, data.length);
    blocks.output.set(data);
    const whole = blocks.checksum(blocks.output, 0, data.length);
    for (const step of [1, 3, 15, 16, 17, 100]) {
      blocks.startContentHash();
      for (let i = 0; i < data.length; i += step) blocks.addToContentHash(i, Math.min(data.length, i + step));
      expect(blocks.contentHash()).toBe(whole);
    }
  });
});

describe('lz4 legacy (lz4 -l)', () => {
  for (const [name, make] of Object.entries(inputs)) {
    it(`decodes ${name} input written by lz4 -l -9`, async () => {
      const data = make();
      const z = lz4(data, ['-l', '-9']);
      const d = await decodeBytes(z);
      expect(d.out.equals(data)).toBe(true);
      expect(d.offset).toBe(z.length);
    });
  }

  it('decodes several 8 MiB blocks', async () => {
    const data = Buffer.concat([textData(9 << 20, 2), randomBytes(3 << 20), textData(5 << 20, 3)]);
    const z = lz4(data, ['-l', '-9']);
    const d = await decodeBytes(z);
    expect(d.out.length).toBe(data.length);
    expect(d.out.equals(data)).toBe(true);
    expect(d.offset).toBe(z.length);
    // Pushed in pieces no larger than the output area, not a block (8 MiB) at a time.
    expect(Math.max(...d.chunks)).toBe(OUTPUT_AREA);
  });

  it('stops exactly before a zero word or a short tail, as the kernel\'s unlz4', async () => {
    const data = textData(100_000, 4);
    const z = lz4(data, ['-l', '-9']);
    for (const tail of [
      Buffer.alloc(512 - (z.length % 512) + 512),
      Buffer.concat([Buffer.alloc(4), Buffer.from('070701000000010000')]),
      Buffer.alloc(3),
      Buffer.alloc(1),
      Buffer.from([0x1f]),
      Buffer.from([0xff, 0xff, 0xff]),
    ]) {
      const d = await decodeBytes(Buffer.concat([z, tail]));
      expect(d.out.equals(data)).toBe(true);
      expect(d.offset).toBe(z.length);
    }
  });

  it('reads any other word after a block as the next block\'s size, as the kernel does: a newc header or a magic right after the stream is refused there', async () => {
    const z = lz4(textData(100_000, 4), ['-l', '-9']);
    for (const tail of [Buffer.from('070701000000010000'), Buffer.from([0, 0x28, 0xb5, 0x2f, 0xfd]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0])]) {
      const e = await expectFormatError(decodeBytes(Buffer.concat([z, tail])));
      expect(e.message).toMatch(/^lz4 legacy block size \d+ \(bytes [0-9a-f ]+\) is over LZ4_COMPRESSBOUND\(8 MiB\): the kernel's unlz4 ends a stream only at a zero word/);
      expect(e.offset).toBe(z.length);
    }
  });

  it('starts at a given offset and reports absolute error offsets', async () => {
    const data = textData(50_000, 6);
    const z = lz4(data, ['-l', '-9']);
    const prefix = Buffer.alloc(1000, 0x30);
    const d = await decodeBytes(Buffer.concat([prefix, z, Buffer.alloc(16)]), 1000);
    expect(d.out.equals(data)).toBe(true);
    expect(d.offset).toBe(1000 + z.length);
    // the block claims more bytes than the file has
    const cut = Buffer.concat([prefix, z.subarray(0, z.length - 10)]);
    const e = await expectFormatError(decodeBytes(cut, 1000));
    expect(e.offset).toBe(1000 + 8);
  });

  it('reads concatenated lz4 -l outputs as one stream (the magic is skipped)', async () => {
    const a = textData(70_000, 7);
    const b = randomBytes(1000);
    const z = Buffer.concat([lz4(a, ['-l', '-9']), lz4(b, ['-l', '-9']), Buffer.alloc(8)]);
    const d = await decodeBytes(z);
    expect(d.out.equals(Buffer.concat([a, b]))).toBe(true);
    expect(d.offset).toBe(z.length - 8);
  });

  it('rejects a block that decodes to more than 8 MiB', async () => {
    // one literal, then a match of offset 1 whose length runs past 8 MiB, then a last literal
    const ext = Math.ceil((8 << 20) / 255) + 2;
    const block = Buffer.concat([Buffer.from([0x1f, 0x41, 0x01, 0x00]), Buffer.alloc(ext, 255), Buffer.from([0, 0x10, 0x41])]);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(0x184c2102, 0);
    head.writeUInt32LE(block.length, 4);
    const e = await expectFormatError(decodeBytes(Buffer.concat([head, block])));
    expect(e.message).toMatch(/past the end of the output/);
  });

  it('a truncated stream is an error or a whole-block prefix, never anything else', async () => {
    const data = Buffer.concat([textData(20_000, 8)]);
    const z = lz4(data, ['-l', '-9']);
    for (let n = 0; n < z.length; n += n < 64 ? 1 : 13) {
      try {
        const d = await decodeBytes(z.subarray(0, n));
        // only at the magic or block boundaries (or 1-3 bytes into a size field)
        expect(data.subarray(0, d.out.length).equals(d.out)).toBe(true);
        expect(n - d.offset).toBeLessThan(4);
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
        expect((e as FormatError).offset).toBeLessThanOrEqual(n);
      }
    }
  });

  it('bit flips give a FormatError or some output, nothing else', async () => {
    const data = textData(30_000, 9);
    const z = lz4(data, ['-l', '-9']);
    const r = rng(42);
    for (let i = 0; i < 400; i++) {
      const bad = Buffer.from(z);
      const at = i < 64 ? i : Math.floor(r() * bad.length);
      bad[at] ^= 1 << Math.floor(r() * 8);
      try {
        const d = await decodeBytes(bad);
        expect(d.offset).toBeLessThanOrEqual(bad.length);
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
      }
    }
  });

  const real = realImage('fedora-like-lz4.img');
  it.skipIf(!REAL_EXPECTED)('decodes the main member of a dracut lz4 image like lz4 -dc does', async () => {
    // the early microcode archive comes first; the lz4 member runs to the end of the file
    const image = readFileSync(real);
    const start = image.indexOf(Buffer.from([0x02, 0x21, 0x4c, 0x18]));
    expect(start).toBeGreaterThan(0);
    const expected = execFileSync('lz4', ['-dc'], { input: image.subarray(start), maxBuffer: 1 << 30 });
    const decoded = await hashMember(decodeLz4, real, start);
    expect(decoded.offset).toBe(image.length);
    expect(decoded.size).toBe(expected.length);
    expect(decoded.sha256).toBe(createHash('sha256').update(expected).digest('hex'));
  });
});

describe('lz4 frame', () => {
  const variants: Record<string, string[]> = {
    default: [],
    '-9 --content-size': ['-9', '--content-size'],
    'block checksums -BX': ['-BX'],
    'linked blocks -BD -B4': ['-BD', '-B4'],
    'linked -BD -BX -B5 --content-size': ['-BD', '-BX', '-B5', '--content-size'],
    'no content checksum': ['--no-frame-crc', '-B6'],
  };
  for (const [vname, args] of Object.entries(variants)) {
    for (const [name, make] of Object.entries(inputs)) {
      it(`decodes ${name} input (${vname})`, async () => {
        const data = make();
        const z = lz4(data, args);
        const d = await decodeBytes(z);
        expect(d.out.equals(data)).toBe(true);
        expect(d.offset).toBe(z.length);
      });
    }
  }

  for (const args of [['-BD', '-B4'], ['-BD', '-B7', '-BX'], ['-B7']]) {
    it(`decodes a large input with ${args.join(' ')} in bounded chunks`, async () => {
      const data = Buffer.concat([textData(11 << 20, 10), randomBytes(1 << 20), Buffer.alloc(3 << 20, 1)]);
      const z = lz4(data, [...args, '--content-size']);
      const d = await decodeBytes(Buffer.concat([z, Buffer.from('070701')]));
      expect(d.out.length).toBe(data.length);
      expect(d.out.equals(data)).toBe(true);
      expect(d.offset).toBe(z.length);
      expect(Math.max(0, ...d.chunks)).toBeLessThanOrEqual(OUTPUT_AREA);
    });
  }

  it('reads a block larger than its 256 KiB parts a part at a time, stored or compressed, and names the whole block when the file ends inside it', async () => {
    // 4 MiB blocks: the random ones are stored, the text compressed; no block checksum.
    const data = Buffer.concat([randomBytes(9 << 20), textData(3 << 20, 21)]);
    const z = lz4(data, ['-B7', '--content-size']);
    // What each read of a block's bytes asks for: never the whole 4 MiB block.
    const reads: number[] = [];
    const original = ByteSource.prototype.readTo;
    const readTo = vi.spyOn(ByteSource.prototype, 'readTo').mockImplementation(function (this: ByteSource, target, what, whole) {
      reads.push(target.length);
      original.call(this, target, what, whole);
    });
    let d: Decoded;
    try {
      d = await decodeBytes(z);
    } finally {
      readTo.mockRestore();
    }
    expect(d.out.equals(data)).toBe(true);
    expect(d.offset).toBe(z.length);
    // A stored block goes straight into the output area, a room's worth (1 MiB and the 64 KiB
    // window) at a time; the compressed one (the last) in 256 KiB parts.
    expect(Math.max(...reads)).toBeLessThanOrEqual((1 << 20) + (64 << 10));
    expect(reads.filter((n) => n === 256 << 10).length).toBeGreaterThanOrEqual(8);
    const first = z.readUInt32LE(15);
    expect(first >>> 31).toBe(1); // stored
    const size = first & 0x7fffffff;
    const cut = 19 + 3 * (256 << 10) + 1000;
    const e = await expectFormatError(decodeBytes(z.subarray(0, cut)));
    expect(e.message).toBe(`truncated lz4 frame block: needs ${size} bytes, file ends after ${cut - 19}`);
    expect(e.offset).toBe(19);
  });

  it('ends the member after the first of concatenated frames', async () => {
    const a = textData(10_000, 11);
    const za = lz4(a, []);
    const zb = lz4(textData(5_000, 12), []);
    const d = await decodeBytes(Buffer.concat([za, zb, Buffer.alloc(100)]));
    expect(d.out.equals(a)).toBe(true);
    expect(d.offset).toBe(za.length);
  });

  it('rejects a wrong header checksum, content size, dictionary and oversized block', async () => {
    const data = textData(10_000, 13);
    const z = lz4(data, ['--content-size', '-B4']);
    // FLG BD, content size (8), HC at 14
    const badHc = Buffer.from(z);
    badHc[14] ^= 0x55;
    expect((await expectFormatError(decodeBytes(badHc))).offset).toBe(14);

    // content size one too big, with a fixed-up header checksum
    const badSize = Buffer.from(z);
    badSize.writeUInt32LE(data.length + 1, 6);
    badSize[14] = (xxh32(badSize.subarray(4, 14)) >>> 8) & 0xff;
    expect((await expectFormatError(decodeBytes(badSize))).message).toMatch(/declares/);

    // dictionary ID flag
    const plain = lz4(data, ['-B4']);
    const dict = Buffer.concat([plain.subarray(0, 6), Buffer.from([1, 2, 3, 4, 0]), plain.subarray(7)]);
    dict[4] |= 1;
    dict[10] = (xxh32(dict.subarray(4, 10)) >>> 8) & 0xff;
    expect((await expectFormatError(decodeBytes(dict))).message).toMatch(/dictionary/);

    // a block size above the 64 KiB maximum of -B4
    const big = Buffer.from(plain);
    big.writeUInt32LE(0x10001, 7);
    expect((await expectFormatError(decodeBytes(big))).offset).toBe(7);
  });

  it('truncation anywhere is a FormatError', async () => {
    const data = textData(40_000, 14);
    for (const args of [['-BX', '--content-size', '-B4'], ['-BD', '-B4']]) {
      const z = lz4(data, args);
      for (let n = 0; n < z.length; n += n < 40 ? 1 : 11) {
        const e = await expectFormatError(decodeBytes(z.subarray(0, n)));
        expect(e.offset).toBeLessThanOrEqual(n);
      }
    }
  });

  it('bit flips give a FormatError or the original bytes', async () => {
    const data = textData(40_000, 15);
    const r = rng(7);
    for (const args of [['-B4'], ['-BX', '-BD', '-B4', '--content-size']]) {
      const z = lz4(data, args);
      for (let i = 0; i < 300; i++) {
        const bad = Buffer.from(z);
        const at = i < 40 ? i : Math.floor(r() * bad.length);
        bad[at] ^= 1 << Math.floor(r() * 8);
        try {
          const d = await decodeBytes(bad);
          expect(d.out.equals(data)).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(FormatError);
        }
      }
    }
  });
});

/** Decodes `block` into an output of `outLen` bytes from 0; `base` is its file offset. */
function decodeBlock(block: number[], outLen: number, base: number): Uint8Array {
  const blocks = new Lz4BlockDecoder().layout(block.length, outLen);
  blocks.input.set(block);
  blocks.start(block.length, outLen, base);
  const end = blocks.run(0, outLen, 0);
  expect(blocks.done).toBe(true);
  return blocks.output.subarray(0, end);
}

describe('LZ4 block decoder bounds', () => {
  const run = (block: number[]) => decodeBlock(block, 64, 100);

  it('decodes literals and overlapping matches', () => {
    // "ab" then match offset 2 length 8 then last literal "c"
    expect(Buffer.from(run([0x24, 0x61, 0x62, 0x02, 0x00, 0x10, 0x63])).toString()).toBe('ababababab' + 'c');
  });
  it('rejects offset 0', () => {
    expect(() => run([0x10, 0x61, 0x00, 0x00, 0x10, 0x63])).toThrow(FormatError);
    try {
      run([0x10, 0x61, 0x00, 0x00, 0x10, 0x63]);
    } catch (e) {
      expect((e as FormatError).offset).toBe(102);
    }
  });
  it('rejects an offset beyond the output', () => {
    expect(() => run([0x10, 0x61, 0x02, 0x00, 0x10, 0x63])).toThrow(/before the start/);
  });
  it('rejects literals past the input', () => {
    expect(() => run([0x50, 0x61, 0x62])).toThrow(FormatError);
    expect(() => run([0xf0, 0xff, 0x61])).toThrow(FormatError);
  });
  it('rejects output overruns', () => {
    expect(() => run([0x1f, 0x61, 0x01, 0x00, 0x40, 0x00])).toThrow(/output/);
    expect(() => run([0xf0, 0x40, ...new Array(79).fill(0x61)])).toThrow(/output/);
  });
  it('rejects a block ending after a match or inside an offset', () => {
    expect(() => run([0x10, 0x61, 0x01, 0x00])).toThrow(FormatError);
    expect(() => run([0x10, 0x61, 0x01])).toThrow(FormatError);
    expect(() => run([])).toThrow(FormatError);
  });
});

describe('LZ4 block decoder word copies (room on both sides)', () => {
  /** Sequences of up to 14 literals and matches of 4..18 bytes from 1..20 back, and what they decode to. */
  function shortSequences(count: number, seed: number): { block: number[]; expected: number[] } {
    const next = rng(seed);
    const pick = (n: number) => Math.floor(next() * n);
    const block: number[] = [];
    const expected: number[] = [];
    for (let i = 0; i < count; i++) {
      const lit = i === 0 ? 1 + pick(14) : pick(15);
      const len = pick(15);
      block.push((lit << 4) | len);
      for (let j = 0; j < lit; j++) {
        const b = pick(256);
        block.push(b);
        expected.push(b);
      }
      const off = 1 + pick(Math.min(20, expected.length));
      block.push(off & 0xff, off >> 8);
      for (let j = 0; j < len + 4; j++) expected.push(expected[expected.length - off]);
    }
    block.push(0x10, 0x7a); // the last sequence: one literal
    expected.push(0x7a);
    return { block, expected };
  }

  it('decodes overlapping and short-offset matches byte for byte', () => {
    for (const seed of [1, 2, 3]) {
      const { block, expected } = shortSequences(2000, seed);
      const out = decodeBlock(block, expected.length + 64, 0);
      expect(Buffer.from(out).equals(Buffer.from(expected))).toBe(true);
    }
  });

  const tail = new Array(40).fill(0x61);
  const failure = (block: number[], outLen = 256): FormatError => {
    try {
      decodeBlock(block, outLen, 100);
    } catch (e) {
      expect(e).toBeInstanceOf(FormatError);
      return e as FormatError;
    }
    throw new Error('expected a FormatError');
  };

  it('copies a long match ending just before the end of memory without writing past it', () => {
    // 8 literals, a match from 8 back of 15 + 10 * 255 + 100 + 4 bytes, one literal: the output
    // area ends where the WebAssembly memory does, so a word copy past the match would trap.
    const literals = [...Buffer.from('initramf')];
    const block = [0x8f, ...literals, 8, 0, ...new Array(10).fill(255), 100, 0x10, 0x78];
    const matchLength = 15 + 10 * 255 + 100 + 4;
    const outLen = 8 + matchLength + 1;
    const blocks = new Lz4BlockDecoder().layout(block.length, outLen);
    const memoryEnd = blocks.output.buffer.byteLength;
    blocks.layout(memoryEnd - blocks.input.byteOffset - outLen, outLen);
    expect(blocks.output.byteOffset + outLen).toBe(memoryEnd);
    blocks.input.set(block);
    blocks.start(block.length, outLen, 0);
    const end = blocks.run(0, outLen, 0);
    expect(blocks.done).toBe(true);
    const expected = Buffer.concat([Buffer.from('initramf'.repeat(Math.ceil((8 + matchLength) / 8))).subarray(0, 8 + matchLength), Buffer.from('x')]);
    expect(Buffer.from(blocks.output.subarray(0, end)).equals(expected)).toBe(true);
  });

  it('rejects offset 0 and an offset beyond the output at the same byte as the checked path', () => {
    expect(failure([0x10, 0x61, 0x00, 0x00, ...tail])).toMatchObject({ message: expect.stringMatching(/offset 0/), offset: 102 });
    expect(failure([0x10, 0x61, 0x09, 0x00, ...tail])).toMatchObject({ message: expect.stringMatching(/before the start/), offset: 102 });
  });
  it('rejects literals and matches past a short output', () => {
    expect(failure([0xc0, ...tail], 10)).toMatchObject({ message: expect.stringMatching(/literals run past the end of the output/), offset: 101 });
    expect(failure([0x2e, 0x61, 0x62, 0x02, 0x00, ...tail], 12)).toMatchObject({ message: expect.stringMatching(/match runs past the end of the output/), offset: 105 });
  });
});

describe('LZ4 block decoder, stopped when its output room is full and resumed', () => {
  /** Runs the decoder on `block` (limit `limit`) with at most `step` bytes of room per run. */
  function inSteps(block: Uint8Array | number[], limit: number, step: number): Uint8Array {
    const blocks = new Lz4BlockDecoder().layout(block.length, limit + 64);
    blocks.input.set(block);
    blocks.start(block.length, limit, 100);
    let op = 0;
    while (!blocks.done) op = blocks.run(op, Math.min(op + step, limit + 64), 0);
    return blocks.output.subarray(0, op);
  }

  it('gives the same output whatever room each run has, inside literals and matches alike', () => {
    const data = Buffer.concat([textData(100_000, 4), Buffer.alloc(5000, 9), randomBytes(3000), Buffer.from('ab'.repeat(900))]);
    const z = lz4(data, ['-l', '-9']);
    expect(z.readUInt32LE(4)).toBe(z.length - 8); // one block
    for (const step of [1, 5, 8, 13, 64, 1000, 70_000]) {
      expect(Buffer.from(inSteps(z.subarray(8), data.length, step)).equals(data)).toBe(true);
    }
  });

  it('finds a block too big for its limit at the same byte, whatever the room', () => {
    const tail = new Array(40).fill(0x61);
    for (const step of [1, 3, 64]) {
      expect(() => inSteps([0xc0, ...tail], 10, step)).toThrow(expect.objectContaining({ message: expect.stringMatching(/literals run past/), offset: 101 }));
      expect(() => inSteps([0x2e, 0x61, 0x62, 0x02, 0x00, ...tail], 12, step)).toThrow(expect.objectContaining({ message: expect.stringMatching(/match runs past/), offset: 105 }));
    }
  });
});

describe('LZ4 block decoder, given its input a part at a time', () => {
  /**
   * Decodes `block` (limit `limit`, at file offset 100) with an input area of `inputSize`
   * bytes, refilled as the decoder asks, and `room` bytes of output room per run.
   */
  function inParts(block: Uint8Array | number[], limit: number, inputSize: number, room = limit + 64): Uint8Array {
    const blocks = new Lz4BlockDecoder().layout(inputSize, limit + 64);
    const bytes = Uint8Array.from(block);
    let read = 0;
    const feed = (target: Uint8Array) => {
      target.set(bytes.subarray(read, read + target.length));
      read += target.length;
    };
    blocks.start(bytes.length, limit, 100, 0);
    blocks.refill(feed);
    let op = 0;
    for (;;) {
      op = blocks.run(op, Math.min(op + room, limit + 64), 0);
      if (blocks.done) break;
      if (blocks.needsInput) blocks.refill(feed);
    }
    expect(read).toBe(bytes.length);
    return blocks.output.subarray(0, op);
  }

  // long literal runs and long matches (their lengths extended by 255s), short ones, periods
  const data = Buffer.concat([randomBytes(3000), Buffer.alloc(5000, 9), textData(50_000, 5), randomBytes(300), Buffer.from('ab'.repeat(900))]);
  let z: Buffer;
  beforeAll(() => {
    z = lz4(data, ['-l', '-9']);
  });

  it('gives the same output whatever part of the block each read gives, headers split anywhere', () => {
    expect(z.readUInt32LE(4)).toBe(z.length - 8); // one block
    for (const inputSize of [2, 3, 5, 8, 17, 64, 1000, 70_000]) {
      expect(Buffer.from(inParts(z.subarray(8), data.length, inputSize)).equals(data), `${inputSize} bytes of input`).toBe(true);
    }
  });

  it('stops for room and for input alike', () => {
    for (const [inputSize, room] of [[3, 7], [64, 5], [7, 1000], [1000, 3]]) {
      expect(Buffer.from(inParts(z.subarray(8), data.length, inputSize, room)).equals(data), `${inputSize}/${room}`).toBe(true);
    }
  });

  it('reads a long match length on in the next part, where the part holding its start ends', () => {
    // 8 literals, then a match from 8 back whose length takes 60 bytes of 255 and a 7, then 5
    // literals: from a part of 20 to 64 bytes, the sequence starts in the word-copy loop and
    // its length runs into the next part.
    const ascii = (text: string) => [...Buffer.from(text)];
    const block = Buffer.from([0x8f, ...ascii('initramf'), 8, 0, ...new Array(60).fill(255), 7, 0x50, ...ascii('s-end')]);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(block.length);
    const expected = execFileSync('lz4', ['-dc'], { input: Buffer.concat([Buffer.from([0x02, 0x21, 0x4c, 0x18]), size, block]) });
    expect(expected.length).toBe(8 + 15 + 4 + 60 * 255 + 7 + 5);
    for (const inputSize of [20, 30, 40, 64]) {
      expect(Buffer.from(inParts(block, expected.length, inputSize)).equals(expected), `${inputSize} bytes of input`).toBe(true);
    }
  });

  it('finds a block cut short, or wrong, at the same byte, whatever part each read gives', () => {
    const tail = new Array(40).fill(0x61);
    const cases: [number[], number, RegExp, number][] = [
      [[0xf0, 0xff, 0xff], 1000, /literal length/, 103],
      [[0x10, 0x61, 0x05], 1000, /truncated LZ4 block: match offset/, 102],
      // 14 literals and one byte of an offset: 16 bytes from the token, too few for the fast loop
      [[0xe0, ...new Array(14).fill(0x61), 0x01], 1000, /truncated LZ4 block: match offset/, 115],
      [[0x1f, 0x61, 0x01, 0x00, 0xff], 1000, /match length/, 105],
      [[0x10, 0x61, 0x01, 0x00], 1000, /sequence expected/, 104],
      [[0xf0, 0x20, 0x61], 1000, /literals \(47 bytes\) run past the end of the block/, 102],
      [[0x10, 0x61, 0x00, 0x00, ...tail], 1000, /offset 0/, 102],
      [[0x10, 0x61, 0x09, 0x00, ...tail], 1000, /before the start/, 102],
      [[0xc0, ...tail], 10, /literals run past the end of the output/, 101],
      [[0x2e, 0x61, 0x62, 0x02, 0x00, ...tail], 12, /match runs past/, 105],
    ];
    for (const [block, limit, message, offset] of cases) {
      for (const inputSize of [2, 3, 64]) {
        expect(() => inParts(block, limit, inputSize), `${block.slice(0, 5)} in parts of ${inputSize}`).toThrow(
          expect.objectContaining({ message: expect.stringMatching(message), offset }),
        );
      }
    }
  });

  it('names the whole legacy block, not the part, when the file ends inside it', async () => {
    const big = Buffer.concat([randomBytes(600_000), textData(400_000, 3)]);
    const stream = lz4(big, ['-l', '-1']);
    const size = stream.readUInt32LE(4);
    expect(size).toBeGreaterThan(2 * (256 << 10)); // three parts at least
    const cut = 8 + 300_000 + 256 * 1024;
    const e = await expectFormatError(decodeBytes(stream.subarray(0, cut)));
    expect(e.message).toBe(`truncated lz4 legacy block: needs ${size} bytes, file ends after ${cut - 8}`);
    expect(e.offset).toBe(8);
  });
});
