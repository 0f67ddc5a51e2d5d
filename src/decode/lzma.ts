import { FormatError } from '../errors.js';
import { hex, readBE32, readLE32 } from './bytes.js';
import type { ByteSource } from './source.js';
import { eventLoopTurn } from './turn.js';
import type { Decoder, Sink } from './types.js';

/*
 * The legacy `.lzma` ("LZMA_Alone") format, which the kernel accepts for initramfs members.
 * Written from the format: a 13-byte header (properties byte, 32-bit dictionary size, 64-bit
 * uncompressed size or all ones for "unknown"), then one LZMA range-coded stream.
 *
 * The range decoder keeps `range` and `code` as int32 values that stand for uint32 ones and
 * compares them with `>>> 0` (measured faster than flipping the sign bits). Every bit decode
 * is written out in place (the same few lines each time) so that all state stays in locals.
 * Normalisation is done right after each bit, which reads exactly the bytes the encoder wrote
 * (it emits one byte per normalisation plus five at the flush), so after the last symbol the
 * input position is exactly after the stream.
 */

/** A larger dictionary is refused so that memory stays bounded (xz -9 uses 64 MiB). */
const MAX_DICT = 128 << 20;
const MIN_DICT = 4096;
/** Output is pushed to the sink at least this often (and whenever the ring wraps). */
const CHUNK = 1 << 20;
/**
 * One symbol reads at most 49 bytes (one per decoded bit, a match has at most 48 bits), so
 * with this many bytes left in the view the loop never has to look for the end of input
 * inside a symbol.
 */
const MARGIN = 64;

// Layout of the probability array (11-bit probabilities, all starting at 1024).
const IS_MATCH = 0; // [state << 4 | posState]
const IS_REP = IS_MATCH + 12 * 16; // [state]
const IS_REP_G0 = IS_REP + 12;
const IS_REP_G1 = IS_REP_G0 + 12;
const IS_REP_G2 = IS_REP_G1 + 12;
const IS_REP0_LONG = IS_REP_G2 + 12; // [state << 4 | posState]
const DIST_SLOT = IS_REP0_LONG + 12 * 16; // 4 length states x 64-entry 6-bit trees
const DIST_SPECIAL = DIST_SLOT + 4 * 64; // reverse trees for slots 4..13 (index 0 unused)
const ALIGN = DIST_SPECIAL + 115; // 4-bit reverse tree
const LEN = ALIGN + 16; // match length coder
const REP_LEN = LEN + 514; // rep match length coder
const LITERAL = REP_LEN + 514; // 0x300 per literal context
// Inside a length coder:
const LEN_CHOICE2 = 1;
const LEN_LOW = 2; // 16 posStates x 8 (3-bit trees)
const LEN_MID = LEN_LOW + 16 * 8;
const LEN_HIGH = LEN_MID + 16 * 8; // 8-bit tree

export const decodeLzma: Decoder = async (src, sink) => {
  const start = src.offset;
  const h = src.read(13, 'lzma header');
  let props = h[0];
  if (props >= 9 * 5 * 5) {
    throw new FormatError(`not an lzma stream: properties byte 0x${hex(props)} is out of range`, start);
  }
  const lc = props % 9;
  props = (props / 9) | 0;
  const lp = props % 5;
  const pb = (props / 5) | 0;
  const dictSize = readLE32(h, 1);
  if (dictSize > MAX_DICT) {
    throw new FormatError(
      `lzma dictionary of ${dictSize} bytes is larger than the supported ${MAX_DICT} bytes`,
      start + 1,
    );
  }
  const sizeLo = readLE32(h, 5);
  const sizeHi = readLE32(h, 9);
  let known = -1;
  if (sizeLo !== 0xffffffff || sizeHi !== 0xffffffff) {
    if (sizeHi > 0x1fffff) {
      throw new FormatError(`implausible lzma uncompressed size (high word 0x${hex(sizeHi)})`, start + 5);
    }
    known = sizeHi * 0x100000000 + sizeLo;
  }
  await decodeStream(src, sink, lc, lp, pb, Math.max(dictSize, MIN_DICT), known);
};

/** The error for bad data; data that was only bad because the input ran out says so. */
function corrupt(src: ByteSource, inPos: number, inEnd: number, eof: boolean, what: string): FormatError {
  if (eof && inPos > inEnd) return truncated(src, inEnd);
  return new FormatError(`corrupt lzma data: ${what}`, src.offset + Math.min(inPos, inEnd));
}

