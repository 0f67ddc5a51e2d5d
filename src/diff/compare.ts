import type { EntryType } from '../cpio/entry.js';
import { escapeName } from '../cpio/names.js';
import { freeNow } from '../decode/source.js';
import type { Archive } from '../image/walk.js';
import { NONE, type PathRecord, type SortedTree } from './tree-view.js';

/** An attribute that can differ between two items of the same type at one path. */
export type Attribute = 'mode' | 'owner' | 'size' | 'content' | 'target' | 'device' | 'links' | 'mtime';

/** An attribute that differs at one path, `a` and `b` as the text output shows them (names escaped, see escapeName). */
export interface AttributeDifference {
  kind: Attribute;
  a: string;
  b: string;
}

export type Difference =
  | { path: Buffer; kind: 'added' | 'removed'; type: EntryType }
  | { path: Buffer; kind: 'type'; a: EntryType; b: EntryType }
  | ({ path: Buffer } & AttributeDifference);

export interface DiffOptions {
  /** Compare mtimes too: a restore by `cpio -id` without -m leaves them at its own time. */
  mtime?: boolean;
  /** Compare owners (the default): false for a tree that a restore as another user than root made. */
  owner?: boolean;
}

/**
 * Every difference from tree `a` to tree `b`, in path order (raw bytes), one at a time: a
 * path in one only, a type that changed, or else each attribute that differs. A size that
 * differs stands for the content too; a content difference is one of the same size. The two
 * trees are read through side by side, as often as asked.
 */
export function* differencesOf(a: SortedTree, b: SortedTree, options: DiffOptions = {}): Generator<Difference> {
  const compared = { owner: options.owner ?? true, mtime: options.mtime ?? false };
  const groups = new GroupPairs(a, b);
  try {
    for (const [x, y] of pathsOfBoth(a, b)) {
      if (!y) yield { path: Buffer.from(x!.path), kind: 'removed', type: x!.type };
      else if (!x) yield { path: Buffer.from(y.path), kind: 'added', type: y.type };
      else if (x.type !== y.type) yield { path: Buffer.from(x.path), kind: 'type', a: x.type, b: y.type };
      else for (const d of attributeDifferences(x, y, groups, compared)) yield { path: Buffer.from(x.path), ...d };
    }
  } finally {
    groups.release();
  }
}

/**
 * Each path of either tree in path order, with its record in `a` and in `b` (undefined in the
 * one that has no such path), each record good until the next pair.
 */
function* pathsOfBoth(a: SortedTree, b: SortedTree): Generator<[PathRecord | undefined, PathRecord | undefined]> {
  const xs = a.records();
  const ys = b.records();
  try {
    let x = nextOf(xs);
    let y = nextOf(ys);
    while (x || y) {
      const order = !y ? -1 : !x ? 1 : x.comparePath(y);
      yield [order <= 0 ? x : undefined, order >= 0 ? y : undefined];
      if (order <= 0) x = nextOf(xs);
      if (order >= 0) y = nextOf(ys);
    }
  } finally {
    // Each tree's reader freed where the comparison stops early too.
    xs.return(undefined);
    ys.return(undefined);
  }
}

function nextOf(records: Generator<PathRecord>): PathRecord | undefined {
  const next = records.next();
  return next.done ? undefined : next.value;
}

/**
 * Each attribute that differs from `x` in tree a to `y` in tree b, of the same path and type;
 * a size that differs stands for the content too. Owners and mtimes only where `compared` says.
 */
function attributeDifferences(x: PathRecord, y: PathRecord, groups: GroupPairs, compared: { owner: boolean; mtime: boolean }): AttributeDifference[] {
  const out: AttributeDifference[] = [];
  const { type } = x;
  if (type !== 'symlink' && x.mode !== y.mode) out.push({ kind: 'mode', a: modeText(x.mode), b: modeText(y.mode) });
  if (compared.owner && (x.uid !== y.uid || x.gid !== y.gid)) out.push({ kind: 'owner', a: `${x.uid}:${x.gid}`, b: `${y.uid}:${y.gid}` });
  if (type === 'file') {
    if (x.size !== y.size) out.push({ kind: 'size', a: String(x.size), b: String(y.size) });
    else if (!x.sameBytes(y)) out.push({ kind: 'content', a: x.bytes.toString('hex'), b: y.bytes.toString('hex') });
  }
  if (type === 'symlink' && !x.sameBytes(y)) out.push({ kind: 'target', a: escapeName(x.bytes), b: escapeName(y.bytes) });
  if ((type === 'char' || type === 'block') && !x.sameBytes(y)) out.push({ kind: 'device', a: deviceText(x.bytes), b: deviceText(y.bytes) });
  if (type !== 'dir' && !groups.same(x, y)) out.push({ kind: 'links', a: groups.otherNames('a', x), b: groups.otherNames('b', y) });
  if (compared.mtime && !Number.isNaN(x.mtime) && !Number.isNaN(y.mtime) && x.mtime !== y.mtime) out.push({ kind: 'mtime', a: String(x.mtime), b: String(y.mtime) });
  return out;
}

/**
 * Which hard-link groups of tree a have the same names in tree b, found by a read of both
 * trees before the comparison: a group of a is the same as one of b where each of its names
 * has that group in b, of as many names, so that its names are the other's. A number is held
 * for each group of a, not its names.
 */
class GroupPairs {
  /** By a's group: the group of b it is the same as, or NONE. */
  private readonly sameAs: Int32Array;

