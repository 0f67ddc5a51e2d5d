import { freeNow } from '../decode/source.js';
import { descendingOrder } from './directory-runs.js';
import { type PathTable, grown } from './path-table.js';
import { RECORD_HEADER, type ScratchFile, recordLength } from './scratch-file.js';

/*
 * A record (recordLength): the group's key in four words (ino, devmajor, devminor, file type),
 * the length of its first name, then the name's bytes up to a word's end.
 */
/** Records a block of the index holds: a lookup reads one block of a run. */
const BLOCK = 64;

/** The groups held in memory, by number: their keys, and each one's first name in `names`. */
export interface GroupColumns {
  readonly count: number;
  readonly inos: Uint32Array;
  readonly majors: Uint32Array;
  readonly minors: Uint32Array;
  readonly types: Uint16Array;
  readonly firstNames: Int32Array;
  readonly names: PathTable;
}

/**
 * Hard-link groups past what memory holds, in runs in a scratch file, each sorted by key: the
 * kernel keeps every group until the trailer, and an archive may hold hundreds of thousands. In
 * memory, for each run a Bloom filter of its keys, sized for them (a run that does not hold a
 * key is read for it once in some thousands), and for each block of 64 records its first key and
 * where it starts: about 2.4 to 4.8 bytes a group (the index grows as grown() grows arrays),
 * where a group in memory takes about 95. A lookup
 * reads one block of each run whose filter lets the key through, newest first, until it finds
 * it; a key is in one run at most, as a group is added only where it was not found. The runs are
 * never merged: a lookup asks each run's filter, a bit or two of it where the key is not there.
 */
export class HardLinkRuns {
  /** By block of every run: its first record's key, four words, and where it starts in the file. */
  private blockKeys = new Uint32Array(4 * 256);
  private blockStarts = new Float64Array(256);
  private blocks = 0;
  /** By run: its blocks, where it ends in the file, and the filter of its keys. */
  private readonly runs: { firstBlock: number; endBlock: number; end: number; filter: Uint32Array }[] = [];
  private block = new Uint32Array(1024);

  constructor(private readonly file: ScratchFile) {}

  /** Writes `groups` out as a run. */
  append(groups: GroupColumns): void {
    const { count, inos, majors, minors, types, firstNames, names } = groups;
    // The keys big-endian, so that their byte order is the order of their words.
    const pool = new Uint8Array(16 * count);
    const starts = new Uint32Array(count + 1);
    for (let g = 0; g < count; g++) {
      putWord(pool, 16 * g, inos[g]);
      putWord(pool, 16 * g + 4, majors[g]);
      putWord(pool, 16 * g + 8, minors[g]);
      putWord(pool, 16 * g + 12, types[g]);
      starts[g + 1] = 16 * (g + 1);
    }
    const order = descendingOrder(pool, starts).reverse();
    freeNow(pool.buffer);
    freeNow(starts.buffer);
    const firstBlock = this.blocks;
    const filter = newFilter(count);
    const words = this.file.outWords;
    for (let i = 0; i < count; i++) {
      const g = order[i];
      if (i % BLOCK === 0) this.addBlock(inos[g], majors[g], minors[g], types[g], this.file.position);
      const length = names.pathLength(firstNames[g]);
      const at = this.file.room(recordLength(length));
      const word = at >>> 2;
      words[word] = inos[g];
      words[word + 1] = majors[g];
      words[word + 2] = minors[g];
      words[word + 3] = types[g];
      words[word + 4] = length;
      names.writePath(firstNames[g], this.file.out, at + RECORD_HEADER);
      addKey(filter, inos[g], majors[g], minors[g], types[g]);
    }
    freeNow(order.buffer);
    this.file.flush();
    this.runs.push({ firstBlock, endBlock: this.blocks, end: this.file.written, filter });
  }

  /** The first name of the group of this key, or undefined where no run holds it; in memory that the next call reuses. */
  find(ino: number, major: number, minor: number, type: number): Buffer | undefined {
    if (this.runs.length === 0) return undefined;
    const h1 = keyHash(ino, major, minor, type);
    const h2 = secondHash(h1);
    for (let r = this.runs.length - 1; r >= 0; r--) {
      const { firstBlock, endBlock, end, filter } = this.runs[r];
      if (!mayHold(filter, h1, h2)) continue;
      // The last block whose first key is not past this one.
      let low = firstBlock;
      let high = endBlock;
      while (low < high) {
        const middle = (low + high) >>> 1;
        const k = 4 * middle;
        const keys = this.blockKeys;
        if (compareKeys(keys[k], keys[k + 1], keys[k + 2], keys[k + 3], ino, major, minor, type) <= 0) low = middle + 1;
        else high = middle;
      }
      if (low === firstBlock) continue;
      const b = low - 1;
      const found = this.findInBlock(this.blockStarts[b], b + 1 < endBlock ? this.blockStarts[b + 1] : end, ino, major, minor, type);
      if (found) return found;
    }
    return undefined;
  }

