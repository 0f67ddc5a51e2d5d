/*
 * The sum of a run of bytes modulo 2^32: cpio's 070702 check field. In JavaScript the loop over
 * every byte needs V8's optimizing compilers, whose code is several MB of peak RSS; here the
 * baseline compiler's SIMD adds 16 bytes at a time. Its instances (src/cpio/checksum.ts takes a
 * new instance every 900 calls) share one memory, which it imports.
 */
/* wasm-ld: --import-memory */
#include <wasm_simd128.h>
#include "types.h"

__attribute__((export_name("byte_sum"), target("simd128"))) u32 byte_sum(u32 sum, const u8 *p, u32 n) {
  /* Each 32-bit lane wraps on its own; their total modulo 2^32 is the same. */
  v128_t lanes = wasm_i32x4_splat(0);
  for (; n >= 16; n -= 16, p += 16) {
    lanes = wasm_i32x4_add(lanes, wasm_u32x4_extadd_pairwise_u16x8(wasm_u16x8_extadd_pairwise_u8x16(wasm_v128_load(p))));
  }
  sum += (u32)wasm_i32x4_extract_lane(lanes, 0) + (u32)wasm_i32x4_extract_lane(lanes, 1) +
         (u32)wasm_i32x4_extract_lane(lanes, 2) + (u32)wasm_i32x4_extract_lane(lanes, 3);
  for (; n > 0; n--) sum += *p++;
  return sum;
}
