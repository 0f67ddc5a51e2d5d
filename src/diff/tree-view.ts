import { ENTRY_TYPES, type EntryType } from '../cpio/entry.js';
import { freeNow, outOfHeap, outOfHeapArray } from '../decode/source.js';
import { PathTable, grown } from '../extract/path-table.js';
import { type ScratchFile, padded } from '../extract/scratch-file.js';
import { sortInPlace } from '../extract/sort.js';

/** The owner, mode and mtime of what is at a path. */
export interface Attributes {
  /** Of which the permission bits (07777) are kept; a symlink's are meaningless on Linux and not compared. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds; undefined for a directory the archive never named, made only to hold its entries. */
  mtime?: number;
}

/** No record, no inode, no group. */
export const NONE = -1;

/**
 * A tree as a comparison looks at it, while it is described. Each path of the tree has a
 * record, and, unless it is a directory, an inode, which the names of a hard-link group share.
 * A record is a type, owner, mode and mtime, and a regular file's size and sha256, a symlink's
 * target or a device's numbers, written to the view's scratch file as it is made: memory keeps
 * only its place (records in typed arrays took some 50 bytes each, an object per path
 * hundreds), and by path number the record and the inode. Paths are numbered in a PathTable,
 * which the builder of the view may number its own paths in too: a path without a record is
 * not in it. Once described, the view is written out in path order (sortInto), and a
 * comparison reads that.
 */
export class TreeView {
  /** By a path's number: its record, or NONE. */
  private recordAt = new Int32Array(1024).fill(NONE);
  /** By a path's number: its inode, or NONE; its group's number once sortInto has numbered them. */
  private inodeAt = new Int32Array(1024).fill(NONE);
  /** By a record's number: where it is in the scratch file, in words. */
  private placeOf = new Uint32Array(1024);
  private records = 0;

  readonly paths = new PathTable();

  /** `scratch`: empty, the view's alone, closed by its release, or by the SortedTree sortInto gives it to. */
  constructor(private readonly scratch: ScratchFile) {}

  /** Frees the view's memory at once, as PathTable.release does, and closes its file: the view is not used again. */
  release(): void {
    this.freeMemory();
    this.scratch.close();
  }

  /**
   * A new record of a `type` with `attributes`, and `bytes` (a regular file's sha256, a
   * symlink's target, a device's numbers as deviceBytes gives them) and `size` (a regular file's).
   */
  addRecord(type: EntryType, attributes: Attributes, bytes: Uint8Array = NO_BYTES, size = 0): number {
    const record = this.records++;
    this.placeOf = grown(this.placeOf, record);
    const at = this.scratch.room(CONTENT_WORDS * 4 + padded(bytes.length));
    this.placeOf[record] = (this.scratch.written + at) / 4;
    const words = this.scratch.outWords;
    const w = at >> 2;
    words[w + TYPE] = ENTRY_TYPES.indexOf(type);
    words[w + MODE] = attributes.mode & 0o7777;
    words[w + UID] = attributes.uid;
    words[w + GID] = attributes.gid;
    setFloat(words, w + MTIME, attributes.mtime ?? NaN);
    setFloat(words, w + SIZE, size);
    words[w + BYTES] = bytes.length;
    this.scratch.out.set(bytes, at + CONTENT_WORDS * 4);
    return record;
  }

  /** A new regular file's record with `attributes` and the content of record `from`: a hard link's, whose data another entry gave. */
  addCopy(attributes: Attributes, from: number): number {
    const place = this.placeOf[from] * 4;
    const header = new Uint32Array(CONTENT_WORDS);
    this.scratch.readBack(new Uint8Array(header.buffer), place);
    const bytes = new Uint8Array(header[BYTES]);
    this.scratch.readBack(bytes, place + CONTENT_WORDS * 4);
    return this.addRecord('file', attributes, bytes, getFloat(header, SIZE));
  }