  constructor(private readonly a: SortedTree, private readonly b: SortedTree) {
    this.sameAs = new Int32Array(a.groups).fill(UNSEEN);
    if (a.groups === 0) return;
    for (const [x, y] of pathsOfBoth(a, b)) {
      if (!x || x.group === NONE) continue;
      const paired = this.sameAs[x.group];
      if (!y || y.group === NONE || y.groupNames !== x.groupNames || (paired !== UNSEEN && paired !== y.group)) this.sameAs[x.group] = NONE;
      else if (paired === UNSEEN) this.sameAs[x.group] = y.group;
    }
  }

  /** Whether `x` of a and `y` of b, the same path of the same type, have the same other names: none, or the same. */
  same(x: PathRecord, y: PathRecord): boolean {
    if (x.group === NONE || y.group === NONE) return x.group === y.group;
    return this.sameAs[x.group] === y.group;
  }

  /** The other names of `record`'s group in tree `which`, escaped, in path order. */
  otherNames(which: 'a' | 'b', record: PathRecord): string {
    if (record.group === NONE) return '';
    const path = record.path;
    return this[which].groupNamesOf(record).filter((name) => !name.equals(path)).map(escapeName).join(' ');
  }

  /** Freed now: validate compares one restored tree after another. */
  release(): void {
    freeNow(this.sameAs.buffer);
  }
}

/** A group of a no name of which was compared yet. */
const UNSEEN = -2;

function modeText(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

function deviceText(bytes: Uint8Array): string {
  const [major, minor] = new Uint32Array(Uint8Array.from(bytes).buffer);
  return `${major}:${minor}`;
}

/** Every difference from tree `a` to tree `b`, as differencesOf gives them, in one array. */
export function diffTrees(a: SortedTree, b: SortedTree, options: DiffOptions = {}): Difference[] {
  return [...differencesOf(a, b, options)];
}

/** What a comparison of archives looks at: examine's view, without what decoded it. */
export interface ArchiveSummary {
  index: number;
  start: number;
  end: number;
  size: number;
  format: string;
  entries: number;
  extractedSize: number;
}

export interface ArchiveDifference {
  index: number;
  kind: 'added' | 'removed' | 'changed';
  a?: ArchiveSummary;
  b?: ArchiveSummary;
  /** For 'changed', the fields that differ. */
  fields?: (keyof ArchiveSummary)[];
}

const ARCHIVE_FIELDS = ['format', 'start', 'end', 'size', 'entries', 'extractedSize'] as const;

export function summarizeArchive(a: Archive): ArchiveSummary {
  return { index: a.index, start: a.start, end: a.end, size: a.end - a.start, format: a.format, entries: a.entries, extractedSize: a.extractedSize };
}

/** Two images' archives compared by index: one in one image only, or the fields that differ. */
export function diffArchives(a: readonly Archive[], b: readonly Archive[]): ArchiveDifference[] {
  const out: ArchiveDifference[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] && summarizeArchive(a[i]);
    const y = b[i] && summarizeArchive(b[i]);
    if (!y) out.push({ index: i + 1, kind: 'removed', a: x });
    else if (!x) out.push({ index: i + 1, kind: 'added', b: y });
    else {
      const fields = ARCHIVE_FIELDS.filter((f) => x[f] !== y[f]);
      if (fields.length > 0) out.push({ index: i + 1, kind: 'changed', a: x, b: y, fields });
    }
  }
  return out;
}

/** One line of text: `+ path`, `- path`, `T path: file -> symlink`, `M path: mode 0644 -> 0600`. */
export function formatDifference(d: Difference): string {
  const name = escapeName(d.path);
  switch (d.kind) {
    case 'added': return `+ ${name}`;
    case 'removed': return `- ${name}`;
    case 'type': return `T ${name}: ${d.a} -> ${d.b}`;
    case 'links': return `M ${name}: hard links ${d.a || '(none)'} -> ${d.b || '(none)'}`;
    default: return `M ${name}: ${d.kind} ${d.a} -> ${d.b}`;
  }
}

/** `A archive 2: + zstd 512-4096, 30 entries, 9000 bytes`, or the fields that changed. */
export function formatArchiveDifference(d: ArchiveDifference): string {
  if (d.kind !== 'changed') {
    const s = (d.a ?? d.b)!;
    return `A archive ${d.index}: ${d.kind === 'added' ? '+' : '-'} ${s.format} ${s.start}-${s.end}, ${s.entries} entries, ${s.extractedSize} bytes`;
  }
  return `A archive ${d.index}: ${d.fields!.map((f) => `${f} ${d.a![f]} -> ${d.b![f]}`).join(', ')}`;
}

export interface DifferenceSummary {
  added: number;
  removed: number;
  changed: number;
}

/**
 * Paths added, removed, and changed in any other way (a path counted once however many of its
 * attributes differ), of differences in path order, as differencesOf gives them.
 */
export function summarizeDifferences(differences: Iterable<Difference>): DifferenceSummary {
  const summary = { added: 0, removed: 0, changed: 0 };
  let last: Buffer | undefined;
  for (const d of differences) {
    if (d.kind === 'added' || d.kind === 'removed') summary[d.kind]++;
    else if (!last?.equals(d.path)) summary.changed++;
    last = d.path;
  }
  return summary;
}

/** A difference as JSON shows it: the path escaped (see escapeName). */
export function differenceJson(d: Difference): Omit<Difference, 'path'> & { path: string } {
  return { ...d, path: escapeName(d.path) };
}
