/*
 * The LZ4 block decoder of src/decode/lz4.ts and the frame format's xxHash32, compiled to
 * WebAssembly by build.sh: V8 runs the block loop about twice as fast as the same loop in
 * TypeScript (bench/decoders.sh), and neither needs V8's optimizing compilers (src/tiers.ts).
 * Written from the LZ4 block and frame format descriptions and the xxHash specification.
 * Every read and write is checked against the block's input and the output room the caller
 * gives; the WebAssembly memory is the sandbox around even that.
 */
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

/* Error kinds, as lz4-block.ts names them. */
enum {
  E_SEQUENCE = 0,    /* the block ends where a sequence must start */
  E_LIT_LENGTH = 1,  /* ... inside a literal length */
  E_LIT_INPUT = 2,   /* literals run past the block */
  E_LIT_OUTPUT = 3,  /* literals run past the output the block may give */
  E_OFFSET = 4,      /* ... before a match offset */
  E_OFFSET_0 = 5,
  E_OFFSET_FAR = 6,  /* a match reaches before the start of the history */
  E_MATCH_LENGTH = 7,/* ... inside a match length */
  E_MATCH_OUTPUT = 8 /* a match runs past the output the block may give */
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
 * The block being decoded: lz4_block stops when the caller's output room is full and goes on
 * from here at its next call, mid-sequence if need be, so that a block of 8 MiB needs no output
 * area of its size.
 */
static struct {
  u32 ip;     /* the next byte of the block to read */
  u32 left;   /* how much more output the block may give */
  u32 lit;    /* literals of the current sequence still to copy, from ip */
  u32 token;  /* the current sequence's token, while its literals are copied */
  u32 match;  /* bytes of the current match still to copy */
  u32 off;    /* its offset */
  u32 done;   /* the block's last sequence has been decoded */
} blk;

/* Starts a block that may decode to at most limit bytes: more is an error. */
__attribute__((export_name("lz4_start"))) void lz4_start(u32 limit) {
  blk.ip = blk.lit = blk.match = blk.done = 0;
  blk.left = limit;
}

/* Whether the block started last has been decoded to its end. */
__attribute__((export_name("lz4_done"))) u32 lz4_done(void) { return blk.done; }

/* Copies a match of len bytes from off back to d, which may overlap its source. */
static void copy_match(u8 *d, u32 off, u32 len, u32 room) {
  const u8 *m = d - off;
  if (off >= 8 && room >= len + 8) {
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
}

/*
 * Decodes the block src[0, n) that lz4_start began, into dst from op, until it ends or the
 * output reaches oend; it refers back no further than wstart (all offsets in dst). Returns the
 * new end of output (lz4_done says which), or -1 - (kind + 16 * position in src) on bad data.
 * Bytes between the result and oend may have been scribbled on by the word copies. Between two
 * calls the caller may move the output, keeping the 64 KiB before op that a match may reach.
 */
__attribute__((export_name("lz4_block")))
long lz4_block(const u8 *src, u32 n, u8 *dst, u32 op, u32 oend, u32 wstart) {
  u32 ip = blk.ip, lit = blk.lit, token = blk.token, len = blk.match, off = blk.off;
  /* Output past limit is an error of the block's; output past oend waits for the next call. */
  const u32 op0 = op, limit = op + blk.left, end = oend < limit ? oend : limit;
  long result;
  if (lit) goto literals;
  if (len) goto match;
  for (;;) {
    if (ip >= n) { result = fail(E_SEQUENCE, ip, 0); break; }
    token = src[ip++];
    lit = token >> 4;
    if (lit != 15 && n - ip >= 18 && end - op >= 16) {
      /* Up to 14 literals in two words; 18 bytes of input left prove a match follows. */
      store64(dst + op, load64(src + ip));
      store64(dst + op + 8, load64(src + ip + 8));
      ip += lit;
      op += lit;
      lit = 0;
    } else {
      if (lit == 15 && !extend(src, n, &ip, &lit)) { result = fail(E_LIT_LENGTH, ip, 0); break; }
      if (lit > n - ip) { result = fail(E_LIT_INPUT, ip, lit); break; }
      if (lit > limit - op) { result = fail(E_LIT_OUTPUT, ip, lit); break; }
    literals:
      if (lit > 0) {
        u32 k = lit < oend - op ? lit : oend - op;
        if (k <= 64 && n - ip >= k + 8 && end - op >= k + 8) {
          for (u32 i = 0; i < k; i += 8) store64(dst + op + i, load64(src + ip + i));
        } else {
          __builtin_memcpy(dst + op, src + ip, k);
        }
        ip += k;
        op += k;
        lit -= k;
        if (lit) { result = op; break; }
      }
      if (ip == n) { blk.done = 1; result = op; break; } /* the last sequence has literals only */
      if (n - ip < 2) { result = fail(E_OFFSET, ip, 0); break; }
    }
    off = src[ip] | (u32)src[ip + 1] << 8;
    ip += 2;
    len = token & 15;
    if (len != 15 && off >= 8 && off <= op - wstart && end - op >= 24) {
      /* Up to 18 bytes from 8 or more back: three words, each read after the one before it
         was written. */
      const u8 *m = dst + op - off;
      store64(dst + op, load64(m));
      store64(dst + op + 8, load64(m + 8));
      store64(dst + op + 16, load64(m + 16));
      op += len + 4;
      len = 0;
      continue;
    }
    if (off == 0) { result = fail(E_OFFSET_0, ip - 2, 0); break; }
    if (off > op - wstart) { result = fail(E_OFFSET_FAR, ip - 2, off); break; }
    if (len == 15 && !extend(src, n, &ip, &len)) { result = fail(E_MATCH_LENGTH, ip, 0); break; }
    len += 4;
    if (len > limit - op) { result = fail(E_MATCH_OUTPUT, ip, len); break; }
  match:;
    u32 k = len < oend - op ? len : oend - op;
    copy_match(dst + op, off, k, end - op);
    op += k;
    len -= k;
    if (len) { result = op; break; }
  }
  blk.ip = ip, blk.lit = lit, blk.token = token, blk.match = len, blk.off = off;
  blk.left -= op - op0;
  return result;
}

/* xxHash32, seed 0: the frame format's header, block and content checksums. */

#define P1 0x9e3779b1u
#define P2 0x85ebca77u
#define P3 0xc2b2ae3du
#define P4 0x27d4eb2fu
#define P5 0x165667b1u

struct xxh32 {
  u32 v[4];
  u32 total; /* the length modulo 2^32, as the digest takes it */
  u32 striped; /* whether 16 bytes or more were added: total may have wrapped */
  u8 pending[16];
  u32 pending_len;
};

static inline u32 rotl(u32 x, u32 r) { return (x << r) | (x >> (32 - r)); }

static inline u32 load32(const u8 *p) {
  u32 v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

static void xxh32_init(struct xxh32 *h) {
  h->v[0] = P1 + P2;
  h->v[1] = P2;
  h->v[2] = 0;
  h->v[3] = -P1;
  h->total = 0;
  h->striped = 0;
  h->pending_len = 0;
}

static void stripes(struct xxh32 *h, const u8 *p, u32 n) {
  if (n == 0) return;
  h->striped = 1;
  u32 v0 = h->v[0], v1 = h->v[1], v2 = h->v[2], v3 = h->v[3];
  for (const u8 *end = p + n; p < end; p += 16) {
    v0 = rotl(v0 + load32(p) * P2, 13) * P1;
    v1 = rotl(v1 + load32(p + 4) * P2, 13) * P1;
    v2 = rotl(v2 + load32(p + 8) * P2, 13) * P1;
    v3 = rotl(v3 + load32(p + 12) * P2, 13) * P1;
  }
  h->v[0] = v0, h->v[1] = v1, h->v[2] = v2, h->v[3] = v3;
}

static void xxh32_add(struct xxh32 *h, const u8 *p, u32 n) {
  h->total += n;
  if (h->pending_len > 0) {
    u32 take = 16 - h->pending_len < n ? 16 - h->pending_len : n;
    __builtin_memcpy(h->pending + h->pending_len, p, take);
    h->pending_len += take;
    p += take;
    n -= take;
    if (h->pending_len < 16) return;
    stripes(h, h->pending, 16);
    h->pending_len = 0;
  }
  stripes(h, p, n & ~15u);
  __builtin_memcpy(h->pending, p + (n & ~15u), n & 15);
  h->pending_len = n & 15;
}

static u32 xxh32_end(const struct xxh32 *h) {
  u32 acc = h->striped ? rotl(h->v[0], 1) + rotl(h->v[1], 7) + rotl(h->v[2], 12) + rotl(h->v[3], 18) : P5;
  acc += h->total;
  const u8 *p = h->pending, *end = p + h->pending_len;
  for (; end - p >= 4; p += 4) acc = rotl(acc + load32(p) * P3, 17) * P4;
  for (; p < end; p++) acc = rotl(acc + *p * P5, 11) * P1;
  acc ^= acc >> 15;
  acc *= P2;
  acc ^= acc >> 13;
  acc *= P3;
  return acc ^ (acc >> 16);
}

/* The xxHash32 of p[0, n). */
__attribute__((export_name("xxh32"))) u32 xxh32(const u8 *p, u32 n) {
  struct xxh32 h;
  xxh32_init(&h);
  xxh32_add(&h, p, n);
  return xxh32_end(&h);
}

/* One running hash, of a frame's content; one stream uses an instance at a time. */
static struct xxh32 content;

__attribute__((export_name("content_hash_start"))) void content_hash_start(void) { xxh32_init(&content); }

__attribute__((export_name("content_hash_add"))) void content_hash_add(const u8 *p, u32 n) { xxh32_add(&content, p, n); }

__attribute__((export_name("content_hash_end"))) u32 content_hash_end(void) { return xxh32_end(&content); }
