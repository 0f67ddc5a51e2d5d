import { FormatError } from '../errors.js';
import { hex } from './bytes.js';
import type { ByteSource } from './source.js';
import { eventLoopTurn } from './turn.js';
import type { Decoder, Sink } from './types.js';

/*
 * A bzip2 decoder written from the format.
 *
 * One member is one stream: "BZh1".."BZh9", blocks (each: 48-bit magic 0x314159265359, block
 * CRC, randomised bit, origPtr, used-byte map, Huffman groups, selectors, code lengths, the
 * Huffman-coded MTF/RLE2 symbols), then the end-of-stream magic 0x177245385090, the combined
 * CRC and padding bits to a byte boundary. Blocks are bit-aligned, not byte-aligned.
 *
 * Per block: Huffman decode (a lookup table on the next LUT_BITS bits, canonical-code search
 * for longer codes) -> undo RLE2 (RUNA/RUNB runs of the front byte) and MTF -> counting sort
 * that links every byte of the BWT's last column to its successor -> walk the links from
 * origPtr, undoing RLE1 (4 equal bytes, then a count byte) and computing the block CRC in the
 * same pass, straight into the output chunk.
 *
 * Memory is fixed per call: the block vector (4 bytes per byte of block size, sized by the
 * stream's level, at most 3.6 MB), a 1 MiB output chunk and a few small tables, all allocated
 * once and reused for every block.
 *
 * The bit reader works on ByteSource.peek() views with a 32-bit accumulator. It may hold up to
 * 4 bytes beyond the bits used so far; when the stream ends the source is set back to the byte
 * after the one holding the combined CRC's last bit, so a following stream or padding is left
 * for the caller.
 *
 * The MTF list is kept as 16 segments of 16 entries that slide down a 4096-byte array, so
 * moving a far entry to the front costs at most 15 byte moves plus one slot per segment.
 *
 * Randomised blocks (an obsolete feature of early bzip2 versions; later ones never set the
 * bit) are rejected, as the kernel's decompressor and seek-bzip reject them.
 */

/** Output is pushed to the sink in chunks of this size. */
const CHUNK = 1 << 20;
const GROUP_SIZE = 50;
const MAX_GROUPS = 6;
/** 256 byte values as MTF indices 1..255 -> symbols 2..256, plus RUNA, RUNB and EOB */
const MAX_ALPHA = 258;
/** bzip2's limit (2 + 900000 / 50); more are read and ignored, as bzip2 1.0.8 does */
const MAX_SELECTORS = 18002;
const MAX_CODE_LEN = 20;
/** Huffman codes up to this long decode with one table look-up. */
const LUT_BITS = 10;
const LUT_SIZE = 1 << LUT_BITS;
const LUT_MASK = LUT_SIZE - 1;
/** The bit reader tops up to more than this before each Huffman symbol (>= MAX_CODE_LEN). */
const REFILL_BELOW = 20;
const LEN_SLOTS = MAX_CODE_LEN + 1;
/** room for the MTF list's segments to move down before they are packed again */
const MTFA_SIZE = 4096;

const BLOCK_MAGIC_HI = 0x314159;
const BLOCK_MAGIC_LO = 0x265359;
const EOS_MAGIC_HI = 0x177245;
const EOS_MAGIC_LO = 0x385090;

/** The bzip2 CRC: CRC-32 with polynomial 0x04c11db7, not reflected (MSB first). */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c;
  }
  return t;
})();

class Bunzip2 {
  // --- bit reader: buf[pos..end) not yet read; the low bitCount bits of bitBuf are unread ---
  private buf: Uint8Array;
  private pos = 0;
  private end: number;
  private bitBuf = 0;
  private bitCount = 0;

  // --- output ---
  private readonly out = new Uint8Array(CHUNK);
  private outPos = 0;

