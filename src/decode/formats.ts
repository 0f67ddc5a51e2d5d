import { decodeBzip2 } from './bzip2.js';
import { decodeGzip } from './gzip.js';
import { decodeLz4 } from './lz4.js';
import { decodeLzma } from './lzma.js';
import { decodeLzop } from './lzop.js';
import { decodeXz } from './xz.js';
import { decodeZstd } from './zstd.js';
import type { Decoder } from './types.js';

export type CompressionName = 'gzip' | 'bzip2' | 'lzma' | 'xz' | 'lz4' | 'lzop' | 'zstd';
export type SegmentFormat = 'cpio' | CompressionName;

export interface CompressionFormat {
  name: CompressionName;
  /** Leading bytes that identify a member; the kernel looks at the first two only. */
  magics: readonly (readonly number[])[];
  decode: Decoder;
  /** The decompressor dracut-initramfs-restore runs for this format. */
  native: readonly string[];
}

export const COMPRESSION_FORMATS: readonly CompressionFormat[] = [
  { name: 'gzip', magics: [[0x1f, 0x8b], [0x1f, 0x9e]], decode: decodeGzip, native: ['zcat'] },
  { name: 'bzip2', magics: [[0x42, 0x5a, 0x68]], decode: decodeBzip2, native: ['bzcat'] },
  { name: 'lzma', magics: [[0x5d, 0x00, 0x00]], decode: decodeLzma, native: ['xzcat'] },
  { name: 'xz', magics: [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]], decode: decodeXz, native: ['xzcat'] },
  {
    name: 'lz4',
    magics: [[0x02, 0x21, 0x4c, 0x18], [0x04, 0x22, 0x4d, 0x18]],
    decode: decodeLz4,
    native: ['lz4', '-d', '-c'],
  },
  {
    name: 'lzop',
    magics: [[0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]],
    decode: decodeLzop,
    native: ['lzop', '-d', '-c'],
  },
  { name: 'zstd', magics: [[0x28, 0xb5, 0x2f, 0xfd]], decode: decodeZstd, native: ['zstd', '-d', '-c'] },
];

/** The longest magic, so that callers know how many bytes to peek before asking. */
export const MAGIC_PEEK = Math.max(...COMPRESSION_FORMATS.flatMap((f) => f.magics.map((m) => m.length)));

export function detectCompression(head: Uint8Array): CompressionFormat | undefined {
  return COMPRESSION_FORMATS.find((f) => f.magics.some((m) => m.every((b, i) => head[i] === b)));
}
