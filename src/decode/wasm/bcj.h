/*
 * The BCJ (branch/call/jump) filters of xz blocks (src/decode/xz.ts), as the Linux kernel's xz
 * decoder has them: x86, PowerPC, IA-64, ARM, ARM-Thumb, SPARC and ARM64, in lzma.c's module,
 * whose memory holds both the LZMA2 output they filter and the CRC64 of the result. Written from the xz file format, the filters' published descriptions
 * and the instruction sets' encodings. The encoder made the targets of relative calls absolute,
 * so that calls to one function repeat for LZMA2; this makes them relative again.
 *
 * The caller gives the filter's input a part at a time and it is decoded in place: bcj_run
 * returns how many bytes at the front are final, and the caller gives the rest (less than one
 * instruction, or for x86 one operand) again, followed by what comes next.
 */
#include "types.h"

enum { X86 = 4, POWERPC = 5, IA64 = 6, ARM = 7, ARMTHUMB = 8, SPARC = 9, ARM64 = 10 };

static u32 filter;
/* The input position of buf[0], from the block's start plus start_pos; wraps as the kernel's. */
static u32 pos;
/* x86: which of the 3 bytes before buf[0] were E8/E9 left alone (bit k - 1: k bytes before). */
static u32 x86_prev;

static inline u32 le32(const u8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24; }
static inline u32 be32(const u8 *p) { return (u32)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static inline void put_le32(u8 *p, u32 v) {
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}
static inline void put_be32(u8 *p, u32 v) {
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* The top byte of a 32-bit displacement within +-16 MiB. */
static inline int near(u32 b) { return ((b + 1) & 0xfe) == 0; }

/*
 * E8 (call) and E9 (jmp) take a 32-bit displacement from the end of the 5-byte instruction. The
 * encoder changed one only when its top byte is 00 or FF, and not when another E8/E9 it left
 * alone is among the 3 bytes before (then the two operands overlap) unless that is the only one
 * and its own top byte, inside this operand, is not 00/FF. The decoder sees the same opcodes and
 * top bytes (a changed operand's top byte is again 00/FF), so it makes the same choices.
 */
static u32 x86(u8 *buf, u32 size) {
  if (size < 5) return 0;
  const u32 end = size - 4; /* the first position without a whole operand after it */
  u32 prev = x86_prev, i = 0;
  while (i < end) {
    if ((buf[i] & 0xfe) != 0xe8) {
      prev = prev << 1 & 7;
      i++;
      continue;
    }
    /* k: how far back the one earlier opcode is (1..3), 0 if none, 4 if more than one */
    const u32 k = prev == 0 ? 0 : prev == 1 ? 1 : prev == 2 ? 2 : prev == 4 ? 3 : 4;
    if (!near(buf[i + 4]) || k == 4 || (k && near(buf[i + 4 - k]))) {
      prev = (prev << 1 | 1) & 7;
      i++;
      continue;
    }
    const u32 at = pos + i + 5;
    u32 dest = le32(buf + i + 1) - at;
    /* Nor may the result put 00/FF under the earlier opcode's top byte: the encoder then
       flipped that byte and the bits below it and converted again. Those bits come out as the
       complement of the operand's, whose byte there is not 00/FF, so once is enough (xz loops). */
    if (k && near(dest >> (24 - 8 * k) & 0xff)) dest = (dest ^ ((1u << (32 - 8 * k)) - 1)) - at;
    /* 25 bits kept, the top byte their sign */
    put_le32(buf + i + 1, (dest & 0xffffff) | (dest & 0x1000000 ? 0xff000000 : 0));
    prev = 0;
    i += 5;
  }
  x86_prev = prev;
  return i;
}

/* bl (opcode 18, AA 0, LK 1): a 24-bit word displacement from the instruction, big-endian. */
static u32 powerpc(u8 *buf, u32 size) {
  u32 i = 0;
  for (; size - i >= 4; i += 4) {
    const u32 ins = be32(buf + i);
    if ((ins & 0xfc000003) != 0x48000001) continue;
    put_be32(buf + i, 0x48000001 | (((ins & 0x03fffffc) - (pos + i)) & 0x03fffffc));
  }
  return i;
}

/*
 * 128-bit bundles: a 5-bit template, then three 41-bit slots. The branch-unit slots of each
 * template (bit s: slot s), from the templates MIB, MBB, BBB, MMB and MFB (and their variants
 * with a stop at the end); the rest have none or are reserved.
 */
static const u8 ia64_branch_slots[32] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 4, 6, 6, 0, 0, 7, 7, 4, 4, 0, 0, 4, 4, 0, 0,
};

/*
 * In a branch slot, an IP-relative call (opcode 5, bits 9-11 zero) has a 21-bit bundle
 * displacement: imm20b in bits 13-32, its sign in bit 36.
 */
static u32 ia64(u8 *buf, u32 size) {
  u32 i = 0;
  for (; size - i >= 16; i += 16) {
    const u32 slots = ia64_branch_slots[buf[i] & 0x1f];
    for (u32 s = 0; s < 3; s++) {
      if (!(slots >> s & 1)) continue;
      const u32 bit = 5 + 41 * s;
      u8 *p = buf + i + (bit >> 3);
      const u32 sh = bit & 7; /* the slot and its shift fit in 6 bytes */
      u64 v = 0;
      for (u32 j = 0; j < 6; j++) v |= (u64)p[j] << (8 * j);
      const u64 ins = v >> sh;
      if ((ins >> 37 & 0xf) != 5 || (ins >> 9 & 7) != 0) continue;
      const u32 disp = (u32)(ins >> 13 & 0xfffff) | (u32)(ins >> 36 & 1) << 20;
      const u32 d = ((disp << 4) - (pos + i)) >> 4;
      const u64 field = (u64)0xfffff << 13 | (u64)1 << 36;
      const u64 out = (ins & ~field) | (u64)(d & 0xfffff) << 13 | (u64)(d >> 20 & 1) << 36;
      v = (v & (((u64)1 << sh) - 1)) | out << sh;
      for (u32 j = 0; j < 6; j++) p[j] = v >> (8 * j);
    }
  }
  return i;
}

/* BL, condition always: a 24-bit word displacement from the instruction + 8, little-endian. */
static u32 arm(u8 *buf, u32 size) {
  u32 i = 0;
  for (; size - i >= 4; i += 4) {
    if (buf[i + 3] != 0xeb) continue;
    const u32 src = (buf[i] | buf[i + 1] << 8 | buf[i + 2] << 16) << 2;
    const u32 d = (src - (pos + i + 8)) >> 2;
    buf[i] = d;
    buf[i + 1] = d >> 8;
    buf[i + 2] = d >> 16;
  }
  return i;
}

/*
 * Thumb's BL is two halfwords, 11110 and the high 11 bits of a 22-bit halfword displacement,
 * then 11111 and the low 11 (from the instruction + 4). Halfword-aligned, so a pair can start
 * anywhere even; a converted pair is skipped whole.
 */
static u32 armthumb(u8 *buf, u32 size) {
  u32 i = 0;
  while (size - i >= 4) {
    if ((buf[i + 1] & 0xf8) != 0xf0 || (buf[i + 3] & 0xf8) != 0xf8) {
      i += 2;
      continue;
    }
    const u32 src = ((buf[i + 1] & 7) << 19 | buf[i] << 11 | (buf[i + 3] & 7) << 8 | buf[i + 2]) << 1;
    const u32 d = (src - (pos + i + 4)) >> 1;
    buf[i + 1] = 0xf0 | (d >> 19 & 7);
    buf[i] = d >> 11;
    buf[i + 3] = 0xf8 | (d >> 8 & 7);
    buf[i + 2] = d;
    i += 4;
  }
  return i;
}

/*
 * call (op 01, a 30-bit word displacement), big-endian; only those within +-16 MiB (the
 * displacement's top 9 bits equal), which stay so: 23 bits kept and sign-extended.
 */
static u32 sparc(u8 *buf, u32 size) {
  u32 i = 0;
  for (; size - i >= 4; i += 4) {
    if (!((buf[i] == 0x40 && (buf[i + 1] & 0xc0) == 0) || (buf[i] == 0x7f && (buf[i + 1] & 0xc0) == 0xc0)))
      continue;
    const u32 d = ((be32(buf + i) << 2) - (pos + i)) >> 2;
    put_be32(buf + i, 0x40000000 | (d & 0x3fffff) | (d & 0x400000 ? 0x3fc00000 : 0));
  }
  return i;
}

/*
 * BL (100101, a 26-bit word displacement), and ADRP (1..10000, a 21-bit page displacement in
 * immlo, bits 29-30, and immhi, bits 5-23), little-endian. ADRP only when the page
 * displacement is within +-2^17 (+-512 MiB), which stays so: 18 bits kept and sign-extended.
 */
static u32 arm64(u8 *buf, u32 size) {
  u32 i = 0;
  for (; size - i >= 4; i += 4) {
    const u32 ins = le32(buf + i), pc = pos + i;
    if (ins >> 26 == 0x25) {
      put_le32(buf + i, 0x94000000 | ((ins - (pc >> 2)) & 0x03ffffff));
    } else if ((ins & 0x9f000000) == 0x90000000) {
      const u32 src = (ins >> 29 & 3) | (ins >> 3 & 0x1ffffc);
      if ((src + 0x20000) & 0x1c0000) continue;
      const u32 d = src - (pc >> 12);
      put_le32(buf + i, (ins & 0x9000001f) | (d & 3) << 29 | (d & 0x3fffc) << 3 |
                            (d & 0x20000 ? 0x00e00000 : 0));
    }
  }
  return i;
}

/*
 * Starts a block whose filter is filter_id (the xz filter ID), its first byte at position
 * start_pos (0 in the kernel, which refuses a start offset). Any other ID passes bytes through.
 */
__attribute__((export_name("bcj_start"))) void bcj_start(u32 filter_id, u32 start_pos) {
  filter = filter_id;
  pos = start_pos;
  x86_prev = 0;
}

/*
 * Decodes buf[0, size), the next bytes of the filter's input, in place, and returns how many at
 * the front are final; the rest must come again at the front of the next call. With at_end
 * nothing follows: all size bytes are final, a tail too short for an instruction unchanged.
 */
__attribute__((export_name("bcj_run"))) u32 bcj_run(u8 *buf, u32 size, u32 at_end) {
  u32 done;
  switch (filter) {
    case X86: done = x86(buf, size); break;
    case POWERPC: done = powerpc(buf, size); break;
    case IA64: done = ia64(buf, size); break;
    case ARM: done = arm(buf, size); break;
    case ARMTHUMB: done = armthumb(buf, size); break;
    case SPARC: done = sparc(buf, size); break;
    case ARM64: done = arm64(buf, size); break;
    default: done = size;
  }
  if (at_end) done = size;
  pos += done;
  return done;
}