  // --- block state, allocated once per stream ---
  private blockMax = 0;
  private tt = new Uint32Array(0);
  private readonly counts = new Int32Array(256);
  private readonly seqToUnseq = new Uint8Array(256);
  /** the MTF list: 16 segments of 16 entries, segment k at mtfa[mtfBase[k]..+16) */
  private readonly mtfa = new Uint8Array(MTFA_SIZE);
  private readonly mtfBase = new Int32Array(16);
  private readonly selectors = new Uint8Array(MAX_SELECTORS);
  private readonly lengths = new Uint8Array(MAX_GROUPS * MAX_ALPHA);
  /** per group, LUT_SIZE entries of (symbol << 5 | code length); 0: longer code or none */
  private readonly lut = new Uint16Array(MAX_GROUPS * LUT_SIZE);
  /** per group and code length: first canonical code, number of codes, index of the first in perm */
  private readonly firstCode = new Int32Array(MAX_GROUPS * LEN_SLOTS);
  private readonly lenCount = new Int32Array(MAX_GROUPS * LEN_SLOTS);
  private readonly permStart = new Int32Array(MAX_GROUPS * LEN_SLOTS);
  private readonly maxLen = new Int32Array(MAX_GROUPS);
  /** per group, the symbols in canonical order (by code length, then by symbol) */
  private readonly perm = new Uint16Array(MAX_GROUPS * MAX_ALPHA);
  private readonly scratch = new Int32Array(LEN_SLOTS);

  /** the block being decoded, for messages */
  private blockNo = 0;

  constructor(
    private readonly src: ByteSource,
    private readonly sink: Sink,
  ) {
    this.buf = src.peek();
    this.end = this.buf.length;
  }

  async run(): Promise<void> {
    const start = this.src.offset;
    const b = this.bits(8);
    const z = this.bits(8);
    const h = this.bits(8);
    const level = this.bits(8);
    if (b !== 0x42 || z !== 0x5a || h !== 0x68) throw new FormatError('not a bzip2 stream (no "BZh" magic)', start);
    if (level < 0x31 || level > 0x39) {
      throw new FormatError(`not a bzip2 stream: block size byte 0x${hex(level)} is not '1'..'9'`, start);
    }
    this.blockMax = (level - 0x30) * 100_000;
    this.tt = new Uint32Array(this.blockMax);

    let combined = 0;
    for (;;) {
      const at = this.byteAt();
      const hi = this.bits(24);
      const lo = this.bits(24);
      if (hi === BLOCK_MAGIC_HI && lo === BLOCK_MAGIC_LO) {
        this.blockNo++;
        const stored = this.bits32();
        const computed = this.block();
        if (computed !== stored) {
          throw new FormatError(
            `bzip2 block ${this.blockNo}: CRC mismatch: stored ${hex(stored, 8)}, computed ${hex(computed, 8)}`,
            at,
          );
        }
        combined = (((combined << 1) | (combined >>> 31)) ^ stored) >>> 0;
        await eventLoopTurn();
      } else if (hi === EOS_MAGIC_HI && lo === EOS_MAGIC_LO) {
        const crcAt = this.byteAt();
        const stored = this.bits32();
        if (stored !== combined) {
          throw new FormatError(`bzip2 stream CRC mismatch: stored ${hex(stored, 8)}, computed ${hex(combined, 8)}`, crcAt);
        }
        break;
      } else {
        throw new FormatError(`corrupt bzip2 data: no block or end-of-stream magic after block ${this.blockNo}`, at);
      }
    }
    this.flush();
    // Give back whole bytes the accumulator holds beyond the stream's last bit.
    this.src.skip(this.pos);
    this.pos = 0;
    this.end = 0;
    const extra = this.bitCount >> 3;
    if (extra > 0) this.src.seek(this.src.offset - extra);
  }

  // ---------------------------------------------------------------- bit reader

  /** Absolute offset of the byte that holds the next unread bit. */
  private byteAt(): number {
    return this.src.offset + this.pos - ((this.bitCount + 7) >> 3);
  }

  /** Moves to the next peek() view, consuming the current one. */
  private nextView(): void {
    this.src.skip(this.pos);
    this.buf = this.src.peek();
    this.pos = 0;
    this.end = this.buf.length;
    if (this.end === 0) throw new FormatError('truncated bzip2 stream', this.src.offset);
  }

  /** The next n bits (n <= 24), reading only the bytes needed. */
  private bits(n: number): number {
    while (this.bitCount < n) {
      if (this.pos === this.end) this.nextView();
      this.bitBuf = (this.bitBuf << 8) | this.buf[this.pos++];
      this.bitCount += 8;
    }
    this.bitCount -= n;
    return (this.bitBuf >>> this.bitCount) & ((1 << n) - 1);
  }

