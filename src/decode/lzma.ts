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
 * that src/decode/wasm/build.sh makes of lzma.c, a part of the input at a time. The same
 * WebAssembly decodes an xz block's LZMA2 data for xz.ts.
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
/**
 * Where a BCJ filter (bcj.h) works, after the input area: a chunk of the ring at most, after
 * what the last left (less than an IA-64 bundle).
 */
const FILTER_AREA = CHUNK + 16;

type Run = (input: number, avail: number, eof: number) => number;

interface LzmaExports extends AreaExports {
  lzma_start(lc: number, lp: number, pb: number, dictLimit: number, dict: number, ringSize: number, known: number): void;
  lzma_run: Run;
  lzma2_start(dictLimit: number, dict: number, ringSize: number): void;
  lzma2_run: Run;
  crc64_reset(): void;
  crc64_update(at: number, length: number): void;
  crc64_low(): number;
  crc64_high(): number;
  bcj_start(filter: number, startPos: number): void;
  bcj_run(at: number, size: number, atEnd: number): number;
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
  const { lc, lp, pb, dictSize, known } = readHeader(src);
  const [dictLimit, ringSize] = ring(dictSize, known);
  await idle.with(INPUT_PART + MARGIN, ringSize, (lzma) => lzma.start({ lc, lp, pb, known }, dictLimit, 0).decode(src, sink, false, Infinity));
};

/**
 * How many bytes ours holds to decode the lzma member at `src.offset` where `xz -d
 * --format=lzma --single-stream` reads it as the kernel does and stops where it stops; 0 where
 * it may not: a size given (after it, xz reads an end marker the kernel leaves; dracut
 * compresses from a pipe, with none), lc + lp over 4 (liblzma's limit, not the kernel's), a
 * dictionary size other than 2^n and 2^n + 2^(n-1) (which xz 5.4 takes for another format), or
 * a header ours refuses. Reads the header: give a reader of its own.
 */
export function lzmaCommandRing(src: ByteSource): number {
  try {
    const { lc, lp, dictSize, known } = readHeader(src);
    const log = 31 - Math.clz32(dictSize);
    const sized = dictSize === 2 ** log || dictSize === 2 ** log + 2 ** (log - 1);
    return known < 0 && lc + lp <= 4 && sized ? ring(dictSize, known)[1] : 0;
  } catch (err) {
    if (err instanceof FormatError) return 0;
    throw err;
  }
}

/** Consumes the 13-byte header of the lzma member at `src.offset`. */
function readHeader(src: ByteSource): { lc: number; lp: number; pb: number; dictSize: number; known: number } {
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
  return { lc, lp, pb, dictSize, known };
}

/**
 * Decodes the LZMA2 data of an xz block at `src.offset`, whose distances are below `dictSize`,
 * into `sink`, and leaves `src` just after it. `size`: the block's uncompressed size where its
 * header gives it (-1 otherwise), to size the ring; `compressed`: the size of the LZMA2 data
 * where the header gives it (-1 otherwise): the data may not go past it. `bcj`: the xz ID of the
 * BCJ filter before LZMA2 in the block's chain, 0 if none. With `crc64`, returns the output's
 * CRC64 as [low, high] 32-bit halves.
 */
export async function decodeLzma2(
  src: ByteSource, sink: Sink, dictSize: number, size: number, compressed: number, bcj: number, crc64: boolean,
): Promise<[number, number] | undefined> {
  const [dictLimit, ringSize] = ring(dictSize, size);
  const inputSize = INPUT_PART + MARGIN + (bcj ? FILTER_AREA : 0);
  const end = compressed < 0 ? Infinity : src.offset + compressed;
  return await idle.with(inputSize, ringSize, (lzma) => lzma.start('lzma2', dictLimit, bcj).decode(src, sink, crc64, end));
}

/**
 * The ring, and the limit of distances in it: the dictionary, and at least a chunk so that small
 * dictionaries still give big sink calls; no more than the whole output when its size is known
 * (-1 when not). A multiple of 16 so that ring positions give the same posState and literal
 * position bits as totals.
 */
function ring(dictSize: number, known: number): [number, number] {
  const dict = Math.max(dictSize, MIN_DICT);
  let ringSize = Math.max(dict, CHUNK);
  if (known >= 0 && known < ringSize) ringSize = Math.max(known, MIN_DICT);
  ringSize = (ringSize + 15) & ~15;
  return [Math.min(dict, ringSize), ringSize];
}

