/*
 * What the LZ77 block decoders here (lz4-block.c, lzo1x.c) share: unaligned 8-byte words, the
 * match copy, and how an error is returned. Each C file is its own module: this is included,
 * not linked.
 */
#include "types.h"

static inline u64 load64(const u8 *p) {
  u64 v;
  __builtin_memcpy(&v, p, 8);
  return v;
}

static inline void store64(u8 *p, u64 v) { __builtin_memcpy(p, &v, 8); }

/* The length, count or distance the last error reports: the module's NAME_detail export. */
static u32 detail;

/* An error of `kind` at position `at` of the input, as a decoder returns it. */
static inline long fail(u32 kind, u32 at, u32 value) {
  detail = value;
  return -1 - (long)(kind + 16 * at);
}

/*
 * Copies a match of len bytes from off back to d, which may overlap its source; with room
 * bytes of output from d, the word copies may scribble up to 7 bytes past the match. Always
 * inlined: lz4-block.c calls it from its word-copy loop too, where a call cost about
 * 5% of the lz4 image's decode (by hand); lzo1x.c's module is the same either way.
 */
static inline __attribute__((always_inline)) void copy_match(u8 *d, u32 off, u32 len, u32 room) {
  const u8 *m = d - off;
  if (off >= 8 && room >= len + 8) {
    for (u32 k = 0; k < len; k += 8) store64(d + k, load64(m + k));
  } else if (len <= 16) {
    /* A byte at a time, which repeats a short period by itself: V8 runs memory.copy and
       memory.fill as calls, dearer than a few bytes (LZO1X's matches of 2 and 3 bytes). */
    for (u32 k = 0; k < len; k++) d[k] = m[k];
  } else if (off >= len) {
    __builtin_memcpy(d, m, len);
  } else if (off == 1) {
    __builtin_memset(d, *m, len);
  } else {
    /* The output repeats with period off: copy ever longer runs of what is already there,
       none overlapping its source. */
    for (u32 done = 0; done < len;) {
      u32 k = len - done < off + done ? len - done : off + done;
      __builtin_memcpy(d + done, m, k);
      done += k;
    }
  }
}
