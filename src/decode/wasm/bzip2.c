/*
 * The bzip2 decoder of src/decode/bzip2.ts, compiled to WebAssembly by build.sh: the TypeScript
 * it replaces needed V8's optimizing compilers (src/tiers.ts, 7-11 MB) to run at its CLI's speed.
 * Written from the format:
 *
 * One member is one stream: "BZh1".."BZh9", blocks (each: 48-bit magic 0x314159265359, block
 * CRC, randomised bit, origPtr, used-byte map, Huffman groups, selectors, code lengths, the
 * Huffman-coded MTF/RLE2 symbols), then the end-of-stream magic 0x177245385090, the combined
 * CRC and padding bits to a byte boundary. Blocks are bit-aligned, not byte-aligned, and record
 * no size: a block's input cannot be read whole first.
 *
 * So the decoder takes its input a part at a time (bz_feed) and stops wherever a part runs out,
 * as bzip2's own decompress.c does: bz_run returns S_NEEDS_INPUT and goes on from the same bit
 * at its next call. Everything that must outlive a call is in the static `s`; each GET in
 * bz_run is a place it can stop and go on from (its line number is the case label). The hot
 * symbol loop and the output walk keep their state in locals and stop only between symbols
 * and between bytes.
 *
 * Per block: Huffman decode (a lookup table on the next LUT_BITS bits, canonical-code search for
 * longer codes) -> undo RLE2 (RUNA/RUNB runs of the front byte) and MTF -> counting sort that
 * links every byte of the BWT's last column to its successor -> walk the links from origPtr,
 * undoing RLE1 (4 equal bytes, then a count byte) and computing the block CRC in the same pass,
 * into the output area; a full area stops the walk (S_OUTPUT_FULL) until the caller took it.
 *
 * Memory is fixed: the block vector (4 bytes per byte of block size, at most 3.6 MB, of which
 * a stream touches what its level needs) and a few small tables, here; the input and output
 * areas, after them (instance.ts). Randomised blocks (an obsolete feature of early bzip2
 * versions) are rejected, as the kernel's decompressor rejects them.
 */
#include "types.h"

#define GROUP_SIZE 50
#define MAX_GROUPS 6
/* 256 byte values as MTF indices 1..255 -> symbols 2..256, plus RUNA, RUNB and EOB */
#define MAX_ALPHA 258
/* bzip2's limit (2 + 900000 / 50); more are read and ignored, as bzip2 1.0.8 does */
#define MAX_SELECTORS 18002
#define MAX_CODE_LEN 20
/* Huffman codes up to this long decode with one table look-up. */
#define LUT_BITS 10
#define LUT_SIZE (1 << LUT_BITS)
#define LEN_SLOTS (MAX_CODE_LEN + 1)
/* room for the MTF list's 16 segments of 16 entries to move down before they are packed again */
#define MTFA_SIZE 4096
#define BLOCK_MAX 900000

/* What bz_run returns when it stops without an error (an error is -1 - its kind). */
enum { S_END = 0, S_NEEDS_INPUT = 1, S_OUTPUT_FULL = 2, S_BLOCK_DONE = 3 };

/* Error kinds, as bzip2.ts names them; from E_RANDOMISED on, they are a block's. */
enum {
  E_MAGIC, E_LEVEL, E_BLOCK_CRC, E_STREAM_CRC, E_NO_MAGIC,
  E_RANDOMISED, E_ORIG_PTR_MAX, E_NO_BYTES, E_GROUPS, E_NO_SELECTORS, E_SELECTOR,
  E_CODE_LENGTH, E_OVERSUBSCRIBED, E_ORIG_PTR_BLOCK, E_BAD_CODE, E_TOO_MANY_BYTES,
  E_TOO_MANY_SYMBOLS, E_LONG_RUN
};