  /** What is at the path numbered `path`: `record`, and `inode` (NONE for a directory, or a name with no other). */
  put(path: number, record: number, inode: number): void {
    this.recordAt = grown(this.recordAt, path, NONE);
    this.inodeAt = grown(this.inodeAt, path, NONE);
    this.recordAt[path] = record;
    this.inodeAt[path] = inode;
  }

  /**
   * Writes the view out as a SortedTree, into its scratch file after the records, and frees its
   * memory: a tree is held in memory only while it is described, so that a comparison of two
   * holds one at a time (but where the file is in memory). The view is not used again; the
   * SortedTree has its file.
   */
  sortInto(): SortedTree {
    const { scratch } = this;
    scratch.flush();
    // Each record's length is where the next starts: the end of the last one after it.
    this.placeOf = grown(this.placeOf, this.records);
    this.placeOf[this.records] = scratch.written / 4;
    const sorted = this.order();
    // The names of each inode of two or more (a hard-link group) in path order, by a counting sort
    // over the sorted paths, from the last. Arrays by group, not by inode: most inodes have one
    // name, and four arrays by inode took 6 MB at 300,300 files (with the names, 7.2 MB more in
    // process.memoryUsage().arrayBuffers from the sort to the groups written, in a copy of
    // `dist`, by hand).
    let inodes = 0;
    for (const path of sorted) inodes = Math.max(inodes, this.inodeAt[path] + 1);
    /** By inode: how many names it has, then its group's number, or NONE where it has fewer than two. */
    const groupOf = outOfHeapArray(Int32Array, inodes);
    for (const path of sorted) if (this.inodeAt[path] !== NONE) groupOf[this.inodeAt[path]]++;
    let groups = 0;
    let grouped = 0;
    for (let inode = 0; inode < inodes; inode++) {
      if (groupOf[inode] < 2) continue;
      groups++;
      grouped += groupOf[inode];
    }
    /** By group: where its names end in `names`, then where they start (the end is the next one's start). */
    const namesStart = outOfHeapArray(Uint32Array, groups + 1);
    for (let inode = 0, group = 0, end = 0; inode < inodes; inode++) {
      if (groupOf[inode] < 2) {
        groupOf[inode] = NONE;
        continue;
      }
      end += groupOf[inode];
      namesStart[group] = end;
      groupOf[inode] = group++;
    }
    namesStart[groups] = grouped;
    // By path from here: its group, or NONE, in place of its inode.
    for (const path of sorted) if (this.inodeAt[path] !== NONE) this.inodeAt[path] = groupOf[this.inodeAt[path]];
    freeNow(groupOf.buffer);
    const groupByPath = this.inodeAt;
    const names = outOfHeapArray(Uint32Array, grouped);
    for (let i = sorted.length - 1; i >= 0; i--) {
      const group = groupByPath[sorted[i]];
      if (group !== NONE) names[--namesStart[group]] = sorted[i];
    }

    const writer = new FrontCoder(scratch, this.paths);
    /** By group: where its names end in the file, each group's where the one before ends. */
    const groupEnd = outOfHeapArray(Float64Array, groups);
    const groupsAt = scratch.position;
    for (let group = 0; group < groups; group++) {
      writer.restart();
      for (let i = namesStart[group]; i < namesStart[group + 1]; i++) writer.name(names[i], 0);
      groupEnd[group] = scratch.position;
    }
    freeNow(names.buffer);
    const recordsAt = scratch.position;
    writer.restart();
    const records = new RecordGatherer(scratch, this.placeOf, this.records);
    for (let first = 0; first < sorted.length; ) {
      const count = records.gather(first, sorted.length, (item) => this.recordAt[sorted[item]]);
      for (let item = 0; item < count; item++) {
        const path = sorted[first + item];
        const group = groupByPath[path];
        const from = records.starts[item];
        const length = records.starts[item + 1] - from;
        const link = writer.name(path, LINK_WORDS * 4 + length);
        const words = scratch.outWords;
        words[link + GROUP] = group;
        if (group === NONE) {
          words[link + GROUP_NAMES] = 0;
          setFloat(words, link + GROUP_AT, 0);
          words[link + GROUP_LENGTH] = 0;
        } else {
          const groupAt = group === 0 ? groupsAt : groupEnd[group - 1];
          words[link + GROUP_NAMES] = namesStart[group + 1] - namesStart[group];
          setFloat(words, link + GROUP_AT, groupAt);
          words[link + GROUP_LENGTH] = groupEnd[group] - groupAt;
        }
        records.buffer.copy(scratch.out, (link + LINK_WORDS) * 4, from, from + length);
      }
      first += count;
    }
    records.release();
    scratch.flush();
    for (const array of [sorted, namesStart, groupEnd]) freeNow(array.buffer);
    this.freeMemory();
    return new SortedTree(scratch, recordsAt, scratch.written, groups);
  }

