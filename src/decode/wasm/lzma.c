/*
 * The LZMA range-coded stream of src/decode/lzma.ts (the legacy `.lzma` format, whose 13-byte
 * header lzma.ts reads), compiled to WebAssembly by build.sh: the TypeScript it replaces needed
 * V8's optimizing compilers (src/tiers.ts, 7-11 MB). Written from the LZMA format.
 *
 * The caller gives the input a part at a time: lzma_run decodes whole symbols while at least
 * MARGIN bytes are left after the input position (a symbol reads at most 49, one per decoded
 * bit), then returns how much it used; at the end of the file the part is followed by MARGIN
 * zero bytes and the run goes on to the last symbol, which must not have read into them.
 * Normalisation is done right after each bit, which reads exactly the bytes the encoder wrote,
 * so after the last symbol the input position is exactly after the stream.
 *
 * The output goes into a ring that is the dictionary (output area, instance.ts): lzma_run
 * stops whenever a chunk of it is ready (S_FLUSH), mid-match if need be, and goes on from there.
 */
#include "types.h"

#define MARGIN 64
/* Output is handed out at least this often (and whenever the ring wraps). */
#define CHUNK (1u << 20)

/* The probabilities (11-bit, all starting at 1024), one array. */
#define IS_MATCH 0                              /* [state << 4 | posState] */
#define IS_REP (IS_MATCH + 12 * 16)             /* [state] */
#define IS_REP_G0 (IS_REP + 12)
#define IS_REP_G1 (IS_REP_G0 + 12)
#define IS_REP_G2 (IS_REP_G1 + 12)
#define IS_REP0_LONG (IS_REP_G2 + 12)           /* [state << 4 | posState] */
#define DIST_SLOT (IS_REP0_LONG + 12 * 16)      /* 4 length states x 64-entry 6-bit trees */
#define DIST_SPECIAL (DIST_SLOT + 4 * 64)       /* reverse trees for slots 4..13 (index 0 unused) */
#define ALIGN (DIST_SPECIAL + 115)              /* 4-bit reverse tree */
#define LEN (ALIGN + 16)                        /* match length coder */
#define REP_LEN (LEN + 514)                     /* rep match length coder */
#define LITERAL (REP_LEN + 514)                 /* 0x300 per literal context */
/* Inside a length coder: */
#define LEN_CHOICE2 1
#define LEN_LOW 2                               /* 16 posStates x 8 (3-bit trees) */
#define LEN_MID (LEN_LOW + 16 * 8)
#define LEN_HIGH (LEN_MID + 16 * 8)             /* 8-bit tree */
/* lc + lp <= 12 */
#define MAX_PROBS (LITERAL + (0x300 << 12))

/* What lzma_run returns when it stops without an error (an error is -1 - its kind). */
enum { S_END = 0, S_NEEDS_INPUT = 1, S_FLUSH = 2 };

/* Error kinds, as lzma.ts names them. */
enum {
  E_TRUNCATED, E_FIRST_BYTE, E_RANGE_START, E_PAST_SIZE, E_REP_BEFORE_DATA, E_MARKER_EARLY,
  E_DISTANCE, E_MATCH_PAST_SIZE, E_UNCLEAN
};

static u16 probs[MAX_PROBS];

static struct {
  u32 lc, lp, pb, state, rep0, rep1, rep2, rep3, range, code, started, at_end;
  u8 *dict;
  u32 ring_size, dict_limit;
  /* next write position in the ring; base: the bytes before dict[0]; chunk being filled */
  u32 pos, flush_start, flush_at;
  u64 base, known_end;
  /* what a match left to copy when a chunk was ready */
  u32 pending;
  /* an error found as a chunk was ready: reported after it */
  int pending_error;
  /* the last call: input used (up to the error, if any), output ready, the error's values */
  u32 consumed, out_from, out_to, detail_a, detail_b;
} z;

__attribute__((export_name("lzma_consumed"))) u32 lzma_consumed(void) { return z.consumed; }
__attribute__((export_name("lzma_out_from"))) u32 lzma_out_from(void) { return z.out_from; }
__attribute__((export_name("lzma_out_to"))) u32 lzma_out_to(void) { return z.out_to; }
__attribute__((export_name("lzma_detail_a"))) u32 lzma_detail_a(void) { return z.detail_a; }
__attribute__((export_name("lzma_detail_b"))) u32 lzma_detail_b(void) { return z.detail_b; }