static u32 tt[BLOCK_MAX];
static u32 crc_table[256];
static i32 counts[256];
static u8 seq_to_unseq[256];
/* the MTF list: 16 segments of 16 entries, segment k at mtfa[mtf_base[k]..+16) */
static u8 mtfa[MTFA_SIZE];
static i32 mtf_base[16];
static u8 selectors[MAX_SELECTORS];
static u8 lengths[MAX_GROUPS * MAX_ALPHA];
/* per group, LUT_SIZE entries of (symbol << 5 | code length); 0: longer code or none */
static u16 lut[MAX_GROUPS * LUT_SIZE];
/* per group and code length: first canonical code, number of codes, index of the first in perm */
static i32 first_code[MAX_GROUPS * LEN_SLOTS];
static i32 len_count[MAX_GROUPS * LEN_SLOTS];
static i32 perm_start[MAX_GROUPS * LEN_SLOTS];
static i32 max_len[MAX_GROUPS];
/* per group, the symbols in canonical order (by code length, then by symbol) */
static u16 perm[MAX_GROUPS * MAX_ALPHA];

static struct {
  /* input: the part fed, from area; ip the next byte; acc holds nbits unread bits, low ones */
  const u8 *area, *ip, *iend;
  u64 acc;
  u32 nbits;
  /* bytes of the stream before area[0] */
  u64 area_base;
  /* output area and how much of it is filled */
  u8 *out;
  u32 cap, op;
  u32 resume, last_status;
  /* the stream */
  u32 block_max, combined, block_no, stored;
  u64 magic_at;
  /* the block header being read */
  u32 x, a, b, i, j, t, len, orig_ptr, used16, used, n_in_use, alpha, n_groups, n_selectors, group_mtf;
  /* the symbols: bytes so far, the run of RUNA/RUNB digits, the selector and its 50 */
  u32 nblock, run, run_weight, sel, left, group;
  /* the output walk: bytes of tt walked, the next link, the RLE1 state, a run not yet written */
  u32 walked, t_pos, same, pending, crc;
  i32 last;
  /* the last error: where, and the values its message reports */
  u64 error_at;
  u32 detail_a, detail_b;
} s;

__attribute__((export_name("bz_error_at"))) double bz_error_at(void) { return (double)s.error_at; }
__attribute__((export_name("bz_detail_a"))) u32 bz_detail_a(void) { return s.detail_a; }
__attribute__((export_name("bz_detail_b"))) u32 bz_detail_b(void) { return s.detail_b; }
__attribute__((export_name("bz_block_no"))) u32 bz_block_no(void) { return s.block_no; }
__attribute__((export_name("bz_output_length"))) u32 bz_output_length(void) { return s.op; }

/* The bytes of the stream that its bits so far fill, whole or in part. */
__attribute__((export_name("bz_consumed"))) double bz_consumed(void) {
  return (double)(s.area_base + (u64)(s.ip - s.area) - (s.nbits >> 3));
}

/* Starts a stream whose output goes to out[0, cap). */
__attribute__((export_name("bz_start"))) void bz_start(u8 *out, u32 cap) {
  if (crc_table[1] == 0) {
    /* The bzip2 CRC: CRC-32 with polynomial 0x04c11db7, not reflected (MSB first). */
    for (u32 i = 0; i < 256; i++) {
      u32 c = i << 24;
      for (int k = 0; k < 8; k++) c = c & 0x80000000u ? (c << 1) ^ 0x04c11db7u : c << 1;
      crc_table[i] = c;
    }
  }
  __builtin_memset(&s, 0, sizeof s);
  s.out = out;
  s.cap = cap;
}

/* The next part of the input, after all of the last was used. */
__attribute__((export_name("bz_feed"))) void bz_feed(const u8 *in, u32 n) {
  s.area_base += (u64)(s.iend - s.area);
  s.area = s.ip = in;
  s.iend = in + n;
}

/* An error of `kind` at stream byte `at`, reporting a and b. */
static int fail_at(u32 kind, u64 at, u32 a, u32 b) {
  s.error_at = at;
  s.detail_a = a;
  s.detail_b = b;
  return -1 - (int)kind;
}

/* The stream byte that holds the next unread bit. */
static inline u64 bit_at(const u8 *ip, u32 nbits) {
  return s.area_base + (u64)(ip - s.area) - ((nbits + 7) >> 3);
}

