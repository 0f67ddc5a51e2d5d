import type { ByteSource } from './source.js';
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
  /**
   * Where the format's own CLI decodes faster than `decode` (bench/decoders.sh), it runs as a
   * co-process on exactly the member's bytes, which `memberEnd` finds from the framing alone
   * (headers and block sizes, leaving `src` anywhere); `decode` stays for when it is missing,
   * and for a member that `memberEnd` leaves to it (undefined: the CLI reads more than the
   * kernel does).
   */
  coprocess?: { argv: readonly string[]; memberEnd: (src: ByteSource) => Promise<number | undefined> };
}

// Each decoder's module loads when a member of its format comes: Node's start is part of
// every command, and most images use one format.
export const COMPRESSION_FORMATS: readonly CompressionFormat[] = [
  {
    name: 'gzip',
    magics: [[0x1f, 0x8b], [0x1f, 0x9e]],
    decode: async (src, sink) => (await import('./gzip.js')).decodeGzip(src, sink),
    native: ['zcat'],
  },
  {
    name: 'bzip2',
    magics: [[0x42, 0x5a]],
    decode: async (src, sink) => (await import('./bzip2.js')).decodeBzip2(src, sink),
    native: ['bzcat'],
  },
  {
    name: 'lzma',
    magics: [[0x5d, 0x00]],
    decode: async (src, sink) => (await import('./lzma.js')).decodeLzma(src, sink),
    native: ['xzcat'],
  },
  {
    name: 'xz',
    magics: [[0xfd, 0x37]],
    decode: async (src, sink) => (await import('./xz.js')).decodeXz(src, sink),
    native: ['xzcat'],
    coprocess: {
      argv: ['xz', '-d', '-c', '-q'],
      memberEnd: async (src) => (await import('./xz.js')).xzMemberEnd(src),
    },
  },
  {
    name: 'lz4',
    magics: [[0x02, 0x21], [0x04, 0x22]],
    decode: async (src, sink) => (await import('./lz4.js')).decodeLz4(src, sink),
    native: ['lz4', '-d', '-c'],
    coprocess: {
      argv: ['lz4', '-d', '-c', '-q'],
      memberEnd: async (src) => (await import('./lz4.js')).lz4MemberEnd(src),
    },
  },
  {
    name: 'lzop',
    magics: [[0x89, 0x4c]],
    decode: async (src, sink) => (await import('./lzop.js')).decodeLzop(src, sink),
    native: ['lzop', '-d', '-c'],
    coprocess: {
      argv: ['lzop', '-d', '-c', '-q'],
      memberEnd: async (src) => (await import('./lzop.js')).lzopMemberEnd(src),
    },
  },
  {
    name: 'zstd',
    magics: [[0x28, 0xb5]],
    decode: async (src, sink) => (await import('./zstd.js')).decodeZstd(src, sink),
    native: ['zstd', '-d', '-c'],
    coprocess: {
      argv: ['zstd', '-d', '-c', '-q'],
      memberEnd: async (src) => (await import('./zstd.js')).zstdMemberEnd(src),
    },
  },
];

export function detectCompression(head: Uint8Array): CompressionFormat | undefined {
  return COMPRESSION_FORMATS.find((f) => f.magics.some((m) => m.every((b, i) => head[i] === b)));
}
