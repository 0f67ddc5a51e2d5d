/*
 * The LZ4 block decoder of src/decode/lz4.ts and the frame format's xxHash32, compiled to
 * WebAssembly by build.sh: V8 runs the block loop about twice as fast as the same loop in
 * TypeScript (bench/decoders.sh), and neither needs V8's optimizing compilers (src/tiers.ts).
 * Written from the LZ4 block and frame format descriptions and the xxHash specification.
 * Every read and write is checked against the block's input and the output room the caller
 * gives; the WebAssembly memory is the sandbox around even that.
 */
#include "lz77.h"

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

/* The length or offset value of the last error. */
__attribute__((export_name("lz4_detail"))) u32 lz4_detail(void) { return detail; }

/*
 * The block being decoded. lz4_block stops when the caller's output room is full, or when it
 * has read all the input it was given and the block goes on, and goes on from here at its next
 * call, mid-sequence if need be: a block of 8 MiB needs neither an output area nor an input area
 * of its size. A sequence is in one of these phases.
 */
enum { P_TOKEN, P_LIT_LENGTH, P_LITERALS, P_OFFSET, P_MATCH_LENGTH, P_MATCH };
/* What the last call left for the next: lz4_status. */
enum { S_ROOM_FULL = 0, S_DONE = 1, S_NEEDS_INPUT = 2 };

static struct {
  u32 phase;
  u32 left;     /* how much more output the block may give */
  u32 lit;      /* the literal length so far (P_LIT_LENGTH), or the literals left (P_LITERALS) */
  u32 token;    /* the current sequence's token */
  u32 match;    /* the match length so far (P_MATCH_LENGTH), or the bytes left (P_MATCH) */
  u32 off;      /* the current match's offset */
  u32 consumed; /* how many input bytes the last call used: the caller keeps the rest */
  u32 status;
} blk;

/* Starts a block that may decode to at most limit bytes: more is an error. */
__attribute__((export_name("lz4_start"))) void lz4_start(u32 limit) {
  blk.phase = P_TOKEN;
  blk.lit = blk.match = blk.consumed = 0;
  blk.status = S_ROOM_FULL;
  blk.left = limit;
}

__attribute__((export_name("lz4_status"))) u32 lz4_status(void) { return blk.status; }

__attribute__((export_name("lz4_consumed"))) u32 lz4_consumed(void) { return blk.consumed; }

static inline u32 min(u32 a, u32 b) { return a < b ? a : b; }

/*
 * Adds a length's extension bytes at src[*ip] to *len, up to and with the first below 255;
 * 0 if src[0, avail) ends first, with what was read added: a call on the next part goes on.
 */
static inline int extend(const u8 *src, u32 avail, u32 *ip, u32 *len) {
  u32 b;
  do {
    if (*ip >= avail) return 0;
    b = src[(*ip)++];
    *len += b;
  } while (b == 255);
  return 1;
}

/*
 * Decodes the block that lz4_start began, from its bytes src[0, avail), which are the next of
 * the rest bytes it has left, into dst from op, until it ends, the output reaches oend, or it
 * needs more input than avail (lz4_status says which; lz4_consumed how much of src it used). It
 * refers back no further than wstart (all offsets in dst). Returns the new end of output, or
 * -1 - (kind + 16 * position in src) on bad data: a read past avail is an error only when
 * avail is the rest of the block. Bytes between the result and oend may have been scribbled on
 * by the word copies. Between two calls the caller may move the output, keeping the 64 KiB
 * before op that a match may reach.
 */
