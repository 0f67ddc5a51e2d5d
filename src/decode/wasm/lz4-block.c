/*
 * The LZ4 block decoder of src/decode/lz4.ts, compiled to WebAssembly by build.sh: V8 runs
 * it about twice as fast as the same loop in TypeScript (bench/decoders.sh). Written from the
 * LZ4 block format description. Every read and write is checked against the block's input and
 * the output room the caller gives; the WebAssembly memory is the sandbox around even that.
 */
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

/* Error kinds, as lz4-block.ts names them. */
enum {
  E_SEQUENCE = 0,    /* the block ends where a sequence must start */
  E_LIT_LENGTH = 1,  /* ... inside a literal length */
  E_LIT_INPUT = 2,   /* literals run past the block */
  E_LIT_OUTPUT = 3,  /* literals run past the output room */
  E_OFFSET = 4,      /* ... before a match offset */
  E_OFFSET_0 = 5,
  E_OFFSET_FAR = 6,  /* a match reaches before the start of the history */
  E_MATCH_LENGTH = 7,/* ... inside a match length */
  E_MATCH_OUTPUT = 8 /* a match runs past the output room */
};

static u32 detail;

static inline u64 load64(const u8 *p) {
  u64 v;
  __builtin_memcpy(&v, p, 8);
  return v;
}

static inline void store64(u8 *p, u64 v) { __builtin_memcpy(p, &v, 8); }

static inline long fail(u32 kind, u32 at, u32 value) {
  detail = value;
  return -1 - (long)(kind + 16 * at);
}

/*
 * Adds an extended length's bytes at src[*ip] to *len, up to and with the first below 255;
 * 0 if the block ends first.
 */
static inline int extend(const u8 *src, u32 n, u32 *ip, u32 *len) {
  u32 b;
  do {
    if (*ip >= n) return 0;
    b = src[(*ip)++];
    *len += b;
  } while (b == 255);
  return 1;
}

/* The length or offset value of the last error. */
__attribute__((export_name("lz4_detail"))) u32 lz4_detail(void) { return detail; }

/*
 * Decodes the block src[0, n) into dst from op, writing nothing at or past oend and referring
 * back no further than wstart (all offsets in dst). Returns the new end of output, or
 * -1 - (kind + 16 * position in src) on bad data. Bytes between the result and oend may have
 * been scribbled on by the word copies.
 */
__attribute__((export_name("lz4_block")))
long lz4_block(const u8 *src, u32 n, u8 *dst, u32 op, u32 oend, u32 wstart) {
  u32 ip = 0;
  for (;;) {
    if (ip >= n) return fail(E_SEQUENCE, ip, 0);
    u32 token = src[ip++];
    u32 lit = token >> 4;
    if (lit != 15 && n - ip >= 18 && oend - op >= 16) {
      /* Up to 14 literals in two words; 18 bytes of input left prove a match follows. */
      store64(dst + op, load64(src + ip));
      store64(dst + op + 8, load64(src + ip + 8));
      ip += lit;
      op += lit;
    } else {
      if (lit == 15 && !extend(src, n, &ip, &lit)) return fail(E_LIT_LENGTH, ip, 0);
      if (lit > 0) {
        if (lit > n - ip) return fail(E_LIT_INPUT, ip, lit);
        if (lit > oend - op) return fail(E_LIT_OUTPUT, ip, lit);
        if (lit <= 64 && n - ip >= lit + 8 && oend - op >= lit + 8) {
          for (u32 k = 0; k < lit; k += 8) store64(dst + op + k, load64(src + ip + k));
        } else {
          __builtin_memcpy(dst + op, src + ip, lit);
        }
        ip += lit;
        op += lit;
      }
      if (ip == n) return op; /* the last sequence has literals only */
      if (n - ip < 2) return fail(E_OFFSET, ip, 0);
    }
    u32 off = src[ip] | (u32)src[ip + 1] << 8;
    ip += 2;
    u32 len = token & 15;
    if (len != 15 && off >= 8 && off <= op - wstart && oend - op >= 24) {
      /* Up to 18 bytes from 8 or more back: three words, each read after the one before it
         was written. */
      const u8 *m = dst + op - off;
      store64(dst + op, load64(m));
      store64(dst + op + 8, load64(m + 8));
      store64(dst + op + 16, load64(m + 16));
      op += len + 4;
      continue;
    }
    if (off == 0) return fail(E_OFFSET_0, ip - 2, 0);
    if (off > op - wstart) return fail(E_OFFSET_FAR, ip - 2, off);
    if (len == 15 && !extend(src, n, &ip, &len)) return fail(E_MATCH_LENGTH, ip, 0);
    len += 4;
    if (len > oend - op) return fail(E_MATCH_OUTPUT, ip, len);
    u8 *d = dst + op;
    const u8 *m = d - off;
    if (off >= 8 && oend - op >= len + 8) {
      for (u32 k = 0; k < len; k += 8) store64(d + k, load64(m + k));
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
    op += len;
  }
}