/* Canonical Huffman tables for group t from its code lengths; 0 if they are oversubscribed. */
static int build_table(u32 t, u32 alpha) {
  const u8 *len_of = lengths + t * MAX_ALPHA;
  i32 *first = first_code + t * LEN_SLOTS, *count = len_count + t * LEN_SLOTS, *start = perm_start + t * LEN_SLOTS;
  u16 *p = perm + t * MAX_ALPHA;
  i32 next_slot[LEN_SLOTS];
  for (u32 l = 0; l < LEN_SLOTS; l++) count[l] = 0;
  for (u32 i = 0; i < alpha; i++) count[len_of[i]]++;
  i32 code = 0, next = 0, top = 0;
  for (u32 l = 1; l <= MAX_CODE_LEN; l++) {
    first[l] = code;
    start[l] = next_slot[l] = next;
    code += count[l];
    if (code > 1 << l) return 0;
    code <<= 1;
    next += count[l];
    if (count[l]) top = (i32)l;
  }
  max_len[t] = top;
  for (u32 i = 0; i < alpha; i++) p[next_slot[len_of[i]]++] = (u16)i;

  u16 *table = lut + (t << LUT_BITS);
  for (u32 k = 0; k < LUT_SIZE; k++) table[k] = 0;
  for (i32 l = 1; l <= top && l <= LUT_BITS; l++) {
    u32 shift = LUT_BITS - (u32)l;
    for (i32 k = 0; k < count[l]; k++) {
      u16 entry = (u16)(p[start[l] + k] << 5 | (u32)l);
      u16 *from = table + ((u32)(first[l] + k) << shift);
      for (u32 m = 0; m < 1u << shift; m++) from[m] = entry;
    }
  }
  return 1;
}

/* A code of group t longer than LUT_BITS at the top of the nbits in acc, or -1: none. */
static i32 slow_symbol(u32 t, u64 acc, u32 nbits) {
  const i32 *first = first_code + t * LEN_SLOTS, *count = len_count + t * LEN_SLOTS;
  for (i32 l = LUT_BITS + 1; l <= max_len[t]; l++) {
    i32 d = (i32)((acc >> (nbits - (u32)l)) & ((1u << l) - 1)) - first[l];
    if (d >= 0 && d < count[l]) return (i32)(perm[t * MAX_ALPHA + perm_start[t * LEN_SLOTS + l] + d] << 5) | l;
  }
  return -1;
}

/* Moves the MTF list's segments back to the end of mtfa, contiguous, in order. */
static void pack_mtf(void) {
  i32 to = MTFA_SIZE - 1;
  for (i32 k = 15; k >= 0; k--) {
    i32 from = mtf_base[k];
    for (i32 j = 15; j >= 0; j--) mtfa[to--] = mtfa[from + j];
    mtf_base[k] = to + 1;
  }
}

/*
 * Huffman-decodes the block's symbols and undoes RLE2 and MTF into tt (one byte per entry),
 * counting each byte value, up to the end-of-block symbol (0) or the end of the input
 * (S_NEEDS_INPUT, between two symbols).
 */