  private freeMemory(): void {
    for (const array of [this.recordAt, this.inodeAt, this.placeOf]) freeNow(array.buffer);
    this.paths.release();
  }

  /** The paths in the view, by number, in the order of their bytes. */
  private order(): Uint32Array {
    let count = 0;
    for (let path = 0; path < this.recordAt.length; path++) if (this.recordAt[path] !== NONE) count++;
    const sorted = outOfHeapArray(Uint32Array, count);
    for (let path = 0, at = 0; path < this.recordAt.length; path++) if (this.recordAt[path] !== NONE) sorted[at++] = path;
    return sortInPlace(sorted, (a, b) => this.paths.compare(a, b));
  }
}

/** A device's numbers as a record holds them. */
export function deviceBytes(major: number, minor: number): Uint8Array {
  return new Uint8Array(new Uint32Array([major, minor]).buffer);
}

const NO_BYTES = new Uint8Array(0);

/*
 * A TreeView's scratch file: each record as it is made (its content: type, owner, mode, mtime,
 * size and bytes); then, written at the end, a SortedTree: the names of each hard-link group,
 * then a record for each path in path order, its name, its group, and its content copied. A
 * path, a group's name or a record's, is written as the bytes it shares with the one before it
 * and the rest (front coding: a tree's paths in order share most of their bytes, and one deep
 * directory of many names would otherwise take its depth a name). Words in the host's order,
 * as ScratchFile writes them.
 */
/** A name's two words: the bytes it shares with the name before, and how many follow, which come next (up to a word's end). */
const SHARED = 0;
const SUFFIX = 1;
const NAME_WORDS = 2;
/** A path record's words after its name: its group, then its content. */
const GROUP = 0;
const GROUP_NAMES = 1;
/** A float64 in two words, as MTIME and SIZE are. */
const GROUP_AT = 2;
const GROUP_LENGTH = 4;
const LINK_WORDS = 5;
/** A content's words, then its bytes (a file's sha256, a symlink's target, a device's numbers), up to a word's end. */
const TYPE = 0;
const MODE = 1;
const UID = 2;
const GID = 3;
const MTIME = 4;
const SIZE = 6;
const BYTES = 8;
const CONTENT_WORDS = 9;

const float = new Float64Array(1);
const floatWords = new Uint32Array(float.buffer);

function setFloat(words: Uint32Array, at: number, value: number): void {
  float[0] = value;
  words[at] = floatWords[0];
  words[at + 1] = floatWords[1];
}

function getFloat(words: Uint32Array, at: number): number {
  floatWords[0] = words[at];
  floatWords[1] = words[at + 1];
  return float[0];
}

/** Writes paths of a table into a scratch file, each as the bytes it shares with the one before and the rest. */
class FrontCoder {
  private previous = Buffer.allocUnsafeSlow(256);
  private previousLength = 0;
  private current = Buffer.allocUnsafeSlow(256);

  constructor(private readonly scratch: ScratchFile, private readonly paths: PathTable) {}

  /** The next name starts a new list: it shares nothing. */
  restart(): void {
    this.previousLength = 0;
  }