  private bit(): number {
    if (this.bitCount === 0) {
      if (this.pos === this.end) this.nextView();
      this.bitBuf = this.buf[this.pos++];
      this.bitCount = 8;
    }
    return (this.bitBuf >>> --this.bitCount) & 1;
  }

  private bits32(): number {
    const hi = this.bits(16);
    return ((hi << 16) | this.bits(16)) >>> 0;
  }

  private fail(what: string): never {
    throw new FormatError(`bzip2 block ${this.blockNo}: ${what}`, this.byteAt());
  }

  // ---------------------------------------------------------------- block

  /** Decodes one block (after its CRC field) to the output; returns its computed CRC. */
  private block(): number {
    if (this.bit()) this.fail('randomised block (obsolete bzip2 0.9.0 format) is not supported');
    const origPtr = this.bits(24);
    if (origPtr >= this.blockMax) this.fail(`origPtr ${origPtr} is beyond the block size ${this.blockMax}`);

    // the byte values in use, in order: MTF index i starts as byte seqToUnseq[i]
    const seqToUnseq = this.seqToUnseq;
    const used16 = this.bits(16);
    let nInUse = 0;
    for (let i = 0; i < 16; i++) {
      if (used16 & (0x8000 >>> i)) {
        const used = this.bits(16);
        for (let j = 0; j < 16; j++) if (used & (0x8000 >>> j)) seqToUnseq[nInUse++] = (i << 4) | j;
      }
    }
    if (nInUse === 0) this.fail('no byte values in use');
    const alphaSize = nInUse + 2;

    const nGroups = this.bits(3);
    if (nGroups < 2 || nGroups > MAX_GROUPS) this.fail(`${nGroups} Huffman groups (must be 2..6)`);
    const nSelectors = this.bits(15);
    if (nSelectors === 0) this.fail('no selectors');

    // selectors: unary-coded MTF indices over the group numbers
    const selectors = this.selectors;
    let groupMtf = 0x543210; // 4 bits per entry, front in the low bits
    for (let i = 0; i < nSelectors; i++) {
      let j = 0;
      while (this.bit()) {
        if (++j >= nGroups) this.fail('selector out of range');
      }
      if (i < MAX_SELECTORS) {
        const g = (groupMtf >>> (j << 2)) & 15;
        const below = (1 << (j << 2)) - 1; // the j entries in front of it
        groupMtf = (groupMtf & ~((below << 4) | 15)) | ((groupMtf & below) << 4) | g;
        selectors[i] = g;
      }
    }
    const nSel = Math.min(nSelectors, MAX_SELECTORS);

    // code lengths: 5-bit start, then per symbol delta-coded (1x: x=0 +1, x=1 -1; 0: done)
    const lengths = this.lengths;
    for (let t = 0; t < nGroups; t++) {
      let len = this.bits(5);
      const base = t * MAX_ALPHA;
      for (let i = 0; i < alphaSize; i++) {
        for (;;) {
          if (len < 1 || len > MAX_CODE_LEN) this.fail(`Huffman code length ${len} out of range`);
          if (!this.bit()) break;
          len += this.bit() ? -1 : 1;
        }
        lengths[base + i] = len;
      }
      this.buildTable(t, alphaSize);
    }

    const nblock = this.decodeSymbols(nInUse, nSel);
    if (origPtr >= nblock) this.fail(`origPtr ${origPtr} is beyond the block's ${nblock} bytes`);
    return this.output(nblock, origPtr);
  }