/** By lzma.c's error kind, with the two values it reports. */
const MESSAGES: readonly ((a: number, b: number) => string)[] = [
  () => 'truncated',
  (byte) => `first range coder byte is 0x${hex(byte)}, not 0`,
  () => 'range coder starts out of range',
  () => 'data continues after the declared uncompressed size',
  () => 'repeated match before any data',
  () => 'end marker before the declared uncompressed size',
  (dist, limit) => `match distance ${dist + 1} is beyond the ${limit} bytes of the dictionary`,
  () => 'match goes past the declared uncompressed size',
  () => 'range coder did not finish cleanly',
  (control) => `LZMA2 control byte 0x${hex(control, 2)} is invalid`,
  () => 'the first LZMA2 chunk does not reset the dictionary',
  () => 'LZMA2 chunk without properties after a dictionary reset',
  (props) => `LZMA2 properties byte 0x${hex(props, 2)} is invalid (lc + lp must be at most 4)`,
  () => "an LZMA2 chunk's range-coded data runs past its compressed size",
  () => "an LZMA2 chunk's range-coded data ends before its compressed size",
];
const E_TRUNCATED = 0;

const wasmModule = lazyModule(LZMA_WASM);

class LzmaDecoder extends WasmAreas<LzmaExports> {
  constructor() {
    super(wasmModule());
  }

  private run: Run = () => 0;
  private format = '';
  private bcj = 0;

  /** Starts a .lzma stream of these properties, or an xz block's LZMA2 data and BCJ filter. */
  start(stream: { lc: number; lp: number; pb: number; known: number } | 'lzma2', dictLimit: number, bcj: number): this {
    const { wasm, output } = this;
    this.bcj = bcj;
    if (bcj) wasm.bcj_start(bcj, 0);
    if (stream === 'lzma2') {
      wasm.lzma2_start(dictLimit, output.byteOffset, output.length);
      [this.run, this.format] = [wasm.lzma2_run, 'xz'];
    } else {
      wasm.lzma_start(stream.lc, stream.lp, stream.pb, dictLimit, output.byteOffset, output.length, stream.known);
      [this.run, this.format] = [wasm.lzma_run, 'lzma'];
    }
    return this;
  }

  /**
   * Decodes the stream started at `src.offset`, pushing each chunk of the ring (the output
   * area) to `sink`, and leaves `src` just after the stream; with `crc64`, returns the output's
   * CRC64. The stream is read as if the file ended at `end`, where a header says it ends.
   */
  async decode(src: ByteSource, sink: Sink, crc64: boolean, end: number): Promise<[number, number] | undefined> {
    const { wasm, run, format, bcj, input } = this;
    const part = INPUT_PART;
    if (crc64) wasm.crc64_reset();
    const push = async (out: Uint8Array): Promise<void> => {
      if (out.length === 0) return;
      if (crc64) wasm.crc64_update(out.byteOffset, out.length);
      await sink(out);
    };
    // The BCJ filter changes a copy: the ring is the dictionary. It keeps back the end of an
    // instruction that may go on in the next chunk.
    const filtered = input.subarray(INPUT_PART + MARGIN);
    let kept = 0;
    const pushReady = async (atEnd: boolean): Promise<void> => {
      const ready = this.output.subarray(wasm.lzma_out_from(), wasm.lzma_out_to());
      if (!bcj) return await push(ready);
      filtered.set(ready, kept);
      const size = kept + ready.length;
      const done = wasm.bcj_run(filtered.byteOffset, size, atEnd ? 1 : 0);
      await push(filtered.subarray(0, done));
      filtered.copyWithin(0, done, size);
      kept = size - done;
    };
    for (;;) {
      // The part starts at src.offset: what the last run left is given again, and more.
      const view = src.peek(part);
      const room = end - src.offset;
      const avail = Math.min(view.length, part, room);
      const eof = view.length < part || room <= part;
      input.set(view.subarray(0, avail));
      if (eof) input.fill(0, avail, avail + MARGIN);
      const status = run(input.byteOffset, avail, eof ? 1 : 0);
      if (status < 0) {
        // What the bytes before the error decoded to goes on first, as xz's own command gives it.
        await pushReady(false);
        const kind = -1 - status;
        const at = wasm.lzma_consumed();
        if (kind === E_TRUNCATED || (eof && at > avail)) {
          const cut = avail === room;
          throw new FormatError(cut ? `${format} data goes past the compressed size its header gives` : `truncated ${format} stream`, src.offset + avail);
        }
        throw new FormatError(`corrupt ${format} data: ${MESSAGES[kind](wasm.lzma_detail_a() >>> 0, wasm.lzma_detail_b() >>> 0)}`, src.offset + at);
      }
      src.skip(wasm.lzma_consumed());
      if (status === Status.End) {
        await pushReady(true);
        return crc64 ? [wasm.crc64_low() >>> 0, wasm.crc64_high() >>> 0] : undefined;
      }
      if (status === Status.Flush) await pushReady(false);
      await eventLoopTurn();
    }
  }
}

const idle = new IdleInstances(() => new LzmaDecoder());
