/*
 * LZMA, compiled to WebAssembly by build.sh: the range-coded stream of the legacy `.lzma`
 * format (lzma.ts reads its 13-byte header) and LZMA2, the chunks of LZMA and stored data in an
 * xz block (xz.ts reads the container). The TypeScript it replaces needed V8's optimizing
 * compilers (src/tiers.ts, 7-11 MB). Written from the LZMA format and the xz file format.
 *
 * The caller gives the input a part at a time: lzma_run decodes whole symbols while at least
 * MARGIN bytes are left after the input position (a symbol reads at most 49, one per decoded
 * bit), then returns how much it used; at the end of the file the part is followed by MARGIN
 * zero bytes and the run goes on to the last symbol, which must not have read into them.
 * Normalisation is done right after each bit, which reads exactly the bytes the encoder wrote,
 * so after the last symbol the input position is exactly after the stream.
 *
 * The output goes into a ring that is the dictionary (output area, instance.ts): a run stops
 * whenever a chunk of it is ready (S_FLUSH), mid-match if need be, and goes on from there.
 *
 * An LZMA2 chunk of range-coded data is the same stream bounded by its two sizes: it ends when
 * its output is complete, with the range coder flushed (code 0, no end marker) exactly at the
 * end of its compressed bytes.
 */
#include "types.h"
#include "bcj.h"

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

/* What a run returns when it stops without an error (an error is -1 - its kind). */
enum { S_END = 0, S_NEEDS_INPUT = 1, S_FLUSH = 2 };

/* Error kinds, as lzma.ts names them. */
enum {
  E_TRUNCATED, E_FIRST_BYTE, E_RANGE_START, E_PAST_SIZE, E_REP_BEFORE_DATA, E_MARKER_EARLY,
  E_DISTANCE, E_MATCH_PAST_SIZE, E_UNCLEAN,
  /* LZMA2 */
  E_CONTROL, E_NO_DICT_RESET, E_NO_PROPS, E_PROPS, E_CHUNK_OVERRUN, E_CHUNK_UNUSED
};

/* The LZMA2 chunk being read. */
enum { C_NONE, C_LZMA, C_STORED };

static u16 probs[MAX_PROBS];