  /** Closes the file and frees the index at once: they are not used again. */
  release(): void {
    this.file.close();
    for (const run of this.runs) freeNow(run.filter.buffer);
    for (const array of [this.blockKeys, this.blockStarts, this.block]) freeNow(array.buffer);
  }

  private findInBlock(from: number, to: number, ino: number, major: number, minor: number, type: number): Buffer | undefined {
    const length = to - from;
    if (length > this.block.byteLength) {
      const words = Math.max(2 * this.block.length, length >>> 2);
      freeNow(this.block.buffer);
      this.block = new Uint32Array(words);
    }
    const bytes = Buffer.from(this.block.buffer);
    this.file.readBack(bytes.subarray(0, length), from);
    const words = this.block;
    for (let at = 0; at < length; ) {
      if (at + RECORD_HEADER > length) this.file.cutShort();
      const word = at >>> 2;
      const order = compareKeys(words[word], words[word + 1], words[word + 2], words[word + 3], ino, major, minor, type);
      const next = at + recordLength(words[word + 4]);
      if (next > length) this.file.cutShort();
      if (order === 0) return bytes.subarray(at + RECORD_HEADER, at + RECORD_HEADER + words[word + 4]);
      if (order > 0) return undefined;
      at = next;
    }
    return undefined;
  }

  private addBlock(ino: number, major: number, minor: number, type: number, start: number): void {
    const b = this.blocks++;
    const k = 4 * b;
    // Each by its own index: grown's steps are not proportional to the length past 2^16.
    this.blockStarts = grown(this.blockStarts, b);
    this.blockKeys = grown(this.blockKeys, k + 3);
    this.blockKeys[k] = ino;
    this.blockKeys[k + 1] = major;
    this.blockKeys[k + 2] = minor;
    this.blockKeys[k + 3] = type;
    this.blockStarts[b] = start;
  }
}

function putWord(bytes: Uint8Array, at: number, word: number): void {
  bytes[at] = word >>> 24;
  bytes[at + 1] = word >>> 16;
  bytes[at + 2] = word >>> 8;
  bytes[at + 3] = word;
}

/** Negative, zero or positive as key a is before, the same as or after key b. */
function compareKeys(a0: number, a1: number, a2: number, a3: number, b0: number, b1: number, b2: number, b3: number): number {
  return a0 !== b0 ? a0 - b0 : a1 !== b1 ? a1 - b1 : a2 !== b2 ? a2 - b2 : a3 - b3;
}

/** The hash of a group's key, for the writer's table in memory and the filter. */
export function keyHash(ino: number, major: number, minor: number, type: number): number {
  let h = Math.imul(ino ^ 0x811c9dc5, 0x9e3779b1);
  h = Math.imul(h ^ major, 0x01000193);
  h = Math.imul(h ^ minor, 0x01000193);
  h = Math.imul(h ^ type, 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

const BITS_PER_KEY = 16;
/** Bits a key sets: with 16 bits a key or more, a false positive in about 1,700 lookups or fewer. */
const PROBES = 8;

/** A Bloom filter for `keys` keys: a power of two of bits, 16 a key or more. */
function newFilter(keys: number): Uint32Array {
  let bits = 1024;
  while (bits < keys * BITS_PER_KEY) bits *= 2;
  return new Uint32Array(bits / 32);
}

function addKey(filter: Uint32Array, ino: number, major: number, minor: number, type: number): void {
  const mask = filter.length * 32 - 1;
  const h1 = keyHash(ino, major, minor, type);
  const h2 = secondHash(h1);
  for (let i = 0; i < PROBES; i++) {
    const bit = (h1 + Math.imul(i, h2)) & mask;
    filter[bit >>> 5] |= 1 << (bit & 31);
  }
}

/** Whether `filter` may hold the key hashed to h1 and h2: false at its first probe that finds no bit, most often the first or second. */
function mayHold(filter: Uint32Array, h1: number, h2: number): boolean {
  const mask = filter.length * 32 - 1;
  for (let i = 0; i < PROBES; i++) {
    const bit = (h1 + Math.imul(i, h2)) & mask;
    if ((filter[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
  }
  return true;
}

/** Odd, so that its multiples step through every bit of a filter. */
function secondHash(h1: number): number {
  let h = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 1;
}
