import type { Transform } from 'node:stream';
import type { ByteSource } from './source.js';
import { COMPRESSOR_OUTPUT_CHUNK } from './zlib-pump.js';
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
   * co-process on exactly the member's bytes, which `member` finds from the framing alone
   * (headers and block sizes, leaving `src` anywhere), or, with `findsEnd`, on the rest of the
   * file, from which it takes only the member's; `decode` stays for when it is missing,
   * for a member that `member` leaves to it (undefined: the CLI reads more than the kernel
   * does), and for one whose framing `member` finds wrong (a FormatError), but a large one.
   */
  coprocess?: {
    argv: readonly string[];
    member: (src: ByteSource) => Promise<CoprocessMember | undefined>;
    /** `member` gives the command arguments of its own (xz's threads): it cannot start before. */
    memberArgs?: true;
    /**
     * Ours is the faster, with no command to start and no pipe, but holds about 4 MB more at
     * the peak (lz4, lzop: V8's optimizing tier for their WebAssembly; zstd: node:zlib's window), or no
     * real image says which is (lzma): the command decodes only for a walk that saves memory
     * (WalkOptions.saveMemory), or a member that `largeMember` finds would take a walk in
     * process past its memory.
     */
    onlyToSaveMemory?: true;
    /** Whether the member at `src.offset` holds more while it decodes than a walk in process may. */
    largeMember?: (src: ByteSource) => Promise<boolean>;
    /**
     * The command refuses what the kernel's decoder refuses, and no more (zstd's reference
     * decoder is the kernel's): for a large member, its refusal is the answer, where ours would
     * hold the window beside its own memory to name the byte.
     */
    refusesAsTheKernel?: true;
    /**
     * No framing gives the member's end: the command reads from its start to the file's end,
     * stops at the member's end and leaves its standard input there (xz's --single-stream),
     * where the walk reads it (`member` gives the file's end: as far as it may read).
     */
    findsEnd?: true;
  };
  /** How `create` writes a member of this format that the kernel reads: see docs/create.md. */
  compress: Compressor;
}

/** A member a co-process decodes: where it ends, and what its command takes for it alone. */
export interface CoprocessMember {
  end: number;
  /** Arguments after the format's `argv` (xz's threads). */
  args?: readonly string[];
}

/**
 * A compressor: a node:zlib stream in process, or the format's CLI reading stdin and writing
 * stdout, with the flags the kernel needs. `level` is the tool's -N (its default when absent),
 * one of `levels`.
 */
export type Compressor = { levels: readonly [number, number] } & (
  | { stream: (level: number | undefined) => Promise<Transform> }
  | { argv: (level: number | undefined) => string[]; debianPackage: string }
);

/**
 * What a walk of a member's block headers reads at a time: a header and more, the blocks
 * themselves seeked past (the image's 1 MiB window would read them all).
 */
const BLOCK_HEADER_WINDOW = 512;
/**
 * The largest zstd window decoded in process: that of dracut's level (-15) on an image. Unpack
 * of the real image recompressed at -19, an 8 MiB window, peaked at 62.8–63.2 MiB in process
 * (docs/performance.md).
 */
const ZSTD_WINDOW_IN_PROCESS = 4 << 20;
/**
 * The largest ring an lzma member is decoded with in process, as zstd's window: a list of
 * 90 MB through an 8 MiB dictionary (`xz -6`, xz's LZMA2) peaked at 67.9 MB in process
 * (bench/windows.sh).
 */
const LZMA_RING_IN_PROCESS = 4 << 20;
/** xz's .lzma of "probe" (a 64 KiB dictionary, no size), and the same with its last byte, the range coder's, not 0. */
const LZMA_PROBE = Buffer.from('5d00000100ffffffffffffffff00381c8a2195de53fe5ffffccdd000', 'hex');
const LZMA_PROBE_UNCLEAN = Buffer.concat([LZMA_PROBE.subarray(0, -1), Buffer.from([1])]);
const LZMA_COMMAND = ['xz', '-d', '-c', '-q', '--format=lzma', '--single-stream'];
const dashLevel = (level: number | undefined) => (level === undefined ? [] : [`-${level}`]);
const endingAt = (end: number | undefined): CoprocessMember | undefined => (end === undefined ? undefined : { end });

