import { FormatError } from '../errors.js';
import { copyLiterals, copyMatch } from './lz77.js';

/*
 * LZO1X decompressor (the format written by LZO1X-1, LZO1X-1(15) and LZO1X-999), written from
 * the LZO1X bitstream description. Every read and write is checked against its bounds.
 *
 * Instructions (S = number of literals, 0..3, copied right after a match; "state" is the number
 * of literals the previous instruction copied, 4 meaning four or more):
 *   0000LLLL, state 0      literal run of 3 + (L or 15 + extension) bytes          -> state 4
 *   0000DDSS, state 1..3   match len 2, dist (H << 2) + D + 1, then byte H
 *   0000DDSS, state 4      match len 3, dist (H << 2) + D + 2049, then byte H
 *   0001HLLL               match len 2 + (L or 7 + ext), dist 16384 + (H << 14) + (LE16 >> 2);
 *                          dist 16384 is the end of the stream
 *   001LLLLL               match len 2 + (L or 31 + ext), dist (LE16 >> 2) + 1
 *   01LDDDSS               match len 3 + L, dist (H << 3) + D + 1, then byte H
 *   1LLDDDSS               match len 5 + L, dist (H << 3) + D + 1, then byte H
 * For the LE16 forms S is the low two bits of the first distance byte. An extension is a run
 * of zero bytes (255 each) ended by a non-zero byte (its value). A first byte above 17 is a
 * literal run of (byte - 17) bytes.
 */

/**
 * The longest match the fast path copies, in four 8-byte words (see lz77.ts): 97% of the
 * matches in the real image's member, an M2 match being at most 8 bytes and an M3 one without
 * a length extension at most 33.
 */
const FAST_MATCH = 32;
/** Output the fast path may cover: FAST_MATCH bytes, then a 4-byte word of 0..3 literals. */
const FAST_OUT = FAST_MATCH + 4;

/**
 * Decompresses the LZO1X stream `src[start, end)` into `dst[0, dstLen)`, which it must fill
 * exactly, the stream's end marker being the last bytes of the input. `base` is the absolute
 * file offset of `src[start]`, for errors. Throws FormatError on any overrun or bad distance.
 */
