import { BYTE_SUM_WASM } from '../decode/wasm/byte-sum-wasm.js';
import { type AreaExports, WasmAreas, lazyModule } from '../decode/wasm/instance.js';

interface ByteSumExports extends AreaExports {
  byte_sum(sum: number, at: number, length: number): number;
}

const byteSumModule = lazyModule(BYTE_SUM_WASM);
/** What is summed at a time, copied into the module's memory: a chunk larger goes in pieces. */
const AREA = 64 << 10;

class ByteSummer extends WasmAreas<ByteSumExports> {
  sum(chunk: Uint8Array, sum: number): number {
    let total = sum;
    for (let at = 0; at < chunk.length; at += AREA) {
      const piece = chunk.subarray(at, at + AREA);
      this.input.set(piece);
      total = this.wasm.byte_sum(total, this.input.byteOffset, piece.length);
    }
    return total >>> 0;
  }
}

let summer: ByteSummer | undefined;

/**
 * The 070702 check field: the sum of the data bytes, modulo 2^32, continuing from `sum`. In
 * WebAssembly (src/decode/wasm/byte-sum.c): a loop over every byte in JavaScript needed V8's
 * optimizing compilers back (src/tiers.ts), about 6 MB of peak RSS, to be fast.
 */
export function dataSum(chunk: Uint8Array, sum = 0): number {
  summer ??= new ByteSummer(byteSumModule()).layout(AREA, 0);
  return summer.sum(chunk, sum);
}