  /** Writes the path numbered `path` with room for `after` more bytes of its record: returns the word where they start. */
  name(path: number, after: number): number {
    const length = this.paths.pathLength(path);
    if (length > this.current.length) this.current = Buffer.allocUnsafeSlow(length * 2);
    this.paths.writePath(path, this.current, 0);
    const limit = Math.min(length, this.previousLength);
    let shared = 0;
    while (shared < limit && this.current[shared] === this.previous[shared]) shared++;
    const at = this.scratch.room(NAME_WORDS * 4 + padded(length - shared) + after);
    const words = this.scratch.outWords;
    words[(at >> 2) + SHARED] = shared;
    words[(at >> 2) + SUFFIX] = length - shared;
    this.current.copy(this.scratch.out, at + NAME_WORDS * 4, shared, length);
    [this.previous, this.current] = [this.current, this.previous];
    this.previousLength = length;
    return (at >> 2) + NAME_WORDS + (padded(length - shared) >> 2);
  }
}

/**
 * What is at one path of a SortedTree, as it reads it: one object that the next record read
 * changes, its path and bytes in the reader's memory (each Buffer made only when asked for).
 */
export class PathRecord {
  type: EntryType = 'file';
  /** The permission bits. */
  mode = 0;
  uid = 0;
  gid = 0;
  /** NaN where unknown. */
  mtime = NaN;
  size = 0;
  /** The number of its hard-link group in its tree, or NONE where the path is its inode's only name. */
  group = NONE;
  /** How many names its group has, this one included; where they are in the file, and how many bytes. */
  groupNames = 0;
  groupAt = 0;
  groupLength = 0;
  /** @internal Where the path's bytes are, and the record's bytes. */
  pathData = EMPTY;
  pathLength = 0;
  data = EMPTY;
  bytesAt = 0;
  bytesLength = 0;

  get path(): Buffer {
    return this.pathData.subarray(0, this.pathLength);
  }

  /** A regular file's sha256, a symlink's target or a device's numbers (two words in the host's order). */
  get bytes(): Buffer {
    return this.data.subarray(this.bytesAt, this.bytesAt + this.bytesLength);
  }

  /** The order of the two paths by their bytes, as Buffer.compare gives it. */
  comparePath(other: PathRecord): number {
    return this.pathData.compare(other.pathData, 0, other.pathLength, 0, this.pathLength);
  }

  sameBytes(other: PathRecord): boolean {
    return this.bytesLength === other.bytesLength && this.data.compare(other.data, other.bytesAt, other.bytesAt + other.bytesLength, this.bytesAt, this.bytesAt + this.bytesLength) === 0;
  }
}

const EMPTY = Buffer.alloc(0);

const READ_BUFFER = 1 << 16;

/**
 * A tree's paths in the order of their bytes, each with its record, written once (by
 * TreeView.sortInto) into a scratch file and read through, as often as asked, one record at a
 * time: a comparison holds a few records of each tree, not the trees (but where the file is in
 * memory: MemoryPages).
 */
export class SortedTree {
  constructor(
    private readonly scratch: ScratchFile,
    private readonly recordsAt: number,
    private readonly end: number,
    /** How many hard-link groups of two names or more it has, each numbered below it. */
    readonly groups: number,
  ) {}

  /**
   * Each path's record in path order, in one object that the next changes; the reader's memory
   * freed once done or stopped (validate compares one restored tree after another).
   */
  *records(): Generator<PathRecord> {
    const reader = new Reader(this.scratch, this.recordsAt, this.end);
    const record = new PathRecord();
    try {
      while (reader.more()) {
        const link = reader.nextName((LINK_WORDS + CONTENT_WORDS) * 4);
        const words = link + LINK_WORDS;
        const bytesLength = reader.word(words + BYTES);
        const length = (words + CONTENT_WORDS) * 4 + padded(bytesLength);
        reader.need(length);
        record.pathData = reader.pathBytes;
        record.pathLength = reader.pathLength;
        record.type = ENTRY_TYPES[reader.word(words + TYPE)];
        record.mode = reader.word(words + MODE);
        record.uid = reader.word(words + UID);
        record.gid = reader.word(words + GID);
        record.mtime = reader.float(words + MTIME);
        record.size = reader.float(words + SIZE);
        record.data = reader.buffer;
        record.bytesAt = reader.offset((words + CONTENT_WORDS) * 4);
        record.bytesLength = bytesLength;
        record.group = reader.word(link + GROUP) | 0;
        record.groupNames = reader.word(link + GROUP_NAMES);
        record.groupAt = reader.float(link + GROUP_AT);
        record.groupLength = reader.word(link + GROUP_LENGTH);
        reader.advance(length);
        yield record;
      }
    } finally {
      reader.release();
    }
  }