static u32 next_flush(void) {
  u64 f = z.pos + CHUNK;
  if (f > z.ring_size) f = z.ring_size;
  if (z.known_end - z.base < f) f = z.known_end - z.base;
  return (u32)f;
}

/*
 * Starts a stream of properties lc, lp, pb whose distances must be below dict_limit, decoding
 * into dict[0, ring_size) (a multiple of 16, so that ring positions give the same posState and
 * literal position bits as totals); known: its size, or all ones when unknown.
 */
__attribute__((export_name("lzma_start")))
void lzma_start(u32 lc, u32 lp, u32 pb, u32 dict_limit, u8 *dict, u32 ring_size, double known) {
  __builtin_memset(&z, 0, sizeof z);
  z.lc = lc;
  z.lp = lp;
  z.pb = pb;
  z.dict_limit = dict_limit;
  z.dict = dict;
  z.ring_size = ring_size;
  z.known_end = known < 0 ? ~0ull : (u64)known;
  z.at_end = z.known_end == 0;
  z.flush_at = next_flush();
  /* the byte "before" the first, for the first literal's context */
  dict[ring_size - 1] = 0;
  for (u32 i = 0, n = LITERAL + (0x300u << (lc + lp)); i < n; i++) probs[i] = 1024;
}

/* Hands out dict[flush_start, pos) and starts the next chunk, wrapping the ring if full. */
static void flush(void) {
  z.out_from = z.flush_start;
  z.out_to = z.pos;
  if (z.pos == z.ring_size) {
    z.pos = 0;
    z.base += z.ring_size;
  }
  z.flush_start = z.pos;
  z.flush_at = next_flush();
  if (z.base + z.pos == z.known_end) z.at_end = 1;
}

/*
 * Copies n bytes to d from src, which is dist bytes back in the output: d - dist, or across
 * the ring's end, ahead of d. A match closer than its length repeats itself, byte by byte.
 */
static inline void copy_bytes(u8 *d, const u8 *src, u32 n, u32 dist) {
  if (dist >= n) {
    __builtin_memmove(d, src, n);
  } else if (dist == 1) {
    __builtin_memset(d, *src, n);
  } else {
    for (u32 k = 0; k < n; k++) d[k] = src[k];
  }
}

/* Copies z.pending bytes from rep0 + 1 back, until done (0) or a chunk is ready (S_FLUSH). */
static int copy_match(void) {
  u8 *dict = z.dict;
  u32 pos = z.pos, rem = z.pending, dist = z.rep0 + 1;
  u32 s = pos >= dist ? pos - dist : pos + z.ring_size - dist;
  for (;;) {
    u32 n = rem;
    if (n > z.flush_at - pos) n = z.flush_at - pos;
    if (n > z.ring_size - s) n = z.ring_size - s;
    copy_bytes(dict + pos, dict + s, n, dist);
    rem -= n;
    pos += n;
    s += n;
    if (s == z.ring_size) s = 0;
    if (pos == z.flush_at) {
      z.pos = pos;
      flush();
      z.pending = rem;
      if (z.at_end && rem > 0) z.pending_error = -1 - E_MATCH_PAST_SIZE;
      return S_FLUSH;
    }
    if (rem == 0) break;
  }
  z.pos = pos;
  z.pending = 0;
  return 0;
}

#define NORMALIZE \
  if (range < 1u << 24) { \
    range <<= 8; \
    code = code << 8 | *ip++; \
  }

/* Decodes the bit of probs[i]: then runs on0 or on1. */
#define BIT(i, on0, on1) \
  do { \
    u16 *p_ = probs + (i); \
    u32 pr_ = *p_, bound_ = (range >> 11) * pr_; \
    if (code < bound_) { \
      range = bound_; \
      *p_ = (u16)(pr_ + ((2048 - pr_) >> 5)); \
      NORMALIZE \
      on0; \
    } else { \
      range -= bound_; \
      code -= bound_; \
      *p_ = (u16)(pr_ - (pr_ >> 5)); \
      NORMALIZE \
      on1; \
    } \
  } while (0)

/* m = 1, then `bits` bits of the tree at probs[tree] into m (ending with 1 << bits added). */
#define TREE(tree, bits, m) \
  do { \
    m = 1; \
    for (u32 k_ = 0; k_ < (bits); k_++) BIT((tree) + m, m <<= 1, m = m << 1 | 1); \
  } while (0)

