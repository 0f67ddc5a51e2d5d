import type { EntryType } from '../cpio/entry.js';
import { escapeName } from '../cpio/names.js';
import type { Archive } from '../image/walk.js';
import type { Attribute, TreeView } from './tree-view.js';

export type { Attribute } from './tree-view.js';

export type Difference =
  | { path: Buffer; kind: 'added' | 'removed'; type: EntryType }
  | { path: Buffer; kind: 'type'; a: EntryType; b: EntryType }
  /** `a` and `b` as the text output shows them (names escaped, see escapeName). */
  | { path: Buffer; kind: Attribute; a: string; b: string };

export interface DiffOptions {
  /** Compare mtimes too: a restore by `cpio -id` without -m leaves them at its own time. */
  mtime?: boolean;
  /** Compare owners (the default): false for a tree that a restore as another user than root made. */
  owner?: boolean;
}

/**
 * Every difference from tree `a` to tree `b`, in path order (raw bytes), one at a time: a
 * path in one only, a type that changed, or else each attribute that differs. A size that
 * differs stands for the content too; a content difference is one of the same size.
 */
export function* differencesOf(a: TreeView, b: TreeView, options: DiffOptions = {}): Generator<Difference> {
  const x = a.order();
  const y = b.order();
  const pathA = new PathReader(a);
  const pathB = new PathReader(b);
  let i = 0;
  let j = 0;
  let p = i < x.length ? pathA.read(x[i]) : undefined;
  let q = j < y.length ? pathB.read(y[j]) : undefined;
  while (p || q) {
    const order = !q ? -1 : !p ? 1 : Buffer.compare(p, q);
    if (order < 0) yield { path: Buffer.from(p!), kind: 'removed', type: a.typeAt(x[i]) };
    else if (order > 0) yield { path: Buffer.from(q!), kind: 'added', type: b.typeAt(y[j]) };
    else if (a.typeAt(x[i]) !== b.typeAt(y[j])) yield { path: Buffer.from(p!), kind: 'type', a: a.typeAt(x[i]), b: b.typeAt(y[j]) };
    else for (const d of a.differencesFrom(x[i], b, y[j], { owner: options.owner ?? true, mtime: options.mtime ?? false })) yield { path: Buffer.from(p!), ...d };
    if (order <= 0) p = ++i < x.length ? pathA.read(x[i]) : undefined;
    if (order >= 0) q = ++j < y.length ? pathB.read(y[j]) : undefined;
  }
}

/**
 * A view's paths, each written into the same memory, good until the next: a Buffer each was
 * garbage outside V8's heap that a validate, comparing one tree after another, never collected.
 */
class PathReader {
  private bytes = Buffer.allocUnsafeSlow(256);

  constructor(private readonly view: TreeView) {}

  read(path: number): Buffer {
    const { paths } = this.view;
    const length = paths.pathLength(path);
    if (length > this.bytes.length) this.bytes = Buffer.allocUnsafeSlow(Math.max(length, this.bytes.length * 2));
    paths.writePath(path, this.bytes, 0);
    return this.bytes.subarray(0, length);
  }
}

/** Every difference from tree `a` to tree `b`, as differencesOf gives them, in one array. */
export function diffTrees(a: TreeView, b: TreeView, options: DiffOptions = {}): Difference[] {
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
