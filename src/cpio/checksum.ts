import { BYTE_SUM_WASM } from '../decode/wasm/byte-sum-wasm.js';
import { type AreaExports, WasmAreas, lazyModule } from '../decode/wasm/instance.js';
import { compileOnBaseline } from '../tiers.js';

interface ByteSumExports extends AreaExports {
  byte_sum(sum: number, at: number, length: number): number;
}

const byteSumModule = lazyModule(BYTE_SUM_WASM, compileOnBaseline);
/** What is summed at a time, copied into the module's memory: a chunk larger goes in pieces. */
const AREA = 64 << 10;
/**
 * V8 compiles an export's JS-to-Wasm wrapper with TurboFan at its 1,000th call
 * (--wasm-wrapper-tiering-budget, which only node's command line sets), and that first TurboFan
 * compile costs what compileOnBaseline saves. A new instance's export counts from 0 again. The
 * instances share one memory: one each was 64 KiB more for every 59 MB summed, until V8 collected.
 */
const CALLS_PER_INSTANCE = 900;
let memory: WebAssembly.Memory | undefined;

class ByteSummer extends WasmAreas<ByteSumExports> {
  calls = 0;

  /** `piece` is at most AREA bytes long. */
  sum(piece: Uint8Array, sum: number): number {
    this.input.set(piece);
    this.calls++;
    return this.wasm.byte_sum(sum, this.input.byteOffset, piece.length);
  }
}

let summer: ByteSummer | undefined;

/**
 * The 070702 check field: the sum of the data bytes, modulo 2^32, continuing from `sum`. In
 * WebAssembly (src/decode/wasm/byte-sum.c): a loop over every byte in JavaScript needed V8's
 * optimizing compilers back (src/tiers.ts), about 6 MB of peak RSS, to be fast.
 */
export function dataSum(chunk: Uint8Array, sum = 0): number {
  let total = sum;
  for (let at = 0; at < chunk.length; at += AREA) {
    if (summer === undefined || summer.calls === CALLS_PER_INSTANCE) {
      memory ??= new WebAssembly.Memory({ initial: 2 });
      summer = new ByteSummer(byteSumModule(), memory).layout(AREA, 0);
    }
    total = summer.sum(chunk.subarray(at, at + AREA), total);
  }
  return total >>> 0;
}
