import { spawnSync } from 'node:child_process';
import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeGzip } from '../src/decode/gzip.js';
import { realistic } from './support/data.js';
import { decodeFile, expectFormatError } from './support/decode.js';
import { scratch } from './support/scratch.js';

// gzip is the oracle for what a header holds; the kernel's gunzip (lib/decompress_inflate.c)
// skips the 10 fixed bytes and, with FNAME, a file name, and inflates everything after.

const { writeImage } = scratch('gzip-test-');
const tmp = (data: Uint8Array): string => writeImage([Buffer.from(data)]);
const data = realistic(100_000, 3);

/** A gzip member of `data` with header flags `flags` and the fields they announce. */
function member(flags: number, fields: Buffer): Buffer {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data), 0);
  trailer.writeUInt32LE(data.length, 4);
  return Buffer.concat([Buffer.from([0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3]), fields, deflateRawSync(data), trailer]);
}

describe('decodeGzip skips of the header only what the kernel\'s gunzip skips', () => {
  it('a file name, as gzip writes it for a file: skipped', async () => {
    const named = member(0x08, Buffer.from('initramfs.img\0'));
    expect(spawnSync('gzip', ['-t'], { input: named }).status).toBe(0);
    const { out, offset } = await decodeFile(decodeGzip, tmp(named));
    expect(out.equals(data)).toBe(true);
    expect(offset).toBe(named.length);
  });

  it("the old magic 1f 9e, which the kernel's table gives to gunzip, and gunzip refuses", async () => {
    const old = member(0, Buffer.alloc(0));
    old[1] = 0x9e;
    const e = await expectFormatError(decodeFile(decodeGzip, tmp(old)));
    expect(e.message).toBe("gzip magic 1f 9e: the kernel's gunzip reads 1f 8b only");
    expect(e.offset).toBe(1);
  });

  it('an extra field, a comment or a header CRC, which gzip takes and the kernel would inflate as data: refused at the flags', async () => {
    const cases: [number, Buffer, RegExp][] = [
      [0x04, Buffer.from([4, 0, 0x41, 0x42, 2, 0]), /an extra field \(flag 0x04\)/],
      [0x10, Buffer.from('a comment\0'), /a comment \(flag 0x10\)/],
      [0x02, Buffer.from([0, 0]), /a header CRC \(flag 0x02\)/],
      [0x08 | 0x10, Buffer.from('name\0comment\0'), /a comment/],
    ];
    for (const [flags, fields, words] of cases) {
      const bad = member(flags, fields);
      // gzip checks a header CRC: the CRC16 of the header before it.
      if (flags === 0x02) bad.writeUInt16LE(crc32(bad.subarray(0, 10)) & 0xffff, 10);
      expect(spawnSync('gzip', ['-t'], { input: bad }).status, `gzip -t, flags 0x${flags.toString(16)}`).toBe(0);
      const e = await expectFormatError(decodeFile(decodeGzip, tmp(bad)));
      expect(e.message).toMatch(words);
      expect(e.offset).toBe(3);
    }
  });
});
