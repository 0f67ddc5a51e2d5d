import { FormatError } from '../errors.js';
import { type AreaExports, IdleInstances, WasmAreas, lazyModule } from './wasm/instance.js';
import { LZ4_BLOCK_WASM } from './wasm/lz4-block-wasm.js';

/*
 * LZ4 blocks and xxHash32, by the WebAssembly that src/decode/wasm/build.sh makes of
 * lz4-block.c.
 */

interface Lz4BlockExports extends AreaExports {
  lz4_start(limit: number): void;
  lz4_block(src: number, avail: number, rest: number, dst: number, op: number, oend: number, wstart: number): number;
  lz4_status(): number;
  lz4_consumed(): number;
  lz4_detail(): number;
  xxh32(p: number, n: number): number;
  content_hash_start(): void;
  content_hash_add(p: number, n: number): void;
  content_hash_end(): number;
}

/** By lz4-block.c's error kind; `value` is the length or offset it reports. */
const MESSAGES: readonly ((value: number) => string)[] = [
  () => 'truncated LZ4 block: sequence expected',
  () => 'truncated LZ4 block: literal length',
  (lit) => `LZ4 literals (${lit} bytes) run past the end of the block`,
  () => 'LZ4 literals run past the end of the output block',
  () => 'truncated LZ4 block: match offset',
  () => 'LZ4 match offset 0',
  (off) => `LZ4 match offset ${off} reaches before the start of the output`,
  () => 'truncated LZ4 block: match length',
  () => 'LZ4 match runs past the end of the output block',
];

const wasmModule = lazyModule(LZ4_BLOCK_WASM);

/** lz4-block.c's lz4_status. */
const enum Status {
  RoomFull = 0,
  Done = 1,
  NeedsInput = 2,
}

/**
 * A block decoder: an instance of the module, whose input area holds a compressed block or the
 * part of one read so far, and whose output area the history that a block may refer back to
 * and the output not yet pushed. One stream uses it at a time (see withLz4Blocks).
 */
export class Lz4BlockDecoder extends WasmAreas<Lz4BlockExports> {
  /**
   * The block `start` began: its size and file offset; where `input[0]` is in it; and
   * `input[from, filled)`, its bytes read and not yet decoded.
   */
  private block = { size: 0, at: 0, base: 0, from: 0, filled: 0 };

  constructor() {
    super(wasmModule());
  }

  /**
   * Starts decoding the block of `size` bytes at file offset `at`, which may decode to at most
   * `limit` bytes: more is a FormatError. `input[0, given)` holds its first bytes: all of them,
   * or `refill` reads more when the decoder `needsInput`.
   */
  start(size: number, limit: number, at: number, given = size): void {
    this.block = { size, at, base: 0, from: 0, filled: given };
    this.wasm.lz4_start(limit);
  }

  /**
   * Keeps the bytes read and not yet decoded at the start of `input` and fills the rest of it,
   * as far as the block goes, by `read`.
   */
  refill(read: (target: Uint8Array) => void): void {
    const block = this.block;
    const kept = block.filled - block.from;
    this.input.copyWithin(0, block.from, block.filled);
    block.base += block.from;
    block.from = 0;
    const n = Math.min(this.input.length - kept, block.size - block.base - kept);
    read(this.input.subarray(kept, kept + n));
    block.filled = kept + n;
  }

  /**
   * Decodes the block into `output` from `op` until it ends (`done`), the output reaches
   * `oend`, or it has decoded all the input read so far (`needsInput`), referring back no
   * further than `wstart`. Returns the new end of output; bytes between it and `oend` may have
   * been scribbled on. Between two calls the output may move, keeping the 64 KiB before the end
   * that a match may reach back to.
   */
  run(op: number, oend: number, wstart: number): number {
    const block = this.block;
    const rest = block.size - block.base - block.from;
    const result = this.wasm.lz4_block(this.input.byteOffset + block.from, block.filled - block.from, rest, this.output.byteOffset, op, oend, wstart);
    if (result < 0) {
      const code = -1 - result;
      throw new FormatError(MESSAGES[code & 15](this.wasm.lz4_detail()), block.at + block.base + block.from + (code >>> 4));
    }
    block.from += this.wasm.lz4_consumed();
    return result;
  }

  /** Whether the block has decoded to its end. */
  get done(): boolean {
    return this.wasm.lz4_status() === Status.Done;
  }

  /** Whether the block goes on past the input read so far, all of it decoded: see `refill`. */
  get needsInput(): boolean {
    return this.wasm.lz4_status() === Status.NeedsInput;
  }

  /** The xxHash32 of `area[start, end)`; `area` is `input` or `output`. */
  checksum(area: Uint8Array, start: number, end: number): number {
    return this.wasm.xxh32(area.byteOffset + start, end - start) >>> 0;
  }

  /** Starts the running xxHash32 of a frame's content, which `addToContentHash` feeds. */
  startContentHash(): void {
    this.wasm.content_hash_start();
  }

  /** Adds `output[start, end)` to the content hash. */
  addToContentHash(start: number, end: number): void {
    this.wasm.content_hash_add(this.output.byteOffset + start, end - start);
  }

  contentHash(): number {
    return this.wasm.content_hash_end() >>> 0;
  }
}

const idle = new IdleInstances(() => new Lz4BlockDecoder());

/** Runs `use` with a decoder of its own, laid out as asked, for one stream. */
export function withLz4Blocks<T>(inputSize: number, outputSize: number, use: (blocks: Lz4BlockDecoder) => Promise<T>): Promise<T> {
  return idle.with(inputSize, outputSize, use);
}

/** The xxHash32 of a few bytes outside any stream's decoder: a frame descriptor's. */
export function xxh32(bytes: Uint8Array): number {
  const blocks = idle.borrow(bytes.length, 0);
  try {
    blocks.input.set(bytes);
    return blocks.checksum(blocks.input, 0, bytes.length);
  } finally {
    idle.giveBack(blocks);
  }
}
