import { type CpioEntry, S_IFMT } from '../cpio/entry.js';
import { freeNow } from '../decode/source.js';
import { HardLinkRuns, keyHash } from './hard-link-runs.js';
import { PathTable, doubledSlots, grown } from './path-table.js';
import { type ScratchFile, scratchOrNone } from './scratch-file.js';

const EMPTY = -1;
/** The bytes of first names held in memory past which the groups spill, as a directory's records do. */
const PATH_BYTES_IN_MEMORY = 1 << 22;

/**
 * Where the groups go past `groups` of them in memory, or 4 MiB of their names: runs in the
 * scratch file `open` gives (see Tree.openScratch). Where it cannot be made, they stay in memory.
 */
export interface LinkSpill {
  groups: number;
  open(): ScratchFile;
}

/**
 * The hard-link groups of one archive, as the kernel's maybe_link() keeps them until the
 * trailer: by key (hardLinkKey: devmajor, devminor, ino and file type), the relative path of
 * the group's first name. The keys in typed arrays, found by an open-addressing hash; the
 * paths in a path table: about 95 bytes a group, where a Map of latin1 strings took about 140
 * (150,000 groups of names as bench/entries.sh makes them, by hand). With a spill, memory holds a
 * bounded number of groups: past it, they go to a run on disk (HardLinkRuns).
 */
export class HardLinkGroups {
  private names!: PathTable;
  /** Whether the groups made their path table, which they then free with themselves. */
  private readonly ownsNames: boolean;
  private count = 0;
  private majors!: Uint32Array;
  private minors!: Uint32Array;
  private inos!: Uint32Array;
  private types!: Uint16Array;
  /** By group: the number of its first name in `names`. */
  private firstNames!: Int32Array;
  /** The groups, by hash; EMPTY where none. Never over half full. */
  private slots!: Int32Array<ArrayBuffer>;
  private runs: HardLinkRuns | undefined;
  /** The bytes of the first names held in memory. */
  private nameBytes = 0;
  /** Where firstName writes the name it found in memory. */
  private found = Buffer.allocUnsafeSlow(256);

  /**
   * `shared`: the table of the tree written (Tree.names), which holds every name anyway, to
   * number the names in; by default one of their own. `spill`, where they may.
   */
  constructor(private readonly shared?: PathTable, private spill?: LinkSpill) {
    this.ownsNames = shared === undefined;
    this.startEmpty();
  }

  /** Frees the groups' memory at once, as PathTable.release does, their path table's where they made it, and closes their runs' file: they are not used again. */
  release(): void {
    this.freeMemory();
    freeNow(this.found.buffer);
    this.runs?.release();
    this.runs = undefined;
  }

  /**
   * The first name of `e`'s group, or undefined where `e` is its first; valid until the next
   * call or the release, whose memory it is: not a Buffer a call (PathTable.pathOf's are slices
   * of Buffer's pool, whose slabs a long run promotes and never frees: see CpioParser.copied).
   */
  firstName(e: CpioEntry): Buffer | undefined {
    const group = this.slots[this.slotOf(e)];
    if (group === EMPTY) return this.runs?.find(e.ino, e.devMajor, e.devMinor, e.mode & S_IFMT);
    const id = this.firstNames[group];
    const length = this.names.pathLength(id);
    if (length > this.found.length) {
      const bigger = Math.max(length, 2 * this.found.length);
      freeNow(this.found.buffer);
      this.found = Buffer.allocUnsafeSlow(bigger);
    }
    this.names.writePath(id, this.found, 0);
    return this.found.subarray(0, length);
  }

  /**
   * `rel` is the first name of `e`'s group, which firstName did not find: a key added again once
   * its group went to disk would be held twice, and the later name found first.
   */
  add(e: CpioEntry, rel: Buffer): void {
    if (this.spill && (this.count >= this.spill.groups || this.nameBytes >= PATH_BYTES_IN_MEMORY)) this.spillRun(this.spill);
    const slot = this.slotOf(e);
    if (this.slots[slot] !== EMPTY) return;
    const group = this.count++;
    if (group === this.majors.length) {
      this.majors = grown(this.majors, group);
      this.minors = grown(this.minors, group);
      this.inos = grown(this.inos, group);
      this.types = grown(this.types, group);
      this.firstNames = grown(this.firstNames, group);
    }
    this.majors[group] = e.devMajor;
    this.minors[group] = e.devMinor;
    this.inos[group] = e.ino;
    this.types[group] = e.mode & S_IFMT;
    this.firstNames[group] = this.names.add(rel);
    if (this.ownsNames) this.nameBytes += rel.length;
    this.slots[slot] = group;
    if (this.count * 2 > this.slots.length) {
      this.slots = doubledSlots(this.slots, 0, this.count, (group) => keyHash(this.inos[group], this.majors[group], this.minors[group], this.types[group]));
    }
  }

  /** The groups in memory go to a run on disk, and memory starts again empty. */
  private spillRun(spill: LinkSpill): void {
    if (!this.runs) {
      const file = scratchOrNone(() => spill.open());
      if (!file) {
        this.spill = undefined;
        return;
      }
      this.runs = new HardLinkRuns(file);
    }
    const { count, inos, majors, minors, types, firstNames, names } = this;
    this.runs.append({ count, inos, majors, minors, types, firstNames, names });
    this.freeMemory();
    this.startEmpty();
  }

  private startEmpty(): void {
    this.names = this.shared ?? new PathTable();
    this.count = 0;
    this.nameBytes = 0;
    this.majors = new Uint32Array(256);
    this.minors = new Uint32Array(256);
    this.inos = new Uint32Array(256);
    this.types = new Uint16Array(256);
    this.firstNames = new Int32Array(256);
    this.slots = new Int32Array(512).fill(EMPTY);
  }

  private freeMemory(): void {
    for (const array of [this.majors, this.minors, this.inos, this.types, this.firstNames, this.slots]) freeNow(array.buffer);
    if (this.ownsNames) this.names.release();
  }

  private slotOf(e: CpioEntry): number {
    const type = e.mode & S_IFMT;
    const mask = this.slots.length - 1;
    let slot = keyHash(e.ino, e.devMajor, e.devMinor, type) & mask;
    for (let group; (group = this.slots[slot]) !== EMPTY; slot = (slot + 1) & mask) {
      if (this.inos[group] === e.ino && this.majors[group] === e.devMajor && this.minors[group] === e.devMinor && this.types[group] === type) break;
    }
    return slot;
  }

}