static int decode_symbols(void) {
  const u8 *ip = s.ip, *iend = s.iend;
  u64 acc = s.acc;
  u32 nbits = s.nbits;
  u32 nblock = s.nblock, run = s.run, run_weight = s.run_weight, sel = s.sel, left = s.left, group = s.group;
  const u32 eob = s.n_in_use + 1, block_max = s.block_max, n_sel = s.n_selectors < MAX_SELECTORS ? s.n_selectors : MAX_SELECTORS;
  int result;
  for (;;) {
    if (nbits < MAX_CODE_LEN) {
      if (iend - ip >= 8) {
        /* whole bytes up to 56 bits, by one big-endian word */
        u64 word;
        __builtin_memcpy(&word, ip, 8);
        word = __builtin_bswap64(word);
        u32 take = (63 - nbits) >> 3;
        acc = (acc << (take * 8)) | (word >> (64 - take * 8));
        ip += take;
        nbits += take * 8;
      } else {
        while (nbits <= 56 && ip < iend) {
          acc = acc << 8 | *ip++;
          nbits += 8;
        }
        if (nbits < MAX_CODE_LEN) {
          result = S_NEEDS_INPUT;
          break;
        }
      }
    }
    if (left == 0) {
      if (sel == n_sel) {
        result = fail_at(E_TOO_MANY_SYMBOLS, bit_at(ip, nbits), 0, 0);
        break;
      }
      group = selectors[sel++];
      left = GROUP_SIZE;
    }
    left--;

    i32 e = lut[(group << LUT_BITS) + ((acc >> (nbits - LUT_BITS)) & (LUT_SIZE - 1))];
    if (e == 0) {
      e = slow_symbol(group, acc, nbits);
      if (e < 0) {
        result = fail_at(E_BAD_CODE, bit_at(ip, nbits), 0, 0);
        break;
      }
    }
    nbits -= (u32)e & 31;
    u32 sym = (u32)e >> 5;

    if (sym <= 1) {
      /* RUNA adds 1 x weight, RUNB 2 x weight; the weight doubles with each digit */
      run += run_weight << sym;
      run_weight <<= 1;
      if (run > block_max) {
        result = fail_at(E_LONG_RUN, bit_at(ip, nbits), 0, 0);
        break;
      }
      continue;
    }
    if (run > 0) {
      if (run > block_max - nblock) {
        result = fail_at(E_TOO_MANY_BYTES, bit_at(ip, nbits), 0, 0);
        break;
      }
      u32 uc = mtfa[mtf_base[0]];
      counts[uc] += (i32)run;
      for (u32 end = nblock + run; nblock < end; nblock++) tt[nblock] = uc;
      run = 0;
      run_weight = 1;
    }
    if (sym == eob) {
      result = 0;
      break;
    }

    /* MTF index sym - 1: move that byte to the front. Within segment 0 that shifts up to 15
       entries; from segment k, the entry leaves its segment, each segment k-1..0 passes its
       last entry to the front of the next (moving down one slot), and it goes in front. */
    u32 v = sym - 1, uc;
    if (v < 16) {
      i32 b0 = mtf_base[0], p = b0 + (i32)v;
      uc = mtfa[p];
      for (; p > b0; p--) mtfa[p] = mtfa[p - 1];
      mtfa[b0] = (u8)uc;
    } else {
      u32 seg = v >> 4;
      i32 p = mtf_base[seg] + (i32)(v & 15);
      uc = mtfa[p];
      for (i32 last = mtf_base[seg] + 15; p < last; p++) mtfa[p] = mtfa[p + 1];
      for (u32 k = seg; k > 0; k--) {
        i32 b = --mtf_base[k];
        mtfa[b] = mtfa[mtf_base[k - 1] + 15];
      }
      if (mtf_base[0] == 0) pack_mtf();
      mtfa[--mtf_base[0]] = (u8)uc;
    }
    if (nblock == block_max) {
      result = fail_at(E_TOO_MANY_BYTES, bit_at(ip, nbits), 0, 0);
      break;
    }
    counts[uc]++;
    tt[nblock++] = uc;
  }
  s.ip = ip;
  s.acc = acc;
  s.nbits = nbits;
  s.nblock = nblock;
  s.run = run;
  s.run_weight = run_weight;
  s.sel = sel;
  s.left = left;
  s.group = group;
  return result;
}

/* Links every byte of tt to its successor: the inverse BWT's counting sort. */
static void link_block(void) {
  i32 sum = 0;
  for (u32 c = 0; c < 256; c++) {
    i32 n = counts[c];
    counts[c] = sum;
    sum += n;
  }
  for (u32 i = 0; i < s.nblock; i++) tt[counts[tt[i] & 0xff]++] |= i << 8;
  s.t_pos = tt[s.orig_ptr] >> 8;
  s.walked = 0;
  s.same = 0;
  s.pending = 0;
  s.last = -1;
  s.crc = 0xffffffffu;
}

/*
 * Walks the links, undoing RLE1 and computing the block CRC, into the output area: 0 at the
 * block's end, S_OUTPUT_FULL when the area is full first.
 */