  /** Canonical Huffman tables for group t from its code lengths. */
  private buildTable(t: number, alphaSize: number): void {
    const lengths = this.lengths;
    const perm = this.perm;
    const lut = this.lut;
    const count = this.scratch;
    const lb = t * MAX_ALPHA;
    const o = t * LEN_SLOTS;
    count.fill(0);
    for (let i = 0; i < alphaSize; i++) count[lengths[lb + i]]++;

    let code = 0;
    let next = 0;
    let maxLen = 0;
    for (let len = 1; len <= MAX_CODE_LEN; len++) {
      const n = count[len];
      this.firstCode[o + len] = code;
      this.lenCount[o + len] = n;
      this.permStart[o + len] = next;
      code += n;
      if (code > 1 << len) this.fail('Huffman code lengths are oversubscribed');
      code <<= 1;
      next += n;
      if (n !== 0) maxLen = len;
      count[len] = this.permStart[o + len]; // now: next free slot in perm for this length
    }
    this.maxLen[t] = maxLen;
    for (let i = 0; i < alphaSize; i++) perm[lb + count[lengths[lb + i]]++] = i;

    const lo = t << LUT_BITS;
    lut.fill(0, lo, lo + LUT_SIZE);
    const top = Math.min(maxLen, LUT_BITS);
    for (let len = 1; len <= top; len++) {
      const n = this.lenCount[o + len];
      const first = this.firstCode[o + len];
      const p = lb + this.permStart[o + len];
      const shift = LUT_BITS - len;
      for (let k = 0; k < n; k++) {
        const entry = (perm[p + k] << 5) | len;
        const from = lo + ((first + k) << shift);
        lut.fill(entry, from, from + (1 << shift));
      }
    }
  }

  /** A code longer than LUT_BITS (or an invalid one: -1) at the top of the accumulator. */
  private slowSymbol(t: number, bitBuf: number, bitCount: number): number {
    const o = t * LEN_SLOTS;
    const maxLen = this.maxLen[t];
    for (let len = LUT_BITS + 1; len <= maxLen; len++) {
      const d = ((bitBuf >>> (bitCount - len)) & ((1 << len) - 1)) - this.firstCode[o + len];
      if (d >= 0 && d < this.lenCount[o + len]) return (this.perm[t * MAX_ALPHA + this.permStart[o + len] + d] << 5) | len;
    }
    return -1;
  }

  /**
   * Huffman-decodes the block's symbols and undoes RLE2 and MTF into tt (one byte per entry),
   * counting each byte value. Returns the number of bytes.
   */
  private decodeSymbols(nInUse: number, nSel: number): number {
    const eob = nInUse + 1;
    const tt = this.tt;
    const blockMax = this.blockMax;
    const counts = this.counts;
    const mtfa = this.mtfa;
    const mtfBase = this.mtfBase;
    const lut = this.lut;
    const selectors = this.selectors;
    counts.fill(0);
    mtfa.set(this.seqToUnseq, MTFA_SIZE - 256);
    for (let k = 0; k < 16; k++) mtfBase[k] = MTFA_SIZE - 256 + (k << 4);

    let buf = this.buf;
    let pos = this.pos;
    let end = this.end;
    let bitBuf = this.bitBuf;
    let bitCount = this.bitCount;

    let nblock = 0;
    let run = 0;
    let runWeight = 1;
    let sel = 0;
    let left = 0;
    let t = 0;
    let lutBase = 0;
    let error = '';
    for (;;) {
      if (left === 0) {
        if (sel === nSel) {
          error = 'more symbols than selectors';
          break;
        }
        t = selectors[sel++];
        lutBase = t << LUT_BITS;
        left = GROUP_SIZE;
      }
      left--;

      if (bitCount < REFILL_BELOW) {
        do {
          if (pos === end) {
            this.pos = pos;
            this.bitBuf = bitBuf;
            this.bitCount = bitCount;
            this.nextView();
            buf = this.buf;
            pos = 0;
            end = this.end;
          }
          bitBuf = (bitBuf << 8) | buf[pos++];
          bitCount += 8;
        } while (bitCount <= 24);
      }
      let e = lut[lutBase + ((bitBuf >>> (bitCount - LUT_BITS)) & LUT_MASK)];
      if (e === 0) {
        e = this.slowSymbol(t, bitBuf, bitCount);
        if (e < 0) {
          error = 'invalid Huffman code';
          break;
        }
      }
      bitCount -= e & 31;
      const sym = e >>> 5;

      if (sym <= 1) {
        // RUNA adds 1 x weight, RUNB 2 x weight; the weight doubles with each digit
        run += runWeight << sym;
        runWeight <<= 1;
        if (run > blockMax) {
          error = 'run longer than the block';
          break;
        }
        continue;
      }
      if (run !== 0) {
        if (run > blockMax - nblock) {
          error = 'more bytes than the block size';
          break;
        }
        const uc = mtfa[mtfBase[0]];
        counts[uc] += run;
        if (run < 16) {
          for (let k = nblock + run; nblock < k; nblock++) tt[nblock] = uc;
        } else {
          tt.fill(uc, nblock, nblock + run);
          nblock += run;
        }
        run = 0;
        runWeight = 1;
      }
      if (sym === eob) break;

      // MTF index sym - 1: move that byte to the front. Within segment 0 that shifts up to 15
      // entries; from segment k, the entry leaves its segment, each segment k-1..0 passes its
      // last entry to the front of the next (moving down one slot), and it goes in front.
      const v = sym - 1;
      let uc: number;
      if (v < 16) {
        const b0 = mtfBase[0];
        let p = b0 + v;
        uc = mtfa[p];
        for (; p > b0; p--) mtfa[p] = mtfa[p - 1];
        mtfa[b0] = uc;
      } else {
        const seg = v >> 4;
        let p = mtfBase[seg] + (v & 15);
        uc = mtfa[p];
        for (const last = mtfBase[seg] + 15; p < last; p++) mtfa[p] = mtfa[p + 1];
        for (let k = seg; k > 0; k--) {
          const b = --mtfBase[k];
          mtfa[b] = mtfa[mtfBase[k - 1] + 15];
        }
        if (mtfBase[0] === 0) packMtf(mtfa, mtfBase);
        mtfa[--mtfBase[0]] = uc;
      }
      if (nblock === blockMax) {
        error = 'more bytes than the block size';
        break;
      }
      counts[uc]++;
      tt[nblock++] = uc;
    }
    this.pos = pos;
    this.bitBuf = bitBuf;
    this.bitCount = bitCount;
    if (error) this.fail(error);
    return nblock;
  }

