import { type CpioEntry, S_IFMT } from '../cpio/entry.js';
import { freeNow } from '../decode/source.js';
import { PathTable, doubledSlots, grown } from './path-table.js';

const EMPTY = -1;

/**
 * The hard-link groups of one archive, as the kernel's maybe_link() keeps them until the
 * trailer: by key (hardLinkKey: devmajor, devminor, ino and file type), the relative path of
 * the group's first name. The keys in typed arrays, found by an open-addressing hash; the
 * paths in a path table: about 95 bytes a group, where a Map of latin1 strings took about 140
 * (150,000 groups of names as bench/entries.sh makes them, by hand).
 */
export class HardLinkGroups {
  private readonly names: PathTable;
  /** Whether the groups made their path table, which they then free with themselves. */
  private readonly ownsNames: boolean;
  private count = 0;
  private majors = new Uint32Array(256);
  private minors = new Uint32Array(256);
  private inos = new Uint32Array(256);
  private types = new Uint16Array(256);
  /** By group: the number of its first name in `names`. */
  private firstNames = new Int32Array(256);
  /** The groups, by hash; EMPTY where none. Never over half full. */
  private slots = new Int32Array(512).fill(EMPTY);

  /** `shared`: the table of the tree written (Tree.names), to number the names in; by default one of their own. */
  constructor(shared?: PathTable) {
    this.names = shared ?? new PathTable();
    this.ownsNames = shared === undefined;
  }

  /** Frees the groups' memory at once, as PathTable.release does, their path table's where they made it: they are not used again. */
  release(): void {
    for (const array of [this.majors, this.minors, this.inos, this.types, this.firstNames, this.slots]) freeNow(array.buffer);
    if (this.ownsNames) this.names.release();
  }

  /** The first name of `e`'s group, or undefined where `e` is its first. */
  firstName(e: CpioEntry): Buffer | undefined {
    const group = this.slots[this.slotOf(e)];
    return group === EMPTY ? undefined : this.names.pathOf(this.firstNames[group]);
  }

  /** `rel` is the first name of `e`'s group. */
  add(e: CpioEntry, rel: Buffer): void {
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
    this.slots[slot] = group;
    if (this.count * 2 > this.slots.length) {
      this.slots = doubledSlots(this.slots, 0, this.count, (group) => hash(this.majors[group], this.minors[group], this.inos[group], this.types[group]));
    }
  }

  private slotOf(e: CpioEntry): number {
    const type = e.mode & S_IFMT;
    const mask = this.slots.length - 1;
    let slot = hash(e.devMajor, e.devMinor, e.ino, type) & mask;
    for (let group; (group = this.slots[slot]) !== EMPTY; slot = (slot + 1) & mask) {
      if (this.inos[group] === e.ino && this.majors[group] === e.devMajor && this.minors[group] === e.devMinor && this.types[group] === type) break;
    }
    return slot;
  }

}

function hash(major: number, minor: number, ino: number, type: number): number {
  let h = Math.imul(ino ^ 0x811c9dc5, 0x9e3779b1);
  h = Math.imul(h ^ major, 0x01000193);
  h = Math.imul(h ^ minor, 0x01000193);
  h = Math.imul(h ^ type, 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}
