import { FormatError } from '../errors.js';
import { hex } from './bytes.js';
import type { ByteSource } from './source.js';
import { eventLoopTurn } from './turn.js';
import type { Decoder, Sink } from './types.js';
import { BZIP2_WASM } from './wasm/bzip2-wasm.js';
import { type AreaExports, IdleInstances, WasmAreas, lazyModule } from './wasm/instance.js';

/*
 * bzip2 streams, by the WebAssembly that src/decode/wasm/build.sh makes of bzip2.c (the format
 * is described there), fed a part of the input at a time; and where a stream ends, found from
 * its bits alone, for a co-process.
 */

/**
 * Output is pushed to the sink in chunks of this size. Every page of the output area stays in
 * the peak RSS, and bzip2's is the highest of all formats (its 3.6 MB block and WebAssembly's
 * optimizing tier): 1 MiB cost 0.5-1.1 MB more than this, in no less time (bench/fallbacks.sh).
 */
const CHUNK = 256 << 10;
/** What the decoder is given of the input at a time. */
const INPUT_PART = 64 << 10;

const BLOCK_MAGIC_HI = 0x314159;
const BLOCK_MAGIC_LO = 0x265359;
const EOS_MAGIC_HI = 0x177245;
const EOS_MAGIC_LO = 0x385090;

interface Bzip2Exports extends AreaExports {
  bz_start(out: number, cap: number): void;
  bz_feed(input: number, n: number): void;
  bz_run(): number;
  bz_output_length(): number;
  bz_consumed(): number;
  bz_error_at(): number;
  bz_detail_a(): number;
  bz_detail_b(): number;
  bz_block_no(): number;
}

/** bz_run's result when it stops without an error. */
const enum Status {
  End = 0,
  NeedsInput = 1,
  OutputFull = 2,
  BlockDone = 3,
}

/** By bzip2.c's error kind, with the two values it reports; from the sixth on, a block's. */
const MESSAGES: readonly ((a: number, b: number, block: number) => string)[] = [
  () => 'not a bzip2 stream (no "BZh" magic)',
  (level) => `not a bzip2 stream: block size byte 0x${hex(level)} is not '1'..'9'`,
  (stored, computed, block) => `bzip2 block ${block}: CRC mismatch: stored ${hex(stored, 8)}, computed ${hex(computed, 8)}`,
  (stored, computed) => `bzip2 stream CRC mismatch: stored ${hex(stored, 8)}, computed ${hex(computed, 8)}`,
  (_, __, block) => `corrupt bzip2 data: no block or end-of-stream magic after block ${block}`,
  () => 'randomised block (obsolete bzip2 0.9.0 format) is not supported',
  (origPtr, blockMax) => `origPtr ${origPtr} is beyond the block size ${blockMax}`,
  () => 'no byte values in use',
  (groups) => `${groups} Huffman groups (must be 2..6)`,
  () => 'no selectors',
  () => 'selector out of range',
  (len) => `Huffman code length ${len} out of range`,
  () => 'Huffman code lengths are oversubscribed',
  (origPtr, n) => `origPtr ${origPtr} is beyond the block's ${n} bytes`,
  () => 'invalid Huffman code',
  () => 'more bytes than the block size',
  () => 'more symbols than selectors',
  () => 'run longer than the block',
];
const FIRST_BLOCK_ERROR = 5;

const wasmModule = lazyModule(BZIP2_WASM);

class Bzip2Decoder extends WasmAreas<Bzip2Exports> {
  constructor() {
    super(wasmModule());
  }

  /** Decodes the stream at `src.offset` to `sink`, leaving `src` at the byte after its end. */
  async decode(src: ByteSource, sink: Sink): Promise<void> {
    const wasm = this.wasm;
    const start = src.offset;
    wasm.bz_start(this.output.byteOffset, this.output.length);
    let fed = 0;
    for (;;) {
      const status = wasm.bz_run();
      if (status === Status.NeedsInput) {
        src.skip(fed);
        const view = src.peek();
        if (view.length === 0) throw new FormatError('truncated bzip2 stream', src.offset);
        fed = Math.min(view.length, this.input.length);
        this.input.set(view.subarray(0, fed));
        wasm.bz_feed(this.input.byteOffset, fed);
      } else if (status === Status.OutputFull) {
        await sink(this.output);
        await eventLoopTurn();
      } else if (status === Status.BlockDone) {
        await eventLoopTurn();
      } else if (status === Status.End) {
        const length = wasm.bz_output_length();
        if (length > 0) await sink(this.output.subarray(0, length));
        src.seek(start + wasm.bz_consumed());
        return;
      } else {
        const kind = -1 - status;
        const block = wasm.bz_block_no();
        const message = MESSAGES[kind](wasm.bz_detail_a() >>> 0, wasm.bz_detail_b() >>> 0, block);
        throw new FormatError(kind >= FIRST_BLOCK_ERROR ? `bzip2 block ${block}: ${message}` : message, start + wasm.bz_error_at());
      }
    }
  }
}