  /**
   * Inverse BWT of tt[0..nblock) from origPtr, then RLE1 undone and the CRC computed, into the
   * output chunk. Returns the block's CRC.
   */
  private output(nblock: number, origPtr: number): number {
    const tt = this.tt;
    const cf = this.counts;
    // counts -> first index of each byte value in the sorted first column
    let sum = 0;
    for (let c = 0; c < 256; c++) {
      const n = cf[c];
      cf[c] = sum;
      sum += n;
    }
    // link: entry at the sorted position of byte i gets i (its successor) in the high 24 bits
    for (let i = 0; i < nblock; i++) tt[cf[tt[i] & 0xff]++] |= i << 8;

    const crcTable = CRC_TABLE;
    const out = this.out;
    let op = this.outPos;
    let crc = -1;
    let last = -1;
    let same = 0;
    let tPos = tt[origPtr] >>> 8;
    for (let i = 0; i < nblock; i++) {
      const x = tt[tPos];
      tPos = x >>> 8;
      const b = x & 0xff;
      if (same === 4) {
        // after 4 equal bytes: b more of them
        same = 0;
        let n = b;
        while (n > 0) {
          if (op === CHUNK) {
            this.outPos = op;
            this.flush();
            op = 0;
          }
          const stop = op + Math.min(n, CHUNK - op);
          n -= stop - op;
          for (; op < stop; op++) {
            out[op] = last;
            crc = (crc << 8) ^ crcTable[(crc >>> 24) ^ last];
          }
        }
        continue;
      }
      if (b === last) same++;
      else {
        last = b;
        same = 1;
      }
      if (op === CHUNK) {
        this.outPos = op;
        this.flush();
        op = 0;
      }
      out[op++] = b;
      crc = (crc << 8) ^ crcTable[(crc >>> 24) ^ b];
    }
    this.outPos = op;
    return ~crc >>> 0;
  }

  private flush(): void {
    const n = this.outPos;
    if (n === 0) return;
    this.outPos = 0;
    this.sink(this.out.subarray(0, n));
  }
}

export const decodeBzip2: Decoder = async (src, sink) => {
  await new Bunzip2(src, sink).run();
};

/** Moves the MTF list's segments back to the end of mtfa, contiguous, in order. */
function packMtf(mtfa: Uint8Array, mtfBase: Int32Array): void {
  let to = MTFA_SIZE - 1;
  for (let k = 15; k >= 0; k--) {
    const from = mtfBase[k];
    for (let j = 15; j >= 0; j--) mtfa[to--] = mtfa[from + j];
    mtfBase[k] = to + 1;
  }
}

/** How much of a member `bzip2MemberEnd` reads at a time, by default. */
const SCAN_WINDOW = 1 << 20;