export function lzo1xDecompress(
  src: Uint8Array,
  start: number,
  end: number,
  dst: Uint8Array,
  dstLen: number,
  base: number,
): void {
  if (dstLen > dst.length) throw new Error('lzo1xDecompress: output buffer smaller than dstLen');
  const rel = base - start; // absolute offset = rel + ip
  // Word copies through DataViews (unaligned; byte order irrelevant as both sides agree).
  // They may write a few bytes past the current run, never past dstLen: that is output not
  // produced yet, which what follows overwrites.
  const sv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  let ip = start;
  let op = 0;
  let state = 0;
  let t = 0;

  if (end - ip < 1) throw new FormatError('empty LZO1X stream', rel + ip);
  if (src[ip] > 17) {
    t = src[ip++] - 17;
    if (t > end - ip) throw new FormatError('LZO1X literals run past the end of the input', rel + ip);
    if (t > dstLen - op) throw new FormatError('LZO1X literals run past the end of the output', rel + ip);
    for (let e = ip + t; ip < e; ) dst[op++] = src[ip++];
    state = t < 4 ? t : 4;
  }

  for (;;) {
    if (ip >= end) throw new FormatError('LZO1X stream ends without its end marker', rel + ip);
    const at = ip; // the instruction, for errors
    t = src[ip++];
    let len: number;
    let dist: number;
    let s: number;
    if (t >= 64) {
      if (ip >= end) throw new FormatError('truncated LZO1X instruction', rel + ip);
      dist = ((src[ip++] << 3) | ((t >> 2) & 7)) + 1;
      len = (t >> 5) + 1;
      s = t & 3;
    } else if (t >= 32) {
      len = t & 31;
      if (len === 0) {
        len = 31;
        for (;;) {
          if (ip >= end) throw new FormatError('truncated LZO1X match length', rel + ip);
          const b = src[ip++];
          if (b !== 0) {
            len += b;
            break;
          }
          len += 255;
        }
      }
      len += 2;
      if (end - ip < 2) throw new FormatError('truncated LZO1X match distance', rel + ip);
      const d = src[ip] | (src[ip + 1] << 8);
      ip += 2;
      dist = (d >> 2) + 1;
      s = d & 3;
    } else if (t >= 16) {
      len = t & 7;
      if (len === 0) {
        len = 7;
        for (;;) {
          if (ip >= end) throw new FormatError('truncated LZO1X match length', rel + ip);
          const b = src[ip++];
          if (b !== 0) {
            len += b;
            break;
          }
          len += 255;
        }
      }
      len += 2;
      if (end - ip < 2) throw new FormatError('truncated LZO1X match distance', rel + ip);
      const d = src[ip] | (src[ip + 1] << 8);
      ip += 2;
      dist = ((t & 8) << 11) + (d >> 2);
      if (dist === 0) {
        // End of stream: it must be the last input byte and the output must be complete.
        if (ip !== end) {
          throw new FormatError(`LZO1X end marker followed by ${end - ip} more input bytes`, rel + ip);
        }
        if (op !== dstLen) {
          throw new FormatError(`LZO1X stream decodes to ${op} bytes, expected ${dstLen}`, rel + at);
        }
        return;
      }
      dist += 16384;
      s = d & 3;
    } else if (state === 0) {
      // literal run
      len = t;
      if (len === 0) {
        len = 15;
        for (;;) {
          if (ip >= end) throw new FormatError('truncated LZO1X literal length', rel + ip);
          const b = src[ip++];
          if (b !== 0) {
            len += b;
            break;
          }
          len += 255;
        }
      }
      len += 3;
      if (len > end - ip) throw new FormatError('LZO1X literals run past the end of the input', rel + ip);
      if (len > dstLen - op) throw new FormatError('LZO1X literals run past the end of the output', rel + ip);
      copyLiterals(src, sv, ip, end, dst, dv, op, len, dstLen);
      ip += len;
      op += len;
      state = 4;
      continue;
    } else {
      if (ip >= end) throw new FormatError('truncated LZO1X instruction', rel + ip);
      const h = src[ip++];
      if (state === 4) {
        dist = (h << 2) + ((t >> 2) & 3) + 2049;
        len = 3;
      } else {
        dist = (h << 2) + ((t >> 2) & 3) + 1;
        len = 2;
      }
      s = t & 3;
    }

    if (dist > op) throw new FormatError(`LZO1X match distance ${dist} reaches before the start of the output`, rel + at);
    if (dist >= 8 && len <= FAST_MATCH && dstLen - op >= FAST_OUT && end - ip >= 4) {
      // With room on both sides, after one check of each: the match in whole words from 8 or
      // more back, then its 0..3 literals in one 4-byte word, inline rather than through lz77.ts.
      const m = op - dist;
      dv.setBigInt64(op, dv.getBigInt64(m, true), true);
      if (len > 8) {
        dv.setBigInt64(op + 8, dv.getBigInt64(m + 8, true), true);
        if (len > 16) {
          dv.setBigInt64(op + 16, dv.getBigInt64(m + 16, true), true);
          if (len > 24) dv.setBigInt64(op + 24, dv.getBigInt64(m + 24, true), true);
        }
      }
      op += len;
      dv.setInt32(op, sv.getInt32(ip, true), true);
      ip += s;
      op += s;
      state = s;
      continue;
    }

    // the match
    if (len > dstLen - op) throw new FormatError('LZO1X match runs past the end of the output', rel + at);
    copyMatch(dst, dv, op, dist, len, dstLen);
    op += len;

    // the 0..3 literals that follow a match
    if (s > 0) {
      if (s > end - ip) throw new FormatError('LZO1X literals run past the end of the input', rel + ip);
      if (s > dstLen - op) throw new FormatError('LZO1X literals run past the end of the output', rel + ip);
      dst[op++] = src[ip++];
      if (s > 1) {
        dst[op++] = src[ip++];
        if (s > 2) dst[op++] = src[ip++];
      }
    }
    state = s;
  }
}
