import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ByteSource } from '../src/decode/source.js';
import { decodeZstd, zstdMemberEnd } from '../src/decode/zstd.js';
import { sh } from './support/cli.js';
import { realistic, rng } from './support/data.js';
import { decodeFile, expectFormatError } from './support/decode.js';
import { scratch } from './support/scratch.js';
import { zstdBlocks } from './support/zstd.js';

/** Read windows from a byte to the default's MiB: where each refill falls moves with them. */
const WINDOWS = [1, 5, 64, 4096, undefined];
/** For members of megabytes, which a window of a few bytes takes a read and an engine call per few bytes of. */
const WIDE_WINDOWS = [64, 4096, undefined];
const { writeImage } = scratch('zstd-test-');

/** Bytes this process has read by read(2) and pread(2) so far (/proc/self/io's rchar). */
function bytesRead(): number {
  return Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'latin1'))![1]);
}

/** A frame of raw blocks (a 2 MiB window, no content size, no checksum), each block's header as `header` makes it. */
function rawFrame(contents: Buffer[], header = (size: number, last: boolean, _index: number) => (size << 3) | (last ? 1 : 0)): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58])];
  contents.forEach((content, i) => {
    const h = Buffer.alloc(3);
    h.writeUIntLE(header(content.length, i === contents.length - 1, i), 0, 3);
    parts.push(h, content);
  });
  return Buffer.concat(parts);
}

describe('the zstd decoder', () => {
  it('decodes frames zstd wrote to their last byte, in read windows of 64 bytes to 1 MiB, reading the member once', async () => {
    const data = realistic(6 << 20, 7);
    for (const command of ['zstd -qc -3', 'zstd -qc -19 --check', 'zstd -qc -1 --no-check']) {
      const member = sh(command, { input: data });
      // What follows the member is not read as its own: another frame's magic, then zeros.
      const path = writeImage([member, Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(60)]);
      for (const window of WIDE_WINDOWS) {
        const before = bytesRead();
        const decoded = await decodeFile(decodeZstd, path, 0, window);
        const read = bytesRead() - before;
        expect(decoded.out.equals(data), `${command}, window ${window}`).toBe(true);
        expect(decoded.offset, `${command}, window ${window}`).toBe(member.length);
        // The frame's walk takes its bytes from the windows the engine is given, not from reads of its own.
        expect(read, `${command}, window ${window}`).toBeLessThan(member.length + 4096);
      }
      expect(zstdMemberEnd(ByteSource.open(path, 512)), command).toBe(member.length);
    }
  });

  it('gives the sink every byte before a block header it refuses, in read windows of 64 bytes to 1 MiB, overlapped or not, then refuses it', async () => {
    const random = rng(3);
    const contents = Array.from({ length: 16 }, () => Buffer.from(Array.from({ length: 100 << 10 }, () => Math.floor(random() * 256))));
    const reserved = (size: number, last: boolean, i: number) => (size << 3) | (i === 15 ? 3 << 1 : 0) | (last ? 1 : 0);
    const oversized = (size: number, last: boolean, i: number) => ((i === 15 ? 200_000 : size) << 3) | (last ? 1 : 0);
    // 11 RLE blocks of 100 KiB from a byte each, then the refused one: with every byte before it
    // taken, the engine has filled its 1 MiB buffer and holds the rest when the walk stops.
    const runs = contents.slice(0, 12).map((content) => content.subarray(0, 1));
    const rleReserved = (_size: number, last: boolean, i: number) => ((100 << 10) << 3) | ((i === 11 ? 3 : 1) << 1) | (last ? 1 : 0);
    const cases: [string, Buffer, number, Buffer, string][] = [
      ['a raw block of the reserved type', rawFrame(contents, reserved), 6 + 15 * (3 + (100 << 10)), Buffer.concat(contents.slice(0, 15)), 'zstd block of the reserved type'],
      ['a raw block over 128 KiB', rawFrame(contents, oversized), 6 + 15 * (3 + (100 << 10)), Buffer.concat(contents.slice(0, 15)), 'zstd block of 200000 bytes exceeds 128 KiB'],
      ['an RLE block of the reserved type', rawFrame(runs, rleReserved), 6 + 11 * 4, Buffer.concat(runs.slice(0, 11).map((run) => Buffer.alloc(100 << 10, run[0]))), 'zstd block of the reserved type'],
    ];
    for (const [label, frame, refusedAt, before, message] of cases) {
      const path = writeImage([frame]);
      for (const window of WIDE_WINDOWS) {
        for (const overlap of [false, true]) {
          const out: Buffer[] = [];
          const src = ByteSource.open(path, window);
          const err = await expectFormatError(decodeZstd(src, (chunk) => void out.push(Buffer.from(chunk)), { overlap }));
          src.close();
          const what = `${label}, window ${window}${overlap ? ', overlapped' : ''}`;
          expect([err.message, err.offset], what).toEqual([message, refusedAt]);
          expect(Buffer.concat(out).equals(before), `${what}: the blocks before it are decoded (${Buffer.concat(out).length} of ${before.length} bytes)`).toBe(true);
        }
      }
      const err = await expectFormatError((async () => zstdMemberEnd(ByteSource.open(path, 512)))());
      expect([err.message, err.offset], `${label}, the framing walk`).toEqual([message, refusedAt]);
    }
  });

  it('names what of the frame an image cut inside it cuts, at the same byte in any read window and in the framing walk', async () => {
    const frame = sh('zstd -qc -3 --check', { input: realistic(600 << 10, 5) });
    const blocks = zstdBlocks(frame);
    expect(blocks.length).toBeGreaterThan(3);
    const { at, contentAt, contentSize } = blocks[2];
    const checksumAt = frame.length - 4;
    const cuts: [number, string, number][] = [
      [at, 'truncated zstd block header: needs 3 bytes, file ends after 0', at],
      [at + 1, 'truncated zstd block header: needs 3 bytes, file ends after 1', at],
      [at + 2, 'truncated zstd block header: needs 3 bytes, file ends after 2', at],
      [contentAt + 10, `truncated zstd block: needs ${contentSize} bytes, file ends after 10`, contentAt],
      [checksumAt - 1, `truncated zstd block: needs ${blocks.at(-1)!.contentSize} bytes, file ends after ${blocks.at(-1)!.contentSize - 1}`, blocks.at(-1)!.contentAt],
      [checksumAt, 'truncated zstd frame checksum: needs 4 bytes, file ends after 0', checksumAt],
      [checksumAt + 3, 'truncated zstd frame checksum: needs 4 bytes, file ends after 3', checksumAt],
    ];
    for (const [cut, message, offset] of cuts) {
      const path = writeImage([frame.subarray(0, cut)]);
      for (const window of WINDOWS) {
        const err = await expectFormatError(decodeFile(decodeZstd, path, 0, window));
        expect([err.message, err.offset], `cut at ${cut}, window ${window}`).toEqual([message, offset]);
      }
      const err = await expectFormatError((async () => zstdMemberEnd(ByteSource.open(path, 512)))());
      expect([err.message, err.offset], `cut at ${cut}, the framing walk`).toEqual([message, offset]);
    }
  });
});
