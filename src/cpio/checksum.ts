import { restoreOptimizingCompilers } from '../tiers.js';

/**
 * The 070702 check field: the sum of the data bytes, modulo 2^32, continuing from `sum`. A loop
 * over every byte, as hot as a decoder's: V8's optimizing compilers come back for it
 * (src/tiers.ts), without which reading or writing a crc archive is many times slower.
 */
export function dataSum(chunk: Uint8Array, sum = 0): number {
  restoreOptimizingCompilers();
  let s = sum;
  for (let i = 0; i < chunk.length; i++) s += chunk[i];
  return s >>> 0;
}
