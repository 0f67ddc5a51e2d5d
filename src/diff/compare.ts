import type { EntryType } from '../cpio/entry.js';
import { escapeName } from '../cpio/names.js';
import type { Archive } from '../image/walk.js';
import type { TreeItem, TreeView } from './views.js';

/** An attribute that can differ between two items of the same type at one path. */
export type Attribute = 'mode' | 'owner' | 'size' | 'content' | 'target' | 'device' | 'links' | 'mtime';

export type Difference =
  | { path: Buffer; kind: 'added' | 'removed'; type: EntryType }
  | { path: Buffer; kind: 'type'; a: EntryType; b: EntryType }
  /** `a` and `b` as the text output shows them (names escaped, see escapeName). */
  | { path: Buffer; kind: Attribute; a: string; b: string };

export interface DiffOptions {
  /** Compare mtimes too: a restore by `cpio -id` without -m leaves them at its own time. */
  mtime?: boolean;
}

/**
 * Every difference from tree `a` to tree `b`, in path order (raw bytes): a path in one only,
 * a type that changed, or else each attribute that differs. A size that differs stands for
 * the content too; a content difference is one of the same size.
 */
export function diffTrees(a: TreeView, b: TreeView, options: DiffOptions = {}): Difference[] {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const out: Difference[] = [];
  for (const key of keys) {
    const path = Buffer.from(key, 'latin1');
    const x = a.get(key);
    const y = b.get(key);
    if (!y) out.push({ path, kind: 'removed', type: x!.type });
    else if (!x) out.push({ path, kind: 'added', type: y.type });
    else if (x.type !== y.type) out.push({ path, kind: 'type', a: x.type, b: y.type });
    else {
      for (const [kind, shown] of ATTRIBUTES) {
        if (kind === 'mtime' && !options.mtime) continue;
        if (kind === 'content' && x.size !== y.size) continue;
        const [p, q] = [shown(x), shown(y)];
        if (p !== undefined && q !== undefined && p !== q) out.push({ path, kind, a: p, b: q });
      }
    }
  }
  return out;
}

/** Each attribute as shown, undefined where it does not apply (or is unknown: an unnamed directory's mtime). */
const ATTRIBUTES: [Attribute, (item: TreeItem) => string | undefined][] = [
  ['mode', (i) => (i.type === 'symlink' ? undefined : `0${i.mode.toString(8).padStart(3, '0')}`)],
  ['owner', (i) => `${i.uid}:${i.gid}`],
  ['size', (i) => i.size?.toString()],
  ['content', (i) => i.sha256],
  ['target', (i) => i.target && escapeName(i.target)],
  ['device', (i) => (i.rdevMajor === undefined ? undefined : `${i.rdevMajor}:${i.rdevMinor}`)],
  ['links', (i) => (i.type === 'dir' ? undefined : (i.links ?? []).map(escapeName).join(' '))],
  ['mtime', (i) => i.mtime?.toString()],
];

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

/** Paths added, removed, and changed in any other way (a path counted once however many of its attributes differ). */
export function summarizeDifferences(differences: readonly Difference[]): DifferenceSummary {
  const changed = new Set(differences.filter((d) => d.kind !== 'added' && d.kind !== 'removed').map((d) => d.path.toString('latin1')));
  return {
    added: differences.filter((d) => d.kind === 'added').length,
    removed: differences.filter((d) => d.kind === 'removed').length,
    changed: changed.size,
  };
}

/** A difference as JSON shows it: the path escaped (see escapeName). */
export function differenceJson(d: Difference): Omit<Difference, 'path'> & { path: string } {
  return { ...d, path: escapeName(d.path) };
}