  /** The names of `record`'s group, in path order, each its own Buffer. */
  groupNamesOf(record: PathRecord): Buffer[] {
    const reader = new Reader(this.scratch, record.groupAt, record.groupAt + record.groupLength);
    const names: Buffer[] = [];
    try {
      while (reader.more()) {
        reader.advance(reader.nextName(0) * 4);
        names.push(Buffer.from(reader.pathBytes.subarray(0, reader.pathLength)));
      }
    } finally {
      reader.release();
    }
    return names;
  }

  close(): void {
    this.scratch.close();
  }
}

/**
 * Reads a run of names, a record's or a group's, from a scratch file, front coding undone. What
 * follows a name is read by its offset from the name's start, which stays where need() moves the
 * name in the buffer.
 */
class Reader {
  readonly buffer: Buffer<ArrayBuffer>;
  private readonly words: Uint32Array;
  /** The last name read, its first `pathLength` bytes, in memory that the next reuses. */
  pathBytes = Buffer.allocUnsafeSlow(256);
  pathLength = 0;
  /** Where the name being read starts in `buffer`, and where what was read ends. */
  private at = 0;
  private have = 0;

  /** No larger than what it reads: a group's names are read each into a reader of its own. */
  constructor(private readonly scratch: ScratchFile, private position: number, private readonly end: number) {
    this.buffer = Buffer.allocUnsafeSlow(padded(Math.min(READ_BUFFER, end - position)));
    this.words = new Uint32Array(this.buffer.buffer);
  }

  more(): boolean {
    return this.at < this.have || this.position < this.end;
  }

  release(): void {
    freeNow(this.buffer.buffer);
    freeNow(this.pathBytes.buffer);
  }

  /**
   * Reads the next name, and `after` bytes of what follows it: returns the word, from the name's
   * start, where those start.
   */
  nextName(after: number): number {
    this.need(NAME_WORDS * 4);
    const shared = this.word(SHARED);
    const suffix = this.word(SUFFIX);
    if (shared > this.pathLength) this.scratch.cutShort();
    this.need(NAME_WORDS * 4 + padded(suffix) + after);
    const length = shared + suffix;
    if (length > this.pathBytes.length) {
      const bigger = Buffer.allocUnsafeSlow(length * 2);
      this.pathBytes.copy(bigger, 0, 0, shared);
      this.pathBytes = bigger;
    }
    const from = this.at + NAME_WORDS * 4;
    this.buffer.copy(this.pathBytes, shared, from, from + suffix);
    this.pathLength = length;
    return NAME_WORDS + (padded(suffix) >> 2);
  }

  /** The word `at` words from the name's start. */
  word(at: number): number {
    return this.words[(this.at >> 2) + at];
  }

  /** The float64 in the two words `at` words from the name's start. */
  float(at: number): number {
    return getFloat(this.words, (this.at >> 2) + at);
  }

  /** Where in `buffer` byte `at` from the name's start is. */
  offset(at: number): number {
    return this.at + at;
  }

  /** What was read of the name and what follows it ends `length` bytes from its start. */
  advance(length: number): void {
    this.at += length;
  }