const idle = new IdleInstances(() => new Bzip2Decoder());

export const decodeBzip2: Decoder = (src, sink) => idle.with(INPUT_PART, CHUNK, (bz) => bz.decode(src, sink));

/** How much of a member `bzip2MemberEnd` reads at a time, by default. */
const SCAN_WINDOW = 1 << 20;

/** A 48-bit magic as it lies in 7 bytes when it starts `shift` bits into the first. */
interface ShiftedMagic {
  shift: number;
  /** The bytes the magic fills whole: the first six unshifted, else the second to the sixth. */
  needle: Buffer;
  /** The first and last bytes, of which the magic holds the low 8 - shift and the high shift bits. */
  first: number;
  last: number;
}

function shiftedMagics(hi: number, lo: number): ShiftedMagic[] {
  const magic = (BigInt(hi) << 24n) | BigInt(lo);
  return Array.from({ length: 8 }, (_, shift) => {
    const placed = magic << BigInt(8 - shift);
    const bytes = Array.from({ length: 7 }, (_, k) => Number((placed >> BigInt(8 * (6 - k))) & 0xffn));
    return { shift, needle: Buffer.from(shift === 0 ? bytes.slice(0, 6) : bytes.slice(1, 6)), first: bytes[0], last: bytes[6] };
  });
}

const BLOCK_MAGICS = shiftedMagics(BLOCK_MAGIC_HI, BLOCK_MAGIC_LO);
const EOS_MAGICS = shiftedMagics(EOS_MAGIC_HI, EOS_MAGIC_LO);

/**
 * The bit offsets within `view` where `magic` starts at bits [0, 8 * within): a match found by
 * its whole bytes, then checked in its partial ones (which must lie in `view`).
 */
function* magicBits(view: Buffer, within: number, magic: ShiftedMagic): Generator<number> {
  const lead = magic.shift === 0 ? 0 : 1;
  const low = 0xff >> magic.shift;
  const high = ~low & 0xff;
  for (let j = view.indexOf(magic.needle, lead); j >= 0; j = view.indexOf(magic.needle, j + 1)) {
    const i = j - lead;
    if (i >= within) return;
    if (magic.shift !== 0 && (i + 6 >= view.length || (view[i] & low) !== (magic.first & low) || (view[i + 6] & high) !== (magic.last & high))) continue;
    yield i * 8 + magic.shift;
  }
}

/**
 * Where the bzip2 stream at `src.offset` ends, for a co-process: after the first end-of-stream
 * magic (found by its bits, as the blocks are bit-aligned and record no sizes), its CRC and
 * the padding to a byte. Undefined leaves the member to our decoder: no such magic (it finds
 * the error), or a block magic before it with the randomised bit set (lbzip2 reads those; the
 * kernel does not). A magic that turns up inside compressed data only cuts the member short
 * or sends it to us: the co-process then fails and our decoder reads it, or ours reads it first.
 */
export function bzip2MemberEnd(src: ByteSource, window = SCAN_WINDOW): number | undefined {
  const start = src.offset;
  const head = src.peek(4);
  if (head.length < 4 || head[0] !== 0x42 || head[1] !== 0x5a || head[2] !== 0x68 || head[3] < 0x31 || head[3] > 0x39) return undefined;
  let eos = Infinity;
  // Each read takes the 6 bytes after the window too: a magic that starts in it is whole.
  const reader = src.withWindow(window + 6);
  try {
    for (let at = start + 4; at < src.size && eos === Infinity; at += window) {
      reader.seek(at);
      const read = reader.peek(window + 6);
      const view = Buffer.from(read.buffer, read.byteOffset, read.length);
      const within = Math.min(window, view.length);
      for (const magic of EOS_MAGICS) {
        const first = magicBits(view, within, magic).next();
        if (!first.done) eos = Math.min(eos, at * 8 + first.value);
      }
      // Checked as found, before the end-of-stream magic only: nothing is kept per block.
      for (const magic of BLOCK_MAGICS) {
        for (const bit of magicBits(view, within, magic)) {
          if (at * 8 + bit >= eos) break;
          // The randomised bit follows the block's magic and CRC.
          const flag = bit + 48 + 32;
          const byte = flag >> 3 < view.length ? view[flag >> 3] : src.readAt(at + (flag >> 3), 1)[0];
          if ((byte >> (7 - (flag & 7))) & 1) return undefined;
        }
      }
    }
    if (eos === Infinity) return undefined;
    const end = Math.ceil((eos + 48 + 32) / 8);
    return end <= src.size ? end : undefined;
  } finally {
    reader.release();
  }
}