static int walk_block(void) {
  u8 *out = s.out;
  const u32 cap = s.cap, nblock = s.nblock;
  u32 op = s.op, walked = s.walked, t_pos = s.t_pos, same = s.same, pending = s.pending, crc = s.crc;
  i32 last = s.last;
  int result = 0;
  for (;;) {
    /* after 4 equal bytes, a count byte: that many more of them */
    for (; pending > 0 && op < cap; pending--) {
      out[op++] = (u8)last;
      crc = (crc << 8) ^ crc_table[(crc >> 24) ^ (u32)last];
    }
    if (pending > 0 || (op == cap && walked < nblock)) {
      result = S_OUTPUT_FULL;
      break;
    }
    if (walked == nblock) break;
    /* each step writes at most one byte */
    u32 stop = nblock - walked < cap - op ? nblock : walked + (cap - op);
    while (walked < stop) {
      u32 x = tt[t_pos];
      t_pos = x >> 8;
      u32 b = x & 0xff;
      walked++;
      if (same == 4) {
        same = 0;
        pending = b;
        break;
      }
      if ((i32)b == last) {
        same++;
      } else {
        last = (i32)b;
        same = 1;
      }
      out[op++] = (u8)b;
      crc = (crc << 8) ^ crc_table[(crc >> 24) ^ b];
    }
  }
  s.op = op;
  s.walked = walked;
  s.t_pos = t_pos;
  s.same = same;
  s.pending = pending;
  s.crc = crc;
  s.last = last;
  return result;
}

/* A place bz_run may stop at for input and go on from: a case label of its own. */
#define RESUMABLE \
  s.resume = __LINE__; \
  case __LINE__:

/* Returns status from bz_run; its next call goes on from here. */
#define YIELD(status) \
  s.resume = __LINE__; \
  result = (status); \
  goto stop; \
  case __LINE__:

/* The next n bits (n <= 24) into var, reading only the bytes they need. */
#define GET(n, var) \
  do { \
    RESUMABLE \
    while (nbits < (n)) { \
      if (ip == iend) { \
        result = S_NEEDS_INPUT; \
        goto stop; \
      } \
      acc = acc << 8 | *ip++; \
      nbits += 8; \
    } \
    nbits -= (n); \
    var = (u32)(acc >> nbits) & ((1u << (n)) - 1); \
  } while (0)

#define FAIL(kind, a, b) \
  do { \
    result = fail_at(kind, bit_at(ip, nbits), a, b); \
    goto stop; \
  } while (0)

/* The calls a hot loop makes with the input state in s, not in bz_run's locals. */
#define SAVED(call) \
  do { \
    s.ip = ip; \
    s.acc = acc; \
    s.nbits = nbits; \
    result = call; \
    ip = s.ip; \
    acc = s.acc; \
    nbits = s.nbits; \
  } while (0)

/*
 * Decodes from where the last call stopped: S_END after the stream's combined CRC (bz_consumed
 * says where it ends), S_BLOCK_DONE after each block, S_OUTPUT_FULL (bz_output_length bytes,
 * all of the area, for the caller to take before the next call), S_NEEDS_INPUT (all of the part
 * fed is used: bz_feed the next), or -1 - an error kind.
 */