/**
 * What xz's decoder threads may hold together. Each holds a block: about 8 MiB for dracut's
 * 3 MiB blocks and 1 MiB dictionary, by GNU time by hand on the real image's member (2 threads
 * 19.6 MB, 4 threads 36.4 MB, 8 threads 65.6 MB), which `XzMember.threadMemory` estimates.
 */
const XZ_THREADS_MEMORY = 40 << 20;

/**
 * xz 5.4 decodes the blocks of a stream on several threads when their headers record their
 * sizes, as xz -T writes them (dracut's images have 3 MiB blocks): one thread a core, as many as
 * fit in XZ_THREADS_MEMORY. -T1 otherwise, also where xz (5.6 on) would choose several itself: a
 * header that claims a huge block would have it allocated. xz 5.2 takes -T and decodes on one.
 */
function xzThreads(threadMemory: number): number {
  if (threadMemory === 0) return 1;
  const cores = process.getBuiltinModule('node:os').availableParallelism();
  return Math.max(1, Math.min(cores, Math.floor(XZ_THREADS_MEMORY / threadMemory)));
}

// Each decoder's module loads when a member of its format comes: Node's start is part of
// every command, and most images use one format.
export const COMPRESSION_FORMATS: readonly CompressionFormat[] = [
  {
    name: 'gzip',
    magics: [[0x1f, 0x8b], [0x1f, 0x9e]],
    decode: async (src, sink, options) => (await import('./gzip.js')).decodeGzip(src, sink, options),
    native: ['zcat'],
    compress: {
      levels: [1, 9],
      // Node's gzip header has no name and mtime 0, as `gzip -n` writes it.
      stream: async (level) => (await import('node:zlib')).createGzip({ level, chunkSize: COMPRESSOR_OUTPUT_CHUNK }),
    },
  },
  {
    name: 'bzip2',
    magics: [[0x42, 0x5a]],
    decode: async (src, sink) => (await import('./bzip2.js')).decodeBzip2(src, sink),
    native: ['bzcat'],
    compress: { levels: [1, 9], argv: (level) => ['bzip2', '-c', ...dashLevel(level)], debianPackage: 'bzip2' },
    // lbzip2 decodes the blocks on every core, where bzip2 itself is no faster than ours. Each
    // of its threads holds a block and its tables: 4 at most keep it small on a big machine.
    coprocess: {
      get argv() {
        return ['lbzip2', '-d', '-c', '-n', String(Math.min(4, process.getBuiltinModule('node:os').availableParallelism()))];
      },
      member: async (src) => endingAt((await import('./bzip2.js')).bzip2MemberEnd(src)),
    },
  },
  {
    name: 'lzma',
    magics: [[0x5d, 0x00]],
    decode: async (src, sink) => (await import('./lzma.js')).decodeLzma(src, sink),
    native: ['xzcat'],
    compress: { levels: [0, 9], argv: (level) => ['xz', '--format=lzma', '-c', ...dashLevel(level)], debianPackage: 'xz-utils' },
    // Ours, but where its ring would take a walk past its memory (dracut's `lzma -9` has a
    // dictionary of 64 MiB, which xz then holds in its own process) or a walk saves memory.
    // Not in a UKI: xz reads on past the member's end, past the section's.
    coprocess: {
      argv: LZMA_COMMAND,
      member: async (src) => {
        const fits = !src.sections && (await import('./lzma.js')).lzmaCommandRing(src.withWindow(BLOCK_HEADER_WINDOW)) > 0;
        const command = fits && (await import('./coprocess.js')).findsMemberEnd(LZMA_COMMAND, LZMA_PROBE, LZMA_PROBE_UNCLEAN);
        return command ? { end: src.size } : undefined;
      },
      onlyToSaveMemory: true,
      largeMember: async (src) => (await import('./lzma.js')).lzmaCommandRing(src.withWindow(BLOCK_HEADER_WINDOW)) > LZMA_RING_IN_PROCESS,
      findsEnd: true,
    },
  },
  {
    name: 'xz',
    magics: [[0xfd, 0x37]],
    decode: async (src, sink) => (await import('./xz.js')).decodeXz(src, sink),
    native: ['xzcat'],
    compress: {
      levels: [0, 9],
      // The kernel's XZ Embedded checks CRC32 only (xz's default is CRC64), and allocates the
      // dictionary at boot: dracut's 1 MiB. The level is a preset of that filter (a -N after
      // --lzma2 would replace it). One thread: xz 5.6 defaults to several, whose output differs.
      argv: (level) => ['xz', '--check=crc32', `--lzma2=${level === undefined ? '' : `preset=${level},`}dict=1MiB`, '--threads=1', '-c'],
      debianPackage: 'xz-utils',
    },
    coprocess: {
      argv: ['xz', '-d', '-c', '-q'],
      member: async (src) => {
        const member = (await import('./xz.js')).xzMemberEnd(src);
        return member && { end: member.end, args: [`-T${xzThreads(member.threadMemory)}`] };
      },
      memberArgs: true,
    },
  },
  {
    name: 'lz4',
    magics: [[0x02, 0x21], [0x04, 0x22]],
    decode: async (src, sink) => (await import('./lz4.js')).decodeLz4(src, sink),
    native: ['lz4', '-d', '-c'],
    // -l: the legacy format, the only lz4 the kernel reads.
    compress: { levels: [1, 12], argv: (level) => ['lz4', '-l', '-c', ...dashLevel(level)], debianPackage: 'lz4' },
    // Our decoder keeps up with `lz4 -d`, and list, examine and unpack are faster in process than
    // with it and a pipe on the other core (docs/performance.md); diff and repack, which hold
    // more, stay within 64 MB with it.
    coprocess: {
      argv: ['lz4', '-d', '-c', '-q'],
      member: async (src) => endingAt((await import('./lz4.js')).lz4MemberEnd(src.withWindow(BLOCK_HEADER_WINDOW))),
      onlyToSaveMemory: true,
    },
  },
  {
    name: 'lzop',
    magics: [[0x89, 0x4c]],
    decode: async (src, sink) => (await import('./lzop.js')).decodeLzop(src, sink),
    native: ['lzop', '-d', '-c'],
    compress: { levels: [1, 9], argv: (level) => ['lzop', '-c', ...dashLevel(level)], debianPackage: 'lzop' },
    // Our decoder is faster than `lzop -d` (bench/decoders.sh), and `list` faster in process
    // than with it on the other core (docs/performance.md); a walk that holds more (diff,
    // repack, validate, the native engine's check) leaves the member to it, as lz4's.
    coprocess: {
      argv: ['lzop', '-d', '-c', '-q'],
      member: async (src) => endingAt((await import('./lzop.js')).lzopMemberEnd(src.withWindow(BLOCK_HEADER_WINDOW))),
      onlyToSaveMemory: true,
    },
  },
  {
    name: 'zstd',
    magics: [[0x28, 0xb5]],
    decode: async (src, sink, options) => (await import('./zstd.js')).decodeZstd(src, sink, options),
    native: ['zstd', '-d', '-c'],
    compress: {
      levels: [1, 22],
      // With the content checksum, as the zstd CLI that dracut runs writes it: the kernel checks it.
      stream: async (level) => {
        const { constants, createZstdCompress } = await import('node:zlib');
        return createZstdCompress({
          params: { [constants.ZSTD_c_checksumFlag]: 1, ...(level === undefined ? {} : { [constants.ZSTD_c_compressionLevel]: level }) },
          chunkSize: COMPRESSOR_OUTPUT_CHUNK,
        });
      },
    },
    // node:zlib's engine, driven in this thread, decodes about as fast as `zstd -d`, and list and
    // examine are faster in process than with it and a pipe on the other core, unpack as fast
    // (docs/performance.md); diff and repack, which hold more, stay within 64 MB with it, and
    // so does a frame whose window is over ZSTD_WINDOW_IN_PROCESS: a window is held by
    // whichever process decodes the frame, and ours holds about 55 MB beside it.
    coprocess: {
      argv: ['zstd', '-d', '-c', '-q'],
      member: async (src) => endingAt((await import('./zstd.js')).zstdMemberEnd(src.withWindow(BLOCK_HEADER_WINDOW))),
      onlyToSaveMemory: true,
      largeMember: async (src) => (await import('./zstd.js')).zstdWindowBytes(src.withWindow(BLOCK_HEADER_WINDOW)) > ZSTD_WINDOW_IN_PROCESS,
      refusesAsTheKernel: true,
    },
  },
];

export function detectCompression(head: Uint8Array): CompressionFormat | undefined {
  return COMPRESSION_FORMATS.find((f) => f.magics.some((m) => m.every((b, i) => head[i] === b)));
}
