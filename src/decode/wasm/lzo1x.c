/*
 * The LZO1X block decoder of src/decode/lzop.ts and lzop's Adler-32, compiled to WebAssembly by
 * build.sh, so that lzop needs none of V8's optimizing compilers (src/tiers.ts). Written from
 * the LZO1X bitstream description (see lzo1x.ts) and RFC 1950. Every read and write is checked
 * against the block's input and output; the WebAssembly memory is the sandbox around even that.
 */
#include <wasm_simd128.h>
#include "lz77.h"

/* Error kinds, as lzo1x.ts names them. */
enum {
  E_EMPTY = 0,
  E_LIT_INPUT = 1,      /* literals run past the input */
  E_LIT_OUTPUT = 2,     /* literals run past the output */
  E_NO_END = 3,         /* the input ends where an instruction must start */
  E_INSTRUCTION = 4,    /* ... inside an instruction */
  E_MATCH_LENGTH = 5,   /* ... inside a match length */
  E_DISTANCE = 6,       /* ... inside a match distance */
  E_LIT_LENGTH = 7,     /* ... inside a literal length */
  E_AFTER_END = 8,      /* bytes after the end marker: detail, how many */
  E_SHORT = 9,          /* the end marker before the output is full: detail, the output */
  E_DISTANCE_FAR = 10,  /* a match reaches before the output's start: detail, the distance */
  E_MATCH_OUTPUT = 11   /* a match runs past the output */
};

/* The length or count of the last error. */
__attribute__((export_name("lzo1x_detail"))) u32 lzo1x_detail(void) { return detail; }

/*
 * Adds a length's extension at src[*ip] to *len: 255 for each zero byte, then the first other
 * byte's value; 0 if the input ends first. Saturates far above any block's size, which the
 * caller's bounds then refuse, so that a run of zeros cannot wrap.
 */
static inline int extend(const u8 *src, u32 n, u32 *ip, u32 *len) {
  for (;;) {
    if (*ip >= n) return 0;
    u32 b = src[(*ip)++];
    if (b) {
      *len += b;
      return 1;
    }
    if (*len < 1u << 30) *len += 255;
  }
}

/* Copies len literals, in words when both sides have room for them. */
static inline void copy_literals(u8 *d, const u8 *s, u32 len, u32 in_room, u32 out_room) {
  if (len <= 32 && in_room >= 32 && out_room >= 32) {
    for (u32 k = 0; k < len; k += 8) store64(d + k, load64(s + k));
  } else {
    __builtin_memcpy(d, s, len);
  }
}

/*
 * Decodes the LZO1X stream src[0, n) into dst[0, dst_len), which it must fill exactly, its end
 * marker being the last bytes of src. Returns dst_len, or -1 - (kind + 16 * position in src).
 */