__attribute__((export_name("bz_run"))) int bz_run(void) {
  const u8 *ip = s.ip, *iend = s.iend;
  u64 acc = s.acc;
  u32 nbits = s.nbits;
  int result;
  if (s.last_status == S_OUTPUT_FULL) s.op = 0;
  switch (s.resume) {
  case 0:
    GET(16, s.a);
    GET(16, s.b);
    if (s.a != 0x425a || s.b >> 8 != 0x68) {
      result = fail_at(E_MAGIC, 0, 0, 0);
      goto stop;
    }
    if ((s.b & 0xff) < 0x31 || (s.b & 0xff) > 0x39) {
      result = fail_at(E_LEVEL, 0, s.b & 0xff, 0);
      goto stop;
    }
    s.block_max = ((s.b & 0xff) - 0x30) * 100000;
    for (;;) {
      s.magic_at = bit_at(ip, nbits);
      GET(24, s.a);
      GET(24, s.b);
      if (s.a == 0x177245 && s.b == 0x385090) break;
      if (s.a != 0x314159 || s.b != 0x265359) {
        result = fail_at(E_NO_MAGIC, s.magic_at, s.block_no, 0);
        goto stop;
      }
      s.block_no++;
      GET(16, s.a);
      GET(16, s.b);
      s.stored = s.a << 16 | s.b;
      GET(1, s.x);
      if (s.x) FAIL(E_RANDOMISED, 0, 0);
      GET(24, s.orig_ptr);
      if (s.orig_ptr >= s.block_max) FAIL(E_ORIG_PTR_MAX, s.orig_ptr, s.block_max);

      /* the byte values in use, in order: MTF index i starts as byte seq_to_unseq[i] */
      GET(16, s.used16);
      s.n_in_use = 0;
      for (s.i = 0; s.i < 16; s.i++) {
        if (!(s.used16 & 0x8000u >> s.i)) continue;
        GET(16, s.used);
        for (u32 j = 0; j < 16; j++) {
          if (s.used & 0x8000u >> j) seq_to_unseq[s.n_in_use++] = (u8)(s.i << 4 | j);
        }
      }
      if (s.n_in_use == 0) FAIL(E_NO_BYTES, 0, 0);
      s.alpha = s.n_in_use + 2;

      GET(3, s.n_groups);
      if (s.n_groups < 2 || s.n_groups > MAX_GROUPS) FAIL(E_GROUPS, s.n_groups, 0);
      GET(15, s.n_selectors);
      if (s.n_selectors == 0) FAIL(E_NO_SELECTORS, 0, 0);

      /* selectors: unary-coded MTF indices over the group numbers */
      s.group_mtf = 0x543210; /* 4 bits per entry, front in the low bits */
      for (s.i = 0; s.i < s.n_selectors; s.i++) {
        for (s.j = 0;;) {
          GET(1, s.x);
          if (!s.x) break;
          if (++s.j >= s.n_groups) FAIL(E_SELECTOR, 0, 0);
        }
        if (s.i < MAX_SELECTORS) {
          u32 g = s.group_mtf >> (s.j << 2) & 15;
          u32 below = (1u << (s.j << 2)) - 1; /* the j entries in front of it */
          s.group_mtf = (s.group_mtf & ~(below << 4 | 15)) | (s.group_mtf & below) << 4 | g;
          selectors[s.i] = (u8)g;
        }
      }

      /* code lengths: 5-bit start, then per symbol delta-coded (1x: x=0 +1, x=1 -1; 0: done) */
      for (s.t = 0; s.t < s.n_groups; s.t++) {
        GET(5, s.len);
        for (s.i = 0; s.i < s.alpha; s.i++) {
          for (;;) {
            if (s.len < 1 || s.len > MAX_CODE_LEN) FAIL(E_CODE_LENGTH, s.len, 0);
            GET(1, s.x);
            if (!s.x) break;
            GET(1, s.x);
            s.len = s.x ? s.len - 1 : s.len + 1;
          }
          lengths[s.t * MAX_ALPHA + s.i] = (u8)s.len;
        }
        if (!build_table(s.t, s.alpha)) FAIL(E_OVERSUBSCRIBED, 0, 0);
      }

      for (u32 c = 0; c < 256; c++) counts[c] = 0;
      for (u32 k = 0; k < s.n_in_use; k++) mtfa[MTFA_SIZE - 256 + k] = seq_to_unseq[k];
      for (u32 k = 0; k < 16; k++) mtf_base[k] = MTFA_SIZE - 256 + (i32)(k << 4);
      s.nblock = s.run = s.sel = s.left = 0;
      s.run_weight = 1;
      RESUMABLE
      SAVED(decode_symbols());
      if (result != 0) goto stop;
      if (s.orig_ptr >= s.nblock) FAIL(E_ORIG_PTR_BLOCK, s.orig_ptr, s.nblock);

      link_block();
      RESUMABLE
      result = walk_block();
      if (result != 0) goto stop;
      if (~s.crc != s.stored) {
        result = fail_at(E_BLOCK_CRC, s.magic_at, s.stored, ~s.crc);
        goto stop;
      }
      s.combined = (s.combined << 1 | s.combined >> 31) ^ s.stored;
      YIELD(S_BLOCK_DONE);
    }
    s.magic_at = bit_at(ip, nbits);
    GET(16, s.a);
    GET(16, s.b);
    if ((s.a << 16 | s.b) != s.combined) {
      result = fail_at(E_STREAM_CRC, s.magic_at, s.a << 16 | s.b, s.combined);
      goto stop;
    }
    YIELD(S_END);
  default:
    result = S_END;
  }
stop:
  s.ip = ip;
  s.acc = acc;
  s.nbits = nbits;
  s.last_status = (u32)result;
  return result;
}