  /** Makes sure the buffer holds `length` bytes from the name's start. */
  need(length: number): void {
    if (this.at + length <= this.have) return;
    if (this.at > 0) {
      this.buffer.copy(this.buffer, 0, this.at, this.have);
      this.have -= this.at;
      this.at = 0;
    }
    // The buffer holds the whole run or 64 KiB, and no record is longer (ScratchFile.room).
    if (length > this.buffer.length) this.scratch.cutShort();
    while (this.have < length) {
      const n = this.position < this.end ? this.scratch.read(this.buffer, this.have, Math.min(this.buffer.length - this.have, this.end - this.position), this.position) : 0;
      if (n === 0) this.scratch.cutShort();
      this.have += n;
      this.position += n;
    }
  }
}

/** How many records, and bytes of them, sortInto gathers at a time. */
const GATHER_RECORDS = 1 << 14;
const GATHER_BYTES = 1 << 20;

/**
 * The records a TreeView made, gathered in path order (sortInto's) a batch at a time: each batch
 * read in the order of the records' places, each piece of the file once, where a read of each
 * record in path order read a piece of the file per record (181,126 reads of 64 KiB for a diff
 * of 100,100 files: the archive's order is not its paths'). A record's length is where the next
 * one starts: records are written one after another.
 */
class RecordGatherer {
  /** The batch, in path order. */
  readonly buffer: Buffer;
  /** Where each record of the batch starts in `buffer`; and past its last. */
  readonly starts: Uint32Array;
  private readonly window: Buffer;
  private windowStart = 0;
  private windowHave = 0;
  private readonly keys: Float64Array;

  /**
   * `placeOf`: each of `records` records' place, in words, and the end of the last one's. A small
   * tree's batch is no larger than its records (validate describes one restored tree after another).
   */
  constructor(private readonly scratch: ScratchFile, private readonly placeOf: Uint32Array, records: number) {
    const bytes = (placeOf[records] - placeOf[0]) * 4;
    this.buffer = outOfHeap(Math.min(GATHER_BYTES, bytes));
    this.window = outOfHeap(Math.min(READ_BUFFER, bytes));
    this.starts = new Uint32Array(Math.min(GATHER_RECORDS, records) + 1);
    this.keys = new Float64Array(Math.min(GATHER_RECORDS, records));
  }

  /** Gathers the records `recordOf` gives of items `first` on, as many as fit: returns how many. */
  gather(first: number, end: number, recordOf: (item: number) => number): number {
    let count = 0;
    let bytes = 0;
    for (; first + count < end && count < this.keys.length; count++) {
      const record = recordOf(first + count);
      const length = (this.placeOf[record + 1] - this.placeOf[record]) * 4;
      // The first always fits: the batch holds 1 MiB or every record, and no record is longer than 64 KiB.
      if (count > 0 && bytes + length > this.buffer.length) break;
      this.starts[count] = bytes;
      bytes += length;
      // The place and the item, in one number to sort: places are under 2^32, items under 2^14.
      this.keys[count] = this.placeOf[record] * GATHER_RECORDS + count;
    }
    this.starts[count] = bytes;
    const keys = this.keys.subarray(0, count).sort();
    for (const key of keys) {
      const item = key % GATHER_RECORDS;
      this.copy((key - item) / GATHER_RECORDS * 4, this.starts[item + 1] - this.starts[item], this.starts[item]);
    }
    return count;
  }

  release(): void {
    for (const buffer of [this.buffer, this.window]) freeNow(buffer.buffer);
    freeNow(this.keys.buffer);
    freeNow(this.starts.buffer);
  }

  /** Copies `length` bytes of the file from `place` into `buffer` at `at`, through the window. */
  private copy(place: number, length: number, at: number): void {
    for (let done = 0; done < length; ) {
      const from = place + done;
      if (from < this.windowStart || from >= this.windowStart + this.windowHave) {
        this.windowStart = from;
        this.windowHave = this.scratch.read(this.window, 0, this.window.length, from);
        if (this.windowHave === 0) this.scratch.cutShort();
      }
      const n = Math.min(length - done, this.windowStart + this.windowHave - from);
      this.window.copy(this.buffer, at + done, from - this.windowStart, from - this.windowStart + n);
      done += n;
    }
  }
}
