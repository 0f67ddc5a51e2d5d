import { FormatError } from '../errors.js';
import { type AreaExports, IdleInstances, WasmAreas, lazyModule } from './wasm/instance.js';
import { LZO1X_WASM } from './wasm/lzo1x-wasm.js';

/*
 * LZO1X blocks (the format written by LZO1X-1, LZO1X-1(15) and LZO1X-999) and Adler-32, by the
 * WebAssembly that src/decode/wasm/build.sh makes of lzo1x.c, written from the LZO1X bitstream:
 *
 * Instructions (S = number of literals, 0..3, copied right after a match; "state" is the number
 * of literals the previous instruction copied, 4 meaning four or more):
 *   0000LLLL, state 0      literal run of 3 + (L or 15 + extension) bytes          -> state 4
 *   0000DDSS, state 1..3   match len 2, dist (H << 2) + D + 1, then byte H
 *   0000DDSS, state 4      match len 3, dist (H << 2) + D + 2049, then byte H
 *   0001HLLL               match len 2 + (L or 7 + ext), dist 16384 + (H << 14) + (LE16 >> 2);
 *                          dist 16384 is the end of the stream
 *   001LLLLL               match len 2 + (L or 31 + ext), dist (LE16 >> 2) + 1
 *   01LDDDSS               match len 3 + L, dist (H << 3) + D + 1, then byte H
 *   1LLDDDSS               match len 5 + L, dist (H << 3) + D + 1, then byte H
 * For the LE16 forms S is the low two bits of the first distance byte. An extension is a run
 * of zero bytes (255 each) ended by a non-zero byte (its value). A first byte above 17 is a
 * literal run of (byte - 17) bytes.
 */

interface Lzo1xExports extends AreaExports {
  lzo1x_block(src: number, n: number, dst: number, dstLen: number): number;
  lzo1x_detail(): number;
  adler32(adler: number, p: number, n: number): number;
}

/** By lzo1x.c's error kind; `value` is the count or distance it reports. */
const MESSAGES: readonly ((value: number, dstLen: number) => string)[] = [
  () => 'empty LZO1X stream',
  () => 'LZO1X literals run past the end of the input',
  () => 'LZO1X literals run past the end of the output',
  () => 'LZO1X stream ends without its end marker',
  () => 'truncated LZO1X instruction',
  () => 'truncated LZO1X match length',
  () => 'truncated LZO1X match distance',
  () => 'truncated LZO1X literal length',
  (left) => `LZO1X end marker followed by ${left} more input bytes`,
  (op, dstLen) => `LZO1X stream decodes to ${op} bytes, expected ${dstLen}`,
  (dist) => `LZO1X match distance ${dist} reaches before the start of the output`,
  () => 'LZO1X match runs past the end of the output',
];

const wasmModule = lazyModule(LZO1X_WASM);

/**
 * A block decoder: an instance of the module, whose input area holds one compressed block and
 * whose output area what it decodes to. One stream uses it at a time (see withLzo1x).
 */
export class Lzo1xDecoder extends WasmAreas<Lzo1xExports> {
  constructor() {
    super(wasmModule());
  }

  /**
   * Decodes the LZO1X stream in `input[0, size)`, at file offset `at`, into `output[0, dstLen)`,
   * which it must fill exactly, its end marker being the last bytes of the input. Throws a
   * FormatError, at the file offset, on any overrun or bad distance.
   */
  decode(size: number, dstLen: number, at: number): void {
    if (size > this.input.length || dstLen > this.output.length) throw new Error('Lzo1xDecoder.decode: the areas are smaller than the block');
    const result = this.wasm.lzo1x_block(this.input.byteOffset, size, this.output.byteOffset, dstLen);
    if (result >= 0) return;
    const code = -1 - result;
    throw new FormatError(MESSAGES[code & 15](this.wasm.lzo1x_detail(), dstLen), at + (code >>> 4));
  }

  /** The Adler-32 of `view`, a view of `input` or `output`, continuing from `adler`. */
  adler32(view: Uint8Array, adler = 1): number {
    return this.wasm.adler32(adler, view.byteOffset, view.length) >>> 0;
  }
}

const idle = new IdleInstances(() => new Lzo1xDecoder());

/** Runs `use` with a decoder of its own, for one stream: it lays the areas out for each block. */
export function withLzo1x<T>(use: (lzo: Lzo1xDecoder) => Promise<T>): Promise<T> {
  return idle.with(0, 0, use);
}

/** The Adler-32 of `bytes` outside any stream's decoder, continuing from `adler`: a header's. */
export function adler32(bytes: Uint8Array, adler = 1): number {
  const lzo = idle.borrow(bytes.length, 0);
  try {
    lzo.input.set(bytes);
    return lzo.adler32(lzo.input, adler);
  } finally {
    idle.giveBack(lzo);
  }
}