#define FAIL(kind, a, b) \
  do { \
    z.detail_a = (a); \
    z.detail_b = (b); \
    result = -1 - (kind); \
    goto stop; \
  } while (0)

/*
 * Decodes from in[0, avail) (followed by MARGIN zero bytes when eof): S_NEEDS_INPUT when fewer
 * than MARGIN bytes are left (lzma_consumed says how many it used: the caller gives the rest
 * again, and more), S_FLUSH when dict[lzma_out_from, lzma_out_to) is ready, S_END after the
 * last symbol (the range coder finished and the output ready), or -1 - an error kind at
 * in + lzma_consumed.
 */
__attribute__((export_name("lzma_run"))) int lzma_run(const u8 *in, u32 avail, u32 eof) {
  const u8 *ip = in, *const limit = eof ? in + avail : in + avail - MARGIN;
  u8 *const dict = z.dict;
  const u32 ring_size = z.ring_size, dict_limit = z.dict_limit, pb_mask = (1u << z.pb) - 1,
            lp_mask = (1u << z.lp) - 1, lc = z.lc, lc_shift = 8 - z.lc;
  u32 range = z.range, code = z.code, state = z.state, rep0 = z.rep0, rep1 = z.rep1, rep2 = z.rep2, rep3 = z.rep3;
  u32 pos = z.pos;
  int result;
  z.out_from = z.out_to = 0;

  if (z.pending_error) {
    result = z.pending_error;
    goto stop;
  }
  if (!z.started) {
    /* five bytes, the first always zero */
    if (eof && avail < 5) FAIL(E_TRUNCATED, 0, 0);
    if (in[0] != 0) FAIL(E_FIRST_BYTE, in[0], 0);
    code = (u32)in[1] << 24 | (u32)in[2] << 16 | (u32)in[3] << 8 | in[4];
    range = ~0u;
    ip = in + 5;
    if (code == ~0u) FAIL(E_RANGE_START, 0, 0);
    z.started = 1;
  }
  if (z.pending) {
    z.pos = pos;
    z.rep0 = rep0;
    result = copy_match();
    pos = z.pos;
    if (result) goto stop;
  }

  for (;;) {
    /* At the known size a stream without an end marker is finished and its code is 0 (the
       encoder's flush). Otherwise an end marker must follow, as xz allows: with code 0 the
       next is_match bit would be 0 (a literal), so code 0 can never start a marker. */
    if (z.at_end && code == 0) break;
    if (ip > limit) {
      if (eof) FAIL(E_TRUNCATED, 0, 0);
      result = S_NEEDS_INPUT;
      goto stop;
    }
    const u32 pos_state = pos & pb_mask;
    u32 bit;
    BIT(IS_MATCH + (state << 4) + pos_state, bit = 0, bit = 1);
    if (bit == 0) {
      /* a literal */
      if (z.at_end) FAIL(E_PAST_SIZE, 0, 0);
      const u32 prev = dict[(pos == 0 ? ring_size : pos) - 1];
      const u32 lit = LITERAL + 0x300 * (((pos & lp_mask) << lc) + (prev >> lc_shift));
      u32 sym = 1;
      if (state >= 7) {
        /* matched literal: decoded with the byte at rep0 as context until a bit differs */
        u32 mb = dict[pos > rep0 ? pos - rep0 - 1 : pos + ring_size - rep0 - 1];
        do {
          const u32 mbit = mb >> 7 & 1;
          mb <<= 1;
          BIT(lit + ((1 + mbit) << 8) + sym, sym <<= 1; bit = 0, sym = sym << 1 | 1; bit = 1);
          if (bit != mbit) break;
        } while (sym < 0x100);
      }
      while (sym < 0x100) BIT(lit + sym, sym <<= 1, sym = sym << 1 | 1);
      dict[pos++] = (u8)sym;
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
      if (pos == z.flush_at) {
        z.pos = pos;
        flush();
        pos = z.pos;
        result = S_FLUSH;
        goto stop;
      }
      continue;
    }

    /* a match: the length coder to use, or none for a short rep (length 1) */
    u32 len_coder = LEN, short_rep = 0;
    BIT(IS_REP + state, bit = 0, bit = 1);
    if (bit) {
      if (z.at_end) FAIL(E_PAST_SIZE, 0, 0);
      len_coder = REP_LEN;
      BIT(IS_REP_G0 + state, bit = 0, bit = 1);
      if (bit == 0) {
        BIT(IS_REP0_LONG + (state << 4) + pos_state, short_rep = 1, (void)0);
      } else {
        u32 dist;
        BIT(IS_REP_G1 + state, bit = 0, bit = 1);
        if (bit == 0) {
          dist = rep1;
        } else {
          BIT(IS_REP_G2 + state, dist = rep2, dist = rep3; rep3 = rep2);
          rep2 = rep1;
        }
        rep1 = rep0;
        rep0 = dist;
      }
      /* before any output there is nothing to repeat */
      if (z.base == 0 && rep0 >= pos) FAIL(E_REP_BEFORE_DATA, 0, 0);
      state = short_rep ? (state < 7 ? 9 : 11) : (state < 7 ? 8 : 11);
    }

    u32 len = 1;
    if (!short_rep) {
      u32 tree, bits, m;
      BIT(len_coder, tree = len_coder + LEN_LOW + (pos_state << 3); bits = 3; len = 2 - 8,
          BIT(len_coder + LEN_CHOICE2, tree = len_coder + LEN_MID + (pos_state << 3); bits = 3; len = 10 - 8,
              tree = len_coder + LEN_HIGH; bits = 8; len = 18 - 256));
      TREE(tree, bits, m);
      len += m; /* m is 1 << bits plus the value; len held the base minus 1 << bits */
    }

    if (len_coder == LEN) {
      /* the distance of a simple match */
      u32 m;
      TREE(DIST_SLOT + ((len < 5 ? len - 2 : 3) << 6), 6, m);
      const u32 slot = m - 64;
      u32 dist = slot;
      if (slot >= 4) {
        const u32 direct = (slot >> 1) - 1;
        dist = (2 | (slot & 1)) << direct;
        if (slot < 14) {
          /* a reverse tree of `direct` bits */
          const u32 rtree = DIST_SPECIAL + dist - slot;
          m = 1;
          for (u32 k = 0; k < direct; k++) BIT(rtree + m, m <<= 1, m = m << 1 | 1; dist |= 1u << k);
        } else {
          /* direct bits (probability 1/2), then a 4-bit reverse tree */
          u32 direct_bits = 0;
          for (u32 k = direct - 4; k > 0; k--) {
            range >>= 1;
            const u32 one = code >= range;
            code -= range & (0u - one);
            direct_bits = direct_bits << 1 | one;
            NORMALIZE
          }
          dist += direct_bits << 4;
          m = 1;
          for (u32 k = 0; k < 4; k++) BIT(ALIGN + m, m <<= 1, m = m << 1 | 1; dist |= 1u << k);
        }
      }
      if (dist == ~0u) {
        /* the end marker */
        if (!z.at_end && z.known_end != ~0ull) FAIL(E_MARKER_EARLY, 0, 0);
        break;
      }
      if (z.at_end) FAIL(E_PAST_SIZE, 0, 0);
      if (dist >= dict_limit || (z.base == 0 && dist >= pos)) FAIL(E_DISTANCE, dist, z.base == 0 ? pos : dict_limit);
      rep3 = rep2;
      rep2 = rep1;
      rep1 = rep0;
      rep0 = dist;
      state = state < 7 ? 7 : 10;
    }

    /* copy len bytes from rep0 + 1 back: in place in the usual case, no flush and no wrap */
    u32 s = pos > rep0 ? pos - rep0 - 1 : pos + ring_size - rep0 - 1;
    if (len < z.flush_at - pos && len <= ring_size - s) {
      copy_bytes(dict + pos, dict + s, len, rep0 + 1);
      pos += len;
      continue;
    }
    z.pos = pos;
    z.rep0 = rep0;
    z.pending = len;
    result = copy_match();
    pos = z.pos;
    if (result) goto stop;
  }

  /* the last symbol */
  if (ip > in + avail) FAIL(E_TRUNCATED, 0, 0);
  if (code != 0) FAIL(E_UNCLEAN, 0, 0);
  z.out_from = z.flush_start;
  z.out_to = pos;
  result = S_END;

stop:
  z.consumed = (u32)(ip - in);
  z.range = range;
  z.code = code;
  z.state = state;
  z.rep0 = rep0;
  z.rep1 = rep1;
  z.rep2 = rep2;
  z.rep3 = rep3;
  z.pos = pos;
  return result;
}