static struct {
  u32 lc, lp, pb, state, rep0, rep1, rep2, rep3, range, code, started, at_end;
  u8 *dict;
  u32 ring_size, dict_limit;
  /* next write position in the ring; whether it wrapped since the dictionary was (re)started */
  u32 pos, wrapped;
  /* the output being gathered starts at flush_start; the loops stop at stop_at to see why */
  u32 flush_start, stop_at;
  /* base: the bytes before dict[0]; end: the .lzma stream's size (all ones if unknown), or
     where the LZMA2 chunk's output ends */
  u64 base, end;
  /* LZMA2: the chunk kind, its bytes left (compressed for C_LZMA), what the next must reset */
  u32 lzma2, chunk, left, need_dict_reset, need_props;
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

static u32 next_stop(void) {
  u64 f = z.flush_start + CHUNK;
  if (f > z.ring_size) f = z.ring_size;
  if (z.end - z.base < f) f = z.end - z.base;
  return (u32)f;
}

static void init_probs(void) {
  for (u32 i = 0, n = LITERAL + (0x300u << (z.lc + z.lp)); i < n; i++) probs[i] = 1024;
  z.state = z.rep0 = z.rep1 = z.rep2 = z.rep3 = 0;
}

static void layout(u8 *dict, u32 ring_size, u32 dict_limit) {
  __builtin_memset(&z, 0, sizeof z);
  z.dict = dict;
  z.ring_size = ring_size;
  z.dict_limit = dict_limit;
  /* the byte "before" the first, for the first literal's context */
  dict[ring_size - 1] = 0;
}

/*
 * Starts a stream of properties lc, lp, pb whose distances must be below dict_limit, decoding
 * into dict[0, ring_size) (a multiple of 16, so that ring positions give the same posState and
 * literal position bits as totals); known: its size, or all ones when unknown.
 */
__attribute__((export_name("lzma_start")))
void lzma_start(u32 lc, u32 lp, u32 pb, u32 dict_limit, u8 *dict, u32 ring_size, double known) {
  layout(dict, ring_size, dict_limit);
  z.lc = lc;
  z.lp = lp;
  z.pb = pb;
  z.end = known < 0 ? ~0ull : (u64)known;
  z.at_end = z.end == 0;
  z.stop_at = next_stop();
  init_probs();
}

/* An LZMA2 stream (an xz block's data) into dict[0, ring_size), distances below dict_limit. */
__attribute__((export_name("lzma2_start"))) void lzma2_start(u32 dict_limit, u8 *dict, u32 ring_size) {
  layout(dict, ring_size, dict_limit);
  z.lzma2 = z.need_dict_reset = z.need_props = 1;
  z.end = ~0ull;
  z.stop_at = next_stop();
}

/* Hands out dict[flush_start, pos) and starts the next chunk, wrapping the ring if full. */
static void flush(void) {
  z.out_from = z.flush_start;
  z.out_to = z.pos;
  if (z.pos == z.ring_size) {
    z.pos = 0;
    z.base += z.ring_size;
    z.wrapped = 1;
  }
  z.flush_start = z.pos;
  z.stop_at = next_stop();
}

/*
 * At stop_at: notes the end of the .lzma stream or of the LZMA2 chunk, and hands out the output
 * (1) when the ring ends, a chunk of it is ready or the .lzma stream's output is complete.
 */
static int reached(void) {
  const u32 at_end = z.base + z.pos == z.end;
  z.at_end |= at_end;
  if (z.pos == z.ring_size || z.pos - z.flush_start >= CHUNK || (at_end && !z.lzma2)) {
    flush();
    return 1;
  }
  z.stop_at = next_stop();
  return 0;
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

/* Copies z.pending bytes from rep0 + 1 back, until done (0) or output is ready (S_FLUSH). */
static int copy_match(void) {
  u8 *dict = z.dict;
  u32 rem = z.pending, dist = z.rep0 + 1;
  for (;;) {
    u32 pos = z.pos, s = pos >= dist ? pos - dist : pos + z.ring_size - dist, n = rem;
    if (n > z.stop_at - pos) n = z.stop_at - pos;
    if (n > z.ring_size - s) n = z.ring_size - s;
    copy_bytes(dict + pos, dict + s, n, dist);
    rem -= n;
    z.pos = pos + n;
    if (z.pos == z.stop_at) {
      const int out = reached();
      if (z.at_end && rem > 0) {
        z.pending = 0;
        z.pending_error = -1 - E_MATCH_PAST_SIZE;
        return out ? S_FLUSH : z.pending_error;
      }
      if (out) {
        z.pending = rem;
        return S_FLUSH;
      }
    }
    if (rem == 0) break;
  }
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

/* Stops a run where its input runs out: in the middle of it, or at the end of an LZMA2 chunk. */
#define CHECK_INPUT \
  if (ip > limit) { \
    if (cend && ip > cend) FAIL(E_CHUNK_OVERRUN, 0, 0); \
    if (eof) FAIL(E_TRUNCATED, 0, 0); \
    result = S_NEEDS_INPUT; \
    goto stop; \
  }

/*
 * Before a symbol's output is written: a symbol that read past the input (into the zero bytes
 * after the file's end, or past its LZMA2 chunk) is not the encoder's, and writes nothing, so
 * that the output before an error is only what real bytes decoded to.
 */
#define CHECK_READ \
  if (ip > hard) { \
    if (cend && ip > cend) FAIL(E_CHUNK_OVERRUN, 0, 0); \
    FAIL(E_TRUNCATED, 0, 0); \
  }

/*
 * Decodes range-coded symbols from *ipp, before in_end (followed by MARGIN zero bytes when eof)
 * and, in an LZMA2 chunk, cend: 0 when the stream or chunk is over, the range coder finished
 * and *ipp after its last byte; S_NEEDS_INPUT when fewer than MARGIN bytes are left; S_FLUSH
 * when dict[z.out_from, z.out_to) is ready; or -1 - an error kind at *ipp.
 */
static int symbols(const u8 **ipp, const u8 *in_end, u32 eof, const u8 *cend) {
  const u8 *ip = *ipp, *limit = eof ? in_end : in_end - MARGIN;
  if (cend && cend < limit) limit = cend;
  const u8 *hard = eof ? in_end : (const u8 *)~(u32)0;
  if (cend && cend < hard) hard = cend;
  u8 *const dict = z.dict;
  const u32 ring_size = z.ring_size, dict_limit = z.dict_limit, pb_mask = (1u << z.pb) - 1,
            lp_mask = (1u << z.lp) - 1, lc = z.lc, lc_shift = 8 - z.lc;
  u32 range = z.range, code = z.code, state = z.state, rep0 = z.rep0, rep1 = z.rep1, rep2 = z.rep2, rep3 = z.rep3;
  u32 pos = z.pos;
  int result;

  if (z.pending_error) {
    result = z.pending_error;
    goto stop;
  }
  if (!z.started) {
    /* five bytes, the first always zero */
    CHECK_INPUT
    if (cend && cend - ip < 5) FAIL(E_CHUNK_OVERRUN, 0, 0);
    if (eof && in_end - ip < 5) FAIL(E_TRUNCATED, 0, 0);
    if (ip[0] != 0) FAIL(E_FIRST_BYTE, ip[0], 0);
    code = (u32)ip[1] << 24 | (u32)ip[2] << 16 | (u32)ip[3] << 8 | ip[4];
    range = ~0u;
    ip += 5;
    if (code == ~0u) FAIL(E_RANGE_START, 0, 0);
    z.started = 1;
    /* the first literal after a dictionary reset has a zero byte before it */
    if (pos == 0 && !z.wrapped) dict[ring_size - 1] = 0;
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
       next is_match bit would be 0 (a literal), so code 0 can never start a marker. An LZMA2
       chunk has no end marker. */
    if (z.at_end && (code == 0 || cend)) break;
    CHECK_INPUT
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
      CHECK_READ
      dict[pos++] = (u8)sym;
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
      if (pos == z.stop_at) {
        z.pos = pos;
        const int out = reached();
        pos = z.pos;
        if (out) {
          result = S_FLUSH;
          goto stop;
        }
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
      if (!z.wrapped && rep0 >= pos) FAIL(E_REP_BEFORE_DATA, 0, 0);
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
        if (cend || (!z.at_end && z.end != ~0ull)) FAIL(E_MARKER_EARLY, 0, 0);
        break;
      }
      if (z.at_end) FAIL(E_PAST_SIZE, 0, 0);
      if (dist >= dict_limit || (!z.wrapped && dist >= pos)) FAIL(E_DISTANCE, dist, z.wrapped ? dict_limit : pos);
      rep3 = rep2;
      rep2 = rep1;
      rep1 = rep0;
      rep0 = dist;
      state = state < 7 ? 7 : 10;
    }

    CHECK_READ
    /* copy len bytes from rep0 + 1 back: in place in the usual case, no flush and no wrap */
    u32 s = pos > rep0 ? pos - rep0 - 1 : pos + ring_size - rep0 - 1;
    if (len < z.stop_at - pos && len <= ring_size - s) {
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
  if (ip > in_end) FAIL(E_TRUNCATED, 0, 0);
  if (code != 0) FAIL(E_UNCLEAN, 0, 0);
  if (cend && ip != cend) FAIL(ip < cend ? E_CHUNK_UNUSED : E_CHUNK_OVERRUN, 0, 0);
  result = 0;

stop:
  *ipp = ip;
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

/*
 * Decodes a .lzma stream from in[0, avail) (followed by MARGIN zero bytes when eof):
 * S_NEEDS_INPUT when fewer than MARGIN bytes are left (lzma_consumed says how many it used: the
 * caller gives the rest again, and more), S_FLUSH when dict[lzma_out_from, lzma_out_to) is
 * ready, S_END after the last symbol (the range coder finished and the output ready), or
 * -1 - an error kind at in + lzma_consumed, the output decoded before the error ready.
 */
__attribute__((export_name("lzma_run"))) int lzma_run(const u8 *in, u32 avail, u32 eof) {
  const u8 *ip = in;
  z.out_from = z.out_to = 0;
  int result = symbols(&ip, in + avail, eof, 0);
  if (result <= 0) {
    z.out_from = z.flush_start;
    z.out_to = z.pos;
  }
  if (result == 0) result = S_END;
  z.consumed = (u32)(ip - in);
  return result;
}

/*
 * Decodes LZMA2 chunks as lzma_run decodes a .lzma stream, to S_END after the end-of-data
 * control byte. A chunk header is read whole while MARGIN bytes are left, and a dictionary
 * reset first hands out the output before it, since it starts the ring again at 0: posState
 * and the literal position bits count from the reset.
 */
__attribute__((export_name("lzma2_run"))) int lzma2_run(const u8 *in, u32 avail, u32 eof) {
  const u8 *ip = in, *const in_end = in + avail;
  int result;
  z.out_from = z.out_to = 0;
  for (;;) {
    if (z.chunk == C_LZMA) {
      /* left goes below zero when a symbol read past the chunk: the next run says so */
      const u8 *const cend = ip + (i32)z.left;
      result = symbols(&ip, in_end, eof, cend);
      z.left = (u32)(cend - ip);
      if (result) goto stop;
      z.chunk = C_NONE;
      continue;
    }
    if (z.chunk == C_STORED) {
      u32 n = z.left;
      if (n > (u32)(in_end - ip)) n = (u32)(in_end - ip);
      if (n > z.stop_at - z.pos) n = z.stop_at - z.pos;
      if (n == 0 && ip == in_end) {
        if (eof) FAIL(E_TRUNCATED, 0, 0);
        result = S_NEEDS_INPUT;
        goto stop;
      }
      __builtin_memcpy(z.dict + z.pos, ip, n);
      ip += n;
      z.pos += n;
      z.left -= n;
      if (z.left == 0) z.chunk = C_NONE;
      if (z.pos == z.stop_at && reached()) {
        result = S_FLUSH;
        goto stop;
      }
      continue;
    }

    if (!eof && in_end - ip < MARGIN) {
      result = S_NEEDS_INPUT;
      goto stop;
    }
    if (ip == in_end) FAIL(E_TRUNCATED, 0, 0);
    const u32 control = ip[0];
    if (control == 0) {
      ip++;
      z.out_from = z.flush_start;
      z.out_to = z.pos;
      result = S_END;
      goto stop;
    }
    if (control > 2 && control < 0x80) FAIL(E_CONTROL, control, 0);
    const u32 size = control >= 0xc0 ? 6 : control >= 0x80 ? 5 : 3;
    if ((u32)(in_end - ip) < size) FAIL(E_TRUNCATED, 0, 0);
    if (control == 1 || control >= 0xe0) {
      if (z.pos != z.flush_start) {
        /* the control byte is read again, with nothing left to hand out */
        z.out_from = z.flush_start;
        z.out_to = z.pos;
        result = S_FLUSH;
      }
      z.base += z.pos;
      z.pos = z.flush_start = z.wrapped = 0;
      z.need_dict_reset = 0;
      z.need_props = 1;
      if (z.out_to) goto stop;
    } else if (z.need_dict_reset) {
      FAIL(E_NO_DICT_RESET, 0, 0);
    }
    u32 usize;
    if (control >= 0x80) {
      usize = ((control & 0x1f) << 16 | (u32)ip[1] << 8 | ip[2]) + 1;
      if (control >= 0xc0) {
        u32 props = ip[5];
        if (props >= 9 * 5 * 5) FAIL(E_PROPS, props, 0);
        z.lc = props % 9;
        props /= 9;
        z.lp = props % 5;
        z.pb = props / 5;
        if (z.lc + z.lp > 4) FAIL(E_PROPS, ip[5], 0);
        z.need_props = 0;
      } else if (z.need_props) {
        FAIL(E_NO_PROPS, 0, 0);
      }
      if (control >= 0xa0) init_probs();
      z.chunk = C_LZMA;
      z.left = ((u32)ip[3] << 8 | ip[4]) + 1;
      z.started = 0;
    } else {
      usize = ((u32)ip[1] << 8 | ip[2]) + 1;
      z.chunk = C_STORED;
      z.left = usize;
    }
    ip += size;
    z.end = z.base + z.pos + usize;
    z.at_end = 0;
    z.stop_at = next_stop();
  }

stop:
  if (result < 0) {
    z.out_from = z.flush_start;
    z.out_to = z.pos;
  }
  z.consumed = (u32)(ip - in);
  return result;
}

/*
 * xz's CRC64 (ECMA-182, reflected) of an xz block's output, 8 bytes a step through 8 tables
 * made at the first reset: node:zlib has only CRC32.
 */
static u64 crc64_tables[8][256];
static u64 crc64_value;

__attribute__((export_name("crc64_reset"))) void crc64_reset(void) {
  crc64_value = 0;
  if (crc64_tables[0][1]) return;
  for (u32 i = 0; i < 256; i++) {
    u64 c = i;
    for (u32 k = 0; k < 8; k++) c = c >> 1 ^ (0xc96c5795d7870f42ull & (0 - (c & 1)));
    crc64_tables[0][i] = c;
  }
  for (u32 i = 0; i < 256; i++) {
    for (u32 t = 1; t < 8; t++) {
      const u64 c = crc64_tables[t - 1][i];
      crc64_tables[t][i] = c >> 8 ^ crc64_tables[0][c & 0xff];
    }
  }
}

__attribute__((export_name("crc64_update"))) void crc64_update(const u8 *p, u32 n) {
  u64 c = ~crc64_value;
  for (; n >= 8; n -= 8, p += 8) {
    u64 v;
    __builtin_memcpy(&v, p, 8);
    v ^= c;
    c = crc64_tables[7][v & 0xff] ^ crc64_tables[6][v >> 8 & 0xff] ^ crc64_tables[5][v >> 16 & 0xff] ^
        crc64_tables[4][v >> 24 & 0xff] ^ crc64_tables[3][v >> 32 & 0xff] ^ crc64_tables[2][v >> 40 & 0xff] ^
        crc64_tables[1][v >> 48 & 0xff] ^ crc64_tables[0][v >> 56];
  }
  for (; n > 0; n--) c = crc64_tables[0][(c ^ *p++) & 0xff] ^ c >> 8;
  crc64_value = ~c;
}

__attribute__((export_name("crc64_low"))) u32 crc64_low(void) { return (u32)crc64_value; }
__attribute__((export_name("crc64_high"))) u32 crc64_high(void) { return (u32)(crc64_value >> 32); }