__attribute__((export_name("lz4_block")))
long lz4_block(const u8 *src, u32 avail, u32 rest, u8 *dst, u32 op, u32 oend, u32 wstart) {
  u32 ip = 0, phase = blk.phase, lit = blk.lit, token = blk.token, len = blk.match, off = blk.off;
  /* Output past limit is an error of the block's; output past oend waits for the next call. */
  const u32 op0 = op, limit = op + blk.left, end = min(oend, limit);
  /* Whether src holds the rest of the block, so that reading past avail is reading past it. */
  const int last = avail == rest;
  long result;
  switch (phase) {
    case P_LIT_LENGTH: goto lit_length;
    case P_LITERALS: goto literals;
    case P_OFFSET: goto offset;
    case P_MATCH_LENGTH: goto match_length;
    case P_MATCH: goto match;
  }
  for (;;) {
    /* Whole sequences of up to 14 literals and a match from 8 or more back, with room on both
       sides after one check of each: a loop of its own, entered only at its top, which
       WebAssembly runs faster than the resumable one around it. 18 bytes of input prove a
       match follows the literals, and that its offset is in src. A match of up to 18 bytes is
       three words; a longer one (16% of the real image's sequences, which went round the
       resumable loop) is copied here too, by copy_match, when its length's bytes are in src
       and its output fits. */
    while (avail - ip >= 18 && end - op >= 40) {
      token = src[ip];
      lit = token >> 4;
      if (lit == 15) break;
      store64(dst + op, load64(src + ip + 1));
      store64(dst + op + 8, load64(src + ip + 9));
      ip += 1 + lit;
      op += lit;
      lit = 0;
      off = src[ip] | (u32)src[ip + 1] << 8;
      ip += 2;
      len = token & 15;
      if (off < 8 || off > op - wstart) goto checked_offset;
      if (len == 15) {
        /* The slow path reads the length again from ip when this one cannot go on. */
        u32 q = ip, n = len, b;
        do {
          if (q == avail) goto checked_offset;
          b = src[q++];
          n += b;
        } while (b == 255);
        if (n + 4 > end - op) goto checked_offset;
        ip = q;
        len = n + 4;
        copy_match(dst + op, off, len, end - op);
        op += len;
        continue;
      }
      const u8 *m = dst + op - off;
      store64(dst + op, load64(m));
      store64(dst + op + 8, load64(m + 8));
      store64(dst + op + 16, load64(m + 16));
      op += len + 4;
    }
    phase = P_TOKEN;
    if (ip >= avail) {
      if (!last) goto needs_input;
      result = fail(E_SEQUENCE, ip, 0);
      break;
    }
    token = src[ip++];
    lit = token >> 4;
    if (lit == 15) {
      phase = P_LIT_LENGTH;
    lit_length:
      if (!extend(src, avail, &ip, &lit)) {
        if (!last) goto needs_input;
        result = fail(E_LIT_LENGTH, ip, 0);
        goto stop;
      }
    }
    if (lit > rest - ip) { result = fail(E_LIT_INPUT, ip, lit); break; }
    if (lit > limit - op) { result = fail(E_LIT_OUTPUT, ip, lit); break; }
    phase = P_LITERALS;
  literals:
    if (lit > 0) {
      u32 k = min(lit, min(oend - op, avail - ip));
      if (k <= 64 && avail - ip >= k + 8 && end - op >= k + 8) {
        for (u32 i = 0; i < k; i += 8) store64(dst + op + i, load64(src + ip + i));
      } else {
        __builtin_memcpy(dst + op, src + ip, k);
      }
      ip += k;
      op += k;
      lit -= k;
      if (lit) {
        if (op == oend) { result = op; break; }
        goto needs_input;
      }
    }
    if (ip == rest) { blk.status = S_DONE; result = op; goto stop; } /* the last sequence has literals only */
  offset:
    phase = P_OFFSET;
    if (avail - ip < 2) {
      if (!last) goto needs_input;
      result = fail(E_OFFSET, ip, 0);
      break;
    }
    off = src[ip] | (u32)src[ip + 1] << 8;
    ip += 2;
    len = token & 15;
  checked_offset:
    if (off == 0) { result = fail(E_OFFSET_0, ip - 2, 0); break; }
    if (off > op - wstart) { result = fail(E_OFFSET_FAR, ip - 2, off); break; }
    if (len == 15) {
      phase = P_MATCH_LENGTH;
    match_length:
      if (!extend(src, avail, &ip, &len)) {
        if (!last) goto needs_input;
        result = fail(E_MATCH_LENGTH, ip, 0);
        goto stop;
      }
    }
    len += 4;
    if (len > limit - op) { result = fail(E_MATCH_OUTPUT, ip, len); break; }
    phase = P_MATCH;
  match:;
    u32 k = min(len, oend - op);
    copy_match(dst + op, off, k, end - op);
    op += k;
    len -= k;
    if (len) { result = op; break; }
  }
  blk.status = S_ROOM_FULL;
  goto stop;
needs_input:
  blk.status = S_NEEDS_INPUT;
  result = op;
stop:
  blk.phase = phase, blk.lit = lit, blk.token = token, blk.match = len, blk.off = off;
  blk.consumed = ip;
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
