import { BYTE_SUM_WASM } from '../decode/wasm/byte-sum-wasm.js';
import { type AreaExports, WasmAreas } from '../decode/wasm/instance.js';
import { compileOnBaseline } from '../tiers.js';

interface ByteSumExports extends AreaExports {
  byte_sum(sum: number, at: number, length: number): number;
}

/** What is summed at a time, copied into the module's memory: a chunk larger goes in pieces. */
const AREA = 64 << 10;

/*
 * Where the CLI keeps the sum on V8's baseline tier (compileOnBaseline), two budgets would still
 * end it, and with it the 4 MB that TurboFan's first compile maps in:
 * - an export's JS-to-Wasm wrapper is compiled with TurboFan at its 1,000th call
 *   (--wasm-wrapper-tiering-budget, which only node's command line sets); a new instance's
 *   export counts from 0 again;
 * - a compiled module's tiering budget, which its instances share, runs out at about 590 MiB
 *   summed even at its highest (by hand, --trace-wasm-compilation-times). A module compiled
 *   again from the same bytes is V8's cached one, its budget spent: each compile is given bytes
 *   of its own, a custom section holding its number.
 */
const CALLS_PER_INSTANCE = 900;
const BYTES_PER_MODULE = 256 << 20;

class ByteSummer extends WasmAreas<ByteSumExports> {
  calls = 0;

  /** `piece` is at most AREA bytes long. */
  sum(piece: Uint8Array, sum: number): number {
    this.input.set(piece);
    this.calls++;
    return this.wasm.byte_sum(sum, this.input.byteOffset, piece.length);
  }
}

let moduleBytes: Buffer | undefined;
let modulesCompiled = 0;
let module: WebAssembly.Module | undefined;
let summedByModule = 0;
/** The instances' one memory: one each was 64 KiB more for every 59 MB summed, until V8 collected. */
let memory: WebAssembly.Memory | undefined;
let summer: ByteSummer | undefined;

/** The module, with a custom section (id 0, named "n") that holds how many were compiled before it. */
function compileByteSum(): WebAssembly.Module {
  moduleBytes ??= Buffer.from(BYTE_SUM_WASM, 'base64');
  const section = Buffer.from([0, 6, 1, 0x6e, 0, 0, 0, 0]);
  section.writeUInt32LE(modulesCompiled++, 4);
  return compileOnBaseline(Buffer.concat([moduleBytes, section]));
}

/**
 * The 070702 check field: the sum of the data bytes, modulo 2^32, continuing from `sum`. In
 * WebAssembly (src/decode/wasm/byte-sum.c): a loop over every byte in JavaScript needed V8's
 * optimizing compilers back (src/tiers.ts), about 6 MB of peak RSS, to be fast.
 */
export function dataSum(chunk: Uint8Array, sum = 0): number {
  let total = sum;
  for (let at = 0; at < chunk.length; at += AREA) {
    if (module === undefined || summedByModule >= BYTES_PER_MODULE) {
      module = compileByteSum();
      summedByModule = 0;
      summer = undefined;
    }
    if (summer === undefined || summer.calls === CALLS_PER_INSTANCE) {
      memory ??= new WebAssembly.Memory({ initial: 2 });
      summer = new ByteSummer(module, memory).layout(AREA, 0);
    }
    const piece = chunk.subarray(at, at + AREA);
    total = summer.sum(piece, total);
    summedByModule += piece.length;
  }
  return total >>> 0;
}
