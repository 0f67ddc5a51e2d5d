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
  /** The first two bytes, as the kernel's decompress_method() knows a member; the decoder checks the rest. */
  magics: readonly (readonly number[])[];
  decode: Decoder;
  /** The decompressor dracut-initramfs-restore runs for this format. */
  native: readonly string[];
}

export const COMPRESSION_FORMATS: readonly CompressionFormat[] = [
  { name: 'gzip', magics: [[0x1f, 0x8b], [0x1f, 0x9e]], decode: decodeGzip, native: ['zcat'] },
  { name: 'bzip2', magics: [[0x42, 0x5a]], decode: decodeBzip2, native: ['bzcat'] },
  { name: 'lzma', magics: [[0x5d, 0x00]], decode: decodeLzma, native: ['xzcat'] },
  { name: 'xz', magics: [[0xfd, 0x37]], decode: decodeXz, native: ['xzcat'] },
  {
    name: 'lz4',
    magics: [[0x02, 0x21], [0x04, 0x22]],
    decode: decodeLz4,
    native: ['lz4', '-d', '-c'],
  },
  {
    name: 'lzop',
    magics: [[0x89, 0x4c]],
    decode: decodeLzop,
    native: ['lzop', '-d', '-c'],
  },
  { name: 'zstd', magics: [[0x28, 0xb5]], decode: decodeZstd, native: ['zstd', '-d', '-c'] },
];


export function detectCompression(head: Uint8Array): CompressionFormat | undefined {
  return COMPRESSION_FORMATS.find((f) => f.magics.some((m) => m.every((b, i) => head[i] === b)));
}