__attribute__((export_name("lzo1x_block")))
long lzo1x_block(const u8 *src, u32 n, u8 *dst, u32 dst_len) {
  u32 ip = 0, op = 0, state = 0;
  if (n == 0) return fail(E_EMPTY, 0, 0);
  if (src[0] > 17) {
    u32 t = src[ip++] - 17;
    if (t > n - ip) return fail(E_LIT_INPUT, ip, 0);
    if (t > dst_len) return fail(E_LIT_OUTPUT, ip, 0);
    __builtin_memcpy(dst, src + ip, t);
    ip += t;
    op = t;
    state = t < 4 ? t : 4;
  }
  for (;;) {
    if (ip >= n) return fail(E_NO_END, ip, 0);
    const u32 at = ip; /* the instruction, for errors */
    const u32 t = src[ip++];
    u32 len, dist, s;
    if (t >= 64) {
      if (ip >= n) return fail(E_INSTRUCTION, ip, 0);
      dist = ((u32)src[ip++] << 3 | (t >> 2 & 7)) + 1;
      len = (t >> 5) + 1;
      s = t & 3;
    } else if (t >= 32) {
      len = t & 31;
      if (len == 0) {
        len = 31;
        if (!extend(src, n, &ip, &len)) return fail(E_MATCH_LENGTH, ip, 0);
      }
      len += 2;
      if (n - ip < 2) return fail(E_DISTANCE, ip, 0);
      u32 d = src[ip] | (u32)src[ip + 1] << 8;
      ip += 2;
      dist = (d >> 2) + 1;
      s = d & 3;
    } else if (t >= 16) {
      len = t & 7;
      if (len == 0) {
        len = 7;
        if (!extend(src, n, &ip, &len)) return fail(E_MATCH_LENGTH, ip, 0);
      }
      len += 2;
      if (n - ip < 2) return fail(E_DISTANCE, ip, 0);
      u32 d = src[ip] | (u32)src[ip + 1] << 8;
      ip += 2;
      dist = ((t & 8) << 11) + (d >> 2);
      if (dist == 0) {
        /* The end marker: the last input byte, with the output complete. */
        if (ip != n) return fail(E_AFTER_END, ip, n - ip);
        if (op != dst_len) return fail(E_SHORT, at, op);
        return op;
      }
      dist += 16384;
      s = d & 3;
    } else if (state == 0) {
      len = t;
      if (len == 0) {
        len = 15;
        if (!extend(src, n, &ip, &len)) return fail(E_LIT_LENGTH, ip, 0);
      }
      len += 3;
      if (len > n - ip) return fail(E_LIT_INPUT, ip, 0);
      if (len > dst_len - op) return fail(E_LIT_OUTPUT, ip, 0);
      copy_literals(dst + op, src + ip, len, n - ip, dst_len - op);
      ip += len;
      op += len;
      state = 4;
      continue;
    } else {
      if (ip >= n) return fail(E_INSTRUCTION, ip, 0);
      u32 h = src[ip++];
      if (state == 4) {
        dist = (h << 2) + (t >> 2 & 3) + 2049;
        len = 3;
      } else {
        dist = (h << 2) + (t >> 2 & 3) + 1;
        len = 2;
      }
      s = t & 3;
    }

    if (dist > op) return fail(E_DISTANCE_FAR, at, dist);
    if (len > dst_len - op) return fail(E_MATCH_OUTPUT, at, 0);
    copy_match(dst + op, dist, len, dst_len - op);
    op += len;

    /* The 0..3 literals that follow a match. */
    if (s) {
      if (s > n - ip) return fail(E_LIT_INPUT, ip, 0);
      if (s > dst_len - op) return fail(E_LIT_OUTPUT, ip, 0);
      if (n - ip >= 4 && dst_len - op >= 4) {
        __builtin_memcpy(dst + op, src + ip, 4);
      } else {
        for (u32 k = 0; k < s; k++) dst[op + k] = src[ip + k];
      }
      ip += s;
      op += s;
    }
    state = s;
  }
}

/*
 * Adler-32 of p[0, n) continuing from adler (1 for a fresh sum), 16 bytes at a time in
 * WebAssembly's 128-bit vectors. Over a run of 5552 bytes, the most that keep the scalar sums
 * within 32 bits before their reduction (RFC 1950, zlib's NMAX), as one step: the sum s gains
 * the run's length times a, each byte times its distance from the run's end, which per vector
 * is 16 for each vector before it (the lanes of before) and 16 down to 1 within it (the dot
 * products), both summed in 64 bits.
 */
#define NMAX 5552

__attribute__((target("simd128"))) static inline u64 lanes(v128_t v) {
  return (u64)(u32)wasm_i32x4_extract_lane(v, 0) + (u32)wasm_i32x4_extract_lane(v, 1) +
         (u32)wasm_i32x4_extract_lane(v, 2) + (u32)wasm_i32x4_extract_lane(v, 3);
}

__attribute__((export_name("adler32"), target("simd128"))) u32 adler32(u32 adler, const u8 *p, u32 n) {
  u32 a = adler & 0xffff, s = adler >> 16;
  const v128_t near = wasm_i16x8_make(16, 15, 14, 13, 12, 11, 10, 9);
  const v128_t far = wasm_i16x8_make(8, 7, 6, 5, 4, 3, 2, 1);
  while (n >= 16) {
    u32 k = n < NMAX ? n & ~15u : NMAX;
    n -= k;
    v128_t sum = wasm_i32x4_splat(0), before = sum, weighted = sum;
    for (const u8 *end = p + k; p < end; p += 16) {
      v128_t v = wasm_v128_load(p);
      before = wasm_i32x4_add(before, sum);
      sum = wasm_i32x4_add(sum, wasm_u32x4_extadd_pairwise_u16x8(wasm_u16x8_extadd_pairwise_u8x16(v)));
      weighted = wasm_i32x4_add(weighted, wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_u16x8_extend_low_u8x16(v), near),
                                                         wasm_i32x4_dot_i16x8(wasm_u16x8_extend_high_u8x16(v), far)));
    }
    s = (u32)(((u64)s + (u64)k * a + 16 * lanes(before) + lanes(weighted)) % 65521);
    a = (u32)((a + lanes(sum)) % 65521);
  }
  for (; n > 0; n--) {
    a += *p++;
    s += a;
  }
  return (s % 65521) << 16 | a % 65521;
}