function truncated(src: ByteSource, inEnd: number): FormatError {
  return new FormatError('truncated lzma stream', src.offset + inEnd);
}

async function decodeStream(
  src: ByteSource,
  sink: Sink,
  lc: number,
  lp: number,
  pb: number,
  dictLimitIn: number,
  known: number,
): Promise<void> {
  // The ring buffer: the dictionary, and at least a chunk so that small dictionaries still
  // give big sink calls; no more than the whole output when its size is known. A multiple of
  // 16 so that ring positions give the same posState and literal position bits as totals.
  let ringSize = Math.max(dictLimitIn, CHUNK);
  if (known >= 0 && known < ringSize) ringSize = Math.max(known, MIN_DICT);
  ringSize = (ringSize + 15) & ~15;
  /** Distances must be below this (and below the number of bytes decoded). */
  const dictLimit = Math.min(dictLimitIn, ringSize);
  const knownEnd = known >= 0 ? known : Number.MAX_SAFE_INTEGER;

  const probs = new Uint16Array(LITERAL + (0x300 << (lc + lp))).fill(1024);
  const dict = new Uint8Array(ringSize);
  const pbMask = (1 << pb) - 1;
  const lpMask = (1 << lp) - 1;
  const lcShift = 8 - lc;

  // Input: a view from the ByteSource with at least MARGIN bytes ahead of inPos, or near the
  // end of the file a copy of the tail followed by zeros (eof), checked after every symbol.
  // src.offset stays at the view's start until the view is replaced, so src.offset + inPos is
  // the absolute position.
  const tail = Buffer.alloc(2 * MARGIN);
  let inBuf: Uint8Array = src.peek(MARGIN);
  let inPos = 0;
  let inEnd = inBuf.length;
  let inLimit = inEnd - MARGIN;
  let eof = false;
  if (inEnd < MARGIN) {
    tail.set(inBuf);
    inBuf = tail;
    inLimit = inEnd;
    eof = true;
  }

  // Range decoder: five bytes, the first always zero.
  if (eof && inEnd < 5) throw truncated(src, inEnd);
  if (inBuf[0] !== 0) throw corrupt(src, 0, inEnd, eof, `first range coder byte is 0x${hex(inBuf[0])}, not 0`);
  let range = -1; // 0xffffffff
  let code = readBE32(inBuf, 1) | 0; // kept a signed int32, as the loop below keeps it
  inPos = 5;
  if (code === -1) throw corrupt(src, inPos, inEnd, eof, 'range coder starts out of range');

  let state = 0;
  let rep0 = 0;
  let rep1 = 0;
  let rep2 = 0;
  let rep3 = 0;
  /** Next write position in the ring; `base` is the number of bytes before ring[0]. */
  let pos = 0;
  let base = 0;
  let flushStart = 0;
  /** pos at which to flush: a chunk's end, the ring's end or the known size, whichever first. */
  let flushAt = Math.min(CHUNK, ringSize, knownEnd);
  /** The known size was reached: only an end marker may follow. */
  let atEnd = false;

  let pr = 0;
  let bound = 0;
  let i = 0;

  if (knownEnd === 0) atEnd = true;

  main: for (;;) {
    // At the known size a stream without an end marker is finished and its code is 0 (the
    // encoder's flush). Otherwise an end marker must follow, as xz allows: with code 0 the next
    // is_match bit would be 0 (a literal), so code 0 can never start a marker.
    if (atEnd && code === 0) break;
    if (inPos > inLimit) {
      if (eof) throw truncated(src, inEnd);
      src.skip(inPos);
      await eventLoopTurn();
      inBuf = src.peek(MARGIN);
      inPos = 0;
      inEnd = inBuf.length;
      inLimit = inEnd - MARGIN;
      if (inEnd < MARGIN) {
        tail.fill(0);
        tail.set(inBuf);
        inBuf = tail;
        inLimit = inEnd;
        eof = true;
      }
    }

    const posState = pos & pbMask;

    // is_match
    i = IS_MATCH + (state << 4) + posState;
    pr = probs[i];
    bound = Math.imul(range >>> 11, pr);
    if (code >>> 0 < bound >>> 0) {
      range = bound;
      probs[i] = pr + ((2048 - pr) >>> 5);
      if ((range >>> 24) === 0) {
        range <<= 8;
        code = (code << 8) | inBuf[inPos++];
      }

      // ---- literal
      if (atEnd) throw corrupt(src, inPos, inEnd, eof, 'data continues after the declared uncompressed size');
      const prev = dict[(pos === 0 ? ringSize : pos) - 1];
      const lit = LITERAL + 0x300 * (((pos & lpMask) << lc) + (prev >>> lcShift));
      let sym = 1;
      if (state >= 7) {
        // matched literal: decode with the byte at rep0 as context until a bit differs
        let s = pos - rep0 - 1;
        if (s < 0) s += ringSize;
        let mb = dict[s];
        do {
          const mbit = (mb >>> 7) & 1;
          mb <<= 1;
          i = lit + ((1 + mbit) << 8) + sym;
          pr = probs[i];
          bound = Math.imul(range >>> 11, pr);
          if (code >>> 0 < bound >>> 0) {
            range = bound;
            probs[i] = pr + ((2048 - pr) >>> 5);
            sym <<= 1;
            if ((range >>> 24) === 0) {
              range <<= 8;
              code = (code << 8) | inBuf[inPos++];
            }
            if (mbit !== 0) break;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = pr - (pr >>> 5);
            sym = (sym << 1) | 1;
            if ((range >>> 24) === 0) {
              range <<= 8;
              code = (code << 8) | inBuf[inPos++];
            }
            if (mbit === 0) break;
          }
        } while (sym < 0x100);
      }
      while (sym < 0x100) {
        i = lit + sym;
        pr = probs[i];
        bound = Math.imul(range >>> 11, pr);
        if (code >>> 0 < bound >>> 0) {
          range = bound;
          probs[i] = pr + ((2048 - pr) >>> 5);
          sym <<= 1;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = pr - (pr >>> 5);
          sym = (sym << 1) | 1;
        }
        if ((range >>> 24) === 0) {
          range <<= 8;
          code = (code << 8) | inBuf[inPos++];
        }
      }
      dict[pos++] = sym;
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
      if (pos === flushAt) {
        if (pos > flushStart) sink(dict.subarray(flushStart, pos));
        if (pos === ringSize) {
          pos = 0;
          base += ringSize;
        }
        flushStart = pos;
        flushAt = nextFlush(pos, ringSize, knownEnd - base);
        if (base + pos === knownEnd) atEnd = true;
      }
      continue;
    }
    range = (range - bound) | 0;
    code = (code - bound) | 0;
    probs[i] = pr - (pr >>> 5);
    if ((range >>> 24) === 0) {
      range <<= 8;
      code = (code << 8) | inBuf[inPos++];
    }

    // ---- a match: is_rep
    /** the length coder to use, or -1 for a short rep (length 1) */
    let lenCoder: number;
    i = IS_REP + state;
    pr = probs[i];
    bound = Math.imul(range >>> 11, pr);
    if (code >>> 0 < bound >>> 0) {
      range = bound;
      probs[i] = pr + ((2048 - pr) >>> 5);
      if ((range >>> 24) === 0) {
        range <<= 8;
        code = (code << 8) | inBuf[inPos++];
      }
      lenCoder = LEN;
    } else {
      range = (range - bound) | 0;
      code = (code - bound) | 0;
      probs[i] = pr - (pr >>> 5);
      if ((range >>> 24) === 0) {
        range <<= 8;
        code = (code << 8) | inBuf[inPos++];
      }
      if (atEnd) throw corrupt(src, inPos, inEnd, eof, 'data continues after the declared uncompressed size');
      lenCoder = REP_LEN;

      // is_rep_g0
      i = IS_REP_G0 + state;
      pr = probs[i];
      bound = Math.imul(range >>> 11, pr);
      if (code >>> 0 < bound >>> 0) {
        range = bound;
        probs[i] = pr + ((2048 - pr) >>> 5);
        if ((range >>> 24) === 0) {
          range <<= 8;
          code = (code << 8) | inBuf[inPos++];
        }
        // is_rep0_long
        i = IS_REP0_LONG + (state << 4) + posState;
        pr = probs[i];
        bound = Math.imul(range >>> 11, pr);
        if (code >>> 0 < bound >>> 0) {
          range = bound;
          probs[i] = pr + ((2048 - pr) >>> 5);
          lenCoder = -1; // short rep
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = pr - (pr >>> 5);
        }
        if ((range >>> 24) === 0) {
          range <<= 8;
          code = (code << 8) | inBuf[inPos++];
        }
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = pr - (pr >>> 5);
        if ((range >>> 24) === 0) {
          range <<= 8;
          code = (code << 8) | inBuf[inPos++];
        }
        let dist: number;
        // is_rep_g1
        i = IS_REP_G1 + state;
        pr = probs[i];
        bound = Math.imul(range >>> 11, pr);
        if (code >>> 0 < bound >>> 0) {
          range = bound;
          probs[i] = pr + ((2048 - pr) >>> 5);
          if ((range >>> 24) === 0) {
            range <<= 8;
            code = (code << 8) | inBuf[inPos++];
          }
          dist = rep1;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = pr - (pr >>> 5);
          if ((range >>> 24) === 0) {
            range <<= 8;
            code = (code << 8) | inBuf[inPos++];
          }
          // is_rep_g2
          i = IS_REP_G2 + state;
          pr = probs[i];
          bound = Math.imul(range >>> 11, pr);
          if (code >>> 0 < bound >>> 0) {
            range = bound;
            probs[i] = pr + ((2048 - pr) >>> 5);
            dist = rep2;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = pr - (pr >>> 5);
            dist = rep3;
            rep3 = rep2;
          }
          if ((range >>> 24) === 0) {
            range <<= 8;
            code = (code << 8) | inBuf[inPos++];
          }
          rep2 = rep1;
        }
        rep1 = rep0;
        rep0 = dist;
      }
      // before any output there is nothing to repeat
      if (base === 0 && rep0 >= pos) throw corrupt(src, inPos, inEnd, eof, 'repeated match before any data');
      if (lenCoder < 0) state = state < 7 ? 9 : 11;
      else state = state < 7 ? 8 : 11;
    }

    // ---- length
    let len = 1;
    if (lenCoder >= 0) {
      let tree: number;
      let bits: number;
      i = lenCoder;
      pr = probs[i];
      bound = Math.imul(range >>> 11, pr);
      if (code >>> 0 < bound >>> 0) {
        range = bound;
        probs[i] = pr + ((2048 - pr) >>> 5);
        tree = lenCoder + LEN_LOW + (posState << 3);
        bits = 3;
        len = 2 - 8;
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = pr - (pr >>> 5);
        if ((range >>> 24) === 0) {
          range <<= 8;
          code = (code << 8) | inBuf[inPos++];
        }
        i = lenCoder + LEN_CHOICE2;
        pr = probs[i];
        bound = Math.imul(range >>> 11, pr);
        if (code >>> 0 < bound >>> 0) {
          range = bound;
          probs[i] = pr + ((2048 - pr) >>> 5);
          tree = lenCoder + LEN_MID + (posState << 3);
          bits = 3;
          len = 10 - 8;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = pr - (pr >>> 5);
          tree = lenCoder + LEN_HIGH;
          bits = 8;
          len = 18 - 256;
        }
      }
      if ((range >>> 24) === 0) {
        range <<= 8;
        code = (code << 8) | inBuf[inPos++];
      }
      let m = 1;
      do {
        i = tree + m;
        pr = probs[i];
        bound = Math.imul(range >>> 11, pr);
        if (code >>> 0 < bound >>> 0) {
          range = bound;
          probs[i] = pr + ((2048 - pr) >>> 5);
          m <<= 1;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = pr - (pr >>> 5);
          m = (m << 1) | 1;
        }
        if ((range >>> 24) === 0) {
          range <<= 8;
          code = (code << 8) | inBuf[inPos++];
        }
      } while (--bits !== 0);
      len += m; // m is 1 << bits plus the value; len held the base minus 1 << bits
    }

    // ---- distance of a simple match
    if (lenCoder === LEN) {
      const slotTree = DIST_SLOT + ((len < 5 ? len - 2 : 3) << 6);
      let m = 1;
      do {
        i = slotTree + m;
        pr = probs[i];
        bound = Math.imul(range >>> 11, pr);
        if (code >>> 0 < bound >>> 0) {
          range = bound;
          probs[i] = pr + ((2048 - pr) >>> 5);
          m <<= 1;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = pr - (pr >>> 5);
          m = (m << 1) | 1;
        }
        if ((range >>> 24) === 0) {
          range <<= 8;
          code = (code << 8) | inBuf[inPos++];
        }
      } while (m < 64);
      const slot = m - 64;
      let dist = slot;
      if (slot >= 4) {
        const direct = (slot >>> 1) - 1;
        dist = (2 | (slot & 1)) << direct; // int32 bits; slots 62 and 63 set bit 31
        if (slot < 14) {
          // reverse tree of `direct` bits
          const rtree = DIST_SPECIAL + dist - slot;
          m = 1;
          for (let k = 0; k < direct; k++) {
            i = rtree + m;
            pr = probs[i];
            bound = Math.imul(range >>> 11, pr);
            if (code >>> 0 < bound >>> 0) {
              range = bound;
              probs[i] = pr + ((2048 - pr) >>> 5);
              m <<= 1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = pr - (pr >>> 5);
              m = (m << 1) | 1;
              dist |= 1 << k;
            }
            if ((range >>> 24) === 0) {
              range <<= 8;
              code = (code << 8) | inBuf[inPos++];
            }
          }
        } else {
          // direct bits (probability 1/2), then a 4-bit reverse tree
          let bitsVal = 0;
          for (let k = direct - 4; k > 0; k--) {
            range >>>= 1;
            code = (code - range) | 0;
            const t = code >> 31; // -1 when code was below range: bit 0
            code = (code + (range & t)) | 0;
            bitsVal = (bitsVal << 1) + (t + 1);
            if ((range >>> 24) === 0) {
              range <<= 8;
              code = (code << 8) | inBuf[inPos++];
            }
          }
          dist = (dist + (bitsVal << 4)) | 0;
          m = 1;
          for (let k = 0; k < 4; k++) {
            i = ALIGN + m;
            pr = probs[i];
            bound = Math.imul(range >>> 11, pr);
            if (code >>> 0 < bound >>> 0) {
              range = bound;
              probs[i] = pr + ((2048 - pr) >>> 5);
              m <<= 1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = pr - (pr >>> 5);
              m = (m << 1) | 1;
              dist |= 1 << k;
            }
            if ((range >>> 24) === 0) {
              range <<= 8;
              code = (code << 8) | inBuf[inPos++];
            }
          }
        }
      }
      if (dist === -1) {
        // end marker (distance 0xffffffff)
        if (!atEnd && known >= 0) {
          throw corrupt(src, inPos, inEnd, eof, 'end marker before the declared uncompressed size');
        }
        break main;
      }
      if (atEnd) throw corrupt(src, inPos, inEnd, eof, 'data continues after the declared uncompressed size');
      if (dist >>> 0 >= dictLimit || (base === 0 && dist >= pos)) {
        throw corrupt(
          src,
          inPos,
          inEnd,
          eof,
          `match distance ${(dist >>> 0) + 1} is beyond the ${base === 0 ? pos : dictLimit} bytes of the dictionary`,
        );
      }
      rep3 = rep2;
      rep2 = rep1;
      rep1 = rep0;
      rep0 = dist;
      state = state < 7 ? 7 : 10;
    }

    // ---- copy len bytes from rep0 + 1 back
    let s = pos - rep0 - 1;
    if (s < 0) s += ringSize;
    if (len < flushAt - pos && len <= ringSize - s) {
      // the usual case: no flush, no wrap
      if (rep0 === 0) {
        dict.fill(dict[s], pos, pos + len);
        pos += len;
      } else {
        const e = pos + len;
        while (pos < e) dict[pos++] = dict[s++];
      }
      continue;
    }
    let rem = len;
    for (;;) {
      let n = rem;
      if (n > flushAt - pos) n = flushAt - pos;
      if (n > ringSize - s) n = ringSize - s;
      rem -= n;
      const e = pos + n;
      if (rep0 === 0) {
        // a run of the previous byte (fill is much faster; copyWithin was measured no faster
        // than the loop for other distances)
        dict.fill(dict[s], pos, e);
        pos = e;
        s += n;
      } else {
        while (pos < e) dict[pos++] = dict[s++];
      }
      if (s === ringSize) s = 0;
      if (pos === flushAt) {
        if (pos > flushStart) sink(dict.subarray(flushStart, pos));
        if (pos === ringSize) {
          pos = 0;
          base += ringSize;
        }
        flushStart = pos;
        flushAt = nextFlush(pos, ringSize, knownEnd - base);
        if (base + pos === knownEnd) {
          if (rem > 0) throw corrupt(src, inPos, inEnd, eof, 'match goes past the declared uncompressed size');
          atEnd = true;
        }
      }
      if (rem === 0) break;
    }
  }

  if (inPos > inEnd) throw truncated(src, inEnd);
  if (code !== 0) throw corrupt(src, inPos, inEnd, eof, 'range coder did not finish cleanly');
  if (pos > flushStart) sink(dict.subarray(flushStart, pos));
  src.skip(inPos);
}

function nextFlush(pos: number, ringSize: number, knownInRing: number): number {
  let f = pos + CHUNK;
  if (f > ringSize) f = ringSize;
  if (knownInRing < f) f = knownInRing;
  return f;
}
