import { FormatError } from '../errors.js';
import { hex, readLE32 } from './bytes.js';
import type { ByteSource } from './source.js';
import { eventLoopTurn } from './turn.js';
import type { Decoder, Sink } from './types.js';
import { type AreaExports, IdleInstances, WasmAreas, lazyModule } from './wasm/instance.js';
import { LZMA_WASM } from './wasm/lzma-wasm.js';

/*
 * The legacy `.lzma` ("LZMA_Alone") format, which the kernel accepts for initramfs members: a
 * 13-byte header (properties byte, 32-bit dictionary size, 64-bit uncompressed size or all
 * ones for "unknown"), read here, then one LZMA range-coded stream, decoded by the WebAssembly
 * that src/decode/wasm/build.sh makes of lzma.c, a part of the input at a time.
 */

/** A larger dictionary is refused so that memory stays bounded (xz -9 uses 64 MiB). */
const MAX_DICT = 128 << 20;
const MIN_DICT = 4096;
/** The ring holds at least this much, lzma.c's chunk: small dictionaries still give big sink calls. */
const CHUNK = 1 << 20;
/** What the decoder is given of the input at a time, besides what the last part left. */
const INPUT_PART = 64 << 10;
/** lzma.c's MARGIN: zero bytes after the input's end, which the last symbol must not read. */
const MARGIN = 64;

interface LzmaExports extends AreaExports {
  lzma_start(lc: number, lp: number, pb: number, dictLimit: number, dict: number, ringSize: number, known: number): void;
  lzma_run(input: number, avail: number, eof: number): number;
  lzma_consumed(): number;
  lzma_out_from(): number;
  lzma_out_to(): number;
  lzma_detail_a(): number;
  lzma_detail_b(): number;
}

/** lzma_run's result when it stops without an error. */
const enum Status {
  End = 0,
  NeedsInput = 1,
  Flush = 2,
}

export const decodeLzma: Decoder = async (src, sink) => {
  const start = src.offset;
  const h = src.read(13, 'lzma header');
  let props = h[0];
  if (props >= 9 * 5 * 5) {
    throw new FormatError(`not an lzma stream: properties byte 0x${hex(props)} is out of range`, start);
  }
  const lc = props % 9;
  props = (props / 9) | 0;
  const lp = props % 5;
  const pb = (props / 5) | 0;
  const dictSize = readLE32(h, 1);
  if (dictSize > MAX_DICT) {
    throw new FormatError(
      `lzma dictionary of ${dictSize} bytes is larger than the supported ${MAX_DICT} bytes`,
      start + 1,
    );
  }
  const sizeLo = readLE32(h, 5);
  const sizeHi = readLE32(h, 9);
  let known = -1;
  if (sizeLo !== 0xffffffff || sizeHi !== 0xffffffff) {
    if (sizeHi > 0x1fffff) {
      throw new FormatError(`implausible lzma uncompressed size (high word 0x${hex(sizeHi)})`, start + 5);
    }
    known = sizeHi * 0x100000000 + sizeLo;
  }
  // The ring: the dictionary, and at least a chunk so that small dictionaries still give big
  // sink calls; no more than the whole output when its size is known. A multiple of 16 so that
  // ring positions give the same posState and literal position bits as totals.
  const dictLimitIn = Math.max(dictSize, MIN_DICT);
  let ringSize = Math.max(dictLimitIn, CHUNK);
  if (known >= 0 && known < ringSize) ringSize = Math.max(known, MIN_DICT);
  ringSize = (ringSize + 15) & ~15;
  // Distances must be below this (and below the number of bytes decoded).
  const dictLimit = Math.min(dictLimitIn, ringSize);
  await idle.with(INPUT_PART + MARGIN, ringSize, (lzma) => lzma.decode(src, sink, { lc, lp, pb }, dictLimit, known));
};

/** By lzma.c's error kind, with the two values it reports. */
const MESSAGES: readonly ((a: number, b: number) => string)[] = [
  () => 'truncated lzma stream',
  (byte) => `first range coder byte is 0x${hex(byte)}, not 0`,
  () => 'range coder starts out of range',
  () => 'data continues after the declared uncompressed size',
  () => 'repeated match before any data',
  () => 'end marker before the declared uncompressed size',
  (dist, limit) => `match distance ${dist + 1} is beyond the ${limit} bytes of the dictionary`,
  () => 'match goes past the declared uncompressed size',
  () => 'range coder did not finish cleanly',
];
const E_TRUNCATED = 0;

const wasmModule = lazyModule(LZMA_WASM);

class LzmaDecoder extends WasmAreas<LzmaExports> {
  constructor() {
    super(wasmModule());
  }

  /**
   * Decodes the range-coded stream at `src.offset` into a ring of `ringSize` bytes (the output
   * area), pushing each chunk to `sink`, and leaves `src` just after the stream.
   */
  async decode(src: ByteSource, sink: Sink, props: { lc: number; lp: number; pb: number }, dictLimit: number, known: number): Promise<void> {
    const wasm = this.wasm;
    const input = this.input;
    const part = input.length - MARGIN;
    const pushReady = () => {
      const from = wasm.lzma_out_from();
      const to = wasm.lzma_out_to();
      if (to > from) sink(this.output.subarray(from, to));
    };
    wasm.lzma_start(props.lc, props.lp, props.pb, dictLimit, this.output.byteOffset, this.output.length, known);
    for (;;) {
      // The part starts at src.offset: what the last run left is given again, and more.
      const view = src.peek(part);
      const avail = Math.min(view.length, part);
      const eof = view.length < part;
      input.set(view.subarray(0, avail));
      if (eof) input.fill(0, avail, avail + MARGIN);
      const status = wasm.lzma_run(input.byteOffset, avail, eof ? 1 : 0);
      if (status < 0) {
        const kind = -1 - status;
        const at = wasm.lzma_consumed();
        if (kind === E_TRUNCATED || (eof && at > avail)) throw new FormatError(MESSAGES[E_TRUNCATED](0, 0), src.offset + avail);
        throw new FormatError(`corrupt lzma data: ${MESSAGES[kind](wasm.lzma_detail_a() >>> 0, wasm.lzma_detail_b() >>> 0)}`, src.offset + at);
      }
      src.skip(wasm.lzma_consumed());
      if (status === Status.End) {
        pushReady();
        return;
      }
      if (status === Status.Flush) pushReady();
      await eventLoopTurn();
    }
  }
}

const idle = new IdleInstances(() => new LzmaDecoder());