/** A 48-bit magic as it lies in 7 bytes when it starts `shift` bits into the first. */
interface ShiftedMagic {
  shift: number;
  /** The bytes the magic fills whole: the first six unshifted, else the second to the sixth. */
  needle: Buffer;
  /** The first and last bytes, of which the magic holds the low 8 - shift and the high shift bits. */
  first: number;
  last: number;
}

function shiftedMagics(hi: number, lo: number): ShiftedMagic[] {
  const magic = (BigInt(hi) << 24n) | BigInt(lo);
  return Array.from({ length: 8 }, (_, shift) => {
    const placed = magic << BigInt(8 - shift);
    const bytes = Array.from({ length: 7 }, (_, k) => Number((placed >> BigInt(8 * (6 - k))) & 0xffn));
    return { shift, needle: Buffer.from(shift === 0 ? bytes.slice(0, 6) : bytes.slice(1, 6)), first: bytes[0], last: bytes[6] };
  });
}

const BLOCK_MAGICS = shiftedMagics(BLOCK_MAGIC_HI, BLOCK_MAGIC_LO);
const EOS_MAGICS = shiftedMagics(EOS_MAGIC_HI, EOS_MAGIC_LO);

/**
 * The bit offsets within `view` where `magic` starts at bits [0, 8 * within): a match found by
 * its whole bytes, then checked in its partial ones (which must lie in `view`).
 */
function* magicBits(view: Buffer, within: number, magic: ShiftedMagic): Generator<number> {
  const lead = magic.shift === 0 ? 0 : 1;
  const low = 0xff >> magic.shift;
  const high = ~low & 0xff;
  for (let j = view.indexOf(magic.needle, lead); j >= 0; j = view.indexOf(magic.needle, j + 1)) {
    const i = j - lead;
    if (i >= within) return;
    if (magic.shift !== 0 && (i + 6 >= view.length || (view[i] & low) !== (magic.first & low) || (view[i + 6] & high) !== (magic.last & high))) continue;
    yield i * 8 + magic.shift;
  }
}

/**
 * Where the bzip2 stream at `src.offset` ends, for a co-process: after the first end-of-stream
 * magic (found by its bits, as the blocks are bit-aligned and record no sizes), its CRC and
 * the padding to a byte. Undefined leaves the member to our decoder: no such magic (it finds
 * the error), or a block magic before it with the randomised bit set (lbzip2 reads those; the
 * kernel does not). A magic that turns up inside compressed data only cuts the member short
 * or sends it to us: the co-process then fails and our decoder reads it, or ours reads it first.
 */
export function bzip2MemberEnd(src: ByteSource, window = SCAN_WINDOW): number | undefined {
  const start = src.offset;
  const head = src.peek(4);
  if (head.length < 4 || head[0] !== 0x42 || head[1] !== 0x5a || head[2] !== 0x68 || head[3] < 0x31 || head[3] > 0x39) return undefined;
  let eos = Infinity;
  // Each read takes the 6 bytes after the window too: a magic that starts in it is whole.
  const reader = src.withWindow(window + 6);
  for (let at = start + 4; at < src.size && eos === Infinity; at += window) {
    reader.seek(at);
    const read = reader.peek(window + 6);
    const view = Buffer.from(read.buffer, read.byteOffset, read.length);
    const within = Math.min(window, view.length);
    for (const magic of EOS_MAGICS) {
      const first = magicBits(view, within, magic).next();
      if (!first.done) eos = Math.min(eos, at * 8 + first.value);
    }
    // Checked as found, before the end-of-stream magic only: nothing is kept per block.
    for (const magic of BLOCK_MAGICS) {
      for (const bit of magicBits(view, within, magic)) {
        if (at * 8 + bit >= eos) break;
        // The randomised bit follows the block's magic and CRC.
        const flag = bit + 48 + 32;
        const byte = flag >> 3 < view.length ? view[flag >> 3] : src.readAt(at + (flag >> 3), 1)[0];
        if ((byte >> (7 - (flag & 7))) & 1) return undefined;
      }
    }
  }
  if (eos === Infinity) return undefined;
  const end = Math.ceil((eos + 48 + 32) / 8);
  return end <= src.size ? end : undefined;
}
