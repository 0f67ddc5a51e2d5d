import { closeSync, ftruncateSync, openSync, readlinkSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENTRY_TYPES, type EntryType } from '../src/cpio/entry.js';
import { diffTrees } from '../src/diff/compare.js';
import { NONE, type SortedTree, TreeView } from '../src/diff/tree-view.js';
import { describeDirectoryTree } from '../src/diff/views.js';
import { ScratchFileError } from '../src/errors.js';
import { MemoryPages, ScratchFile } from '../src/extract/scratch-file.js';
import { scratch, viewInMemory } from './support/scratch.js';

/**
 * A tree described (TreeView) is written out in path order into a scratch file (SortedTree) and
 * read back: whatever the order its records and paths were made in, each path comes back once,
 * in the order of its bytes (Buffer.compare), with its own record and its hard-link group's names.
 */
const { fresh } = scratch('irr-sorted-');

interface Item {
  path: Buffer;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number | undefined;
  size: number;
  bytes: Uint8Array;
  /** Its group, shared with other items of the same number; none where undefined. */
  group: number | undefined;
}

// Bytes around '/' (0x2f) in order, where byte order and a walk's differ.
const component = fc.oneof(fc.constantFrom('a', 'a-b', 'a.c', 'a0', 'b', '\xff', '\x01'), fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => Buffer.from(b.map((c) => (c === 0x2f || c === 0 ? 0x41 : c))).toString('latin1')));
const item = fc.record({
  path: fc.array(component, { minLength: 1, maxLength: 4 }).map((parts) => Buffer.from(parts.join('/'), 'latin1')),
  type: fc.constantFrom(...ENTRY_TYPES),
  mode: fc.integer({ min: 0, max: 0o7777 }),
  uid: fc.nat(),
  gid: fc.nat(),
  mtime: fc.option(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), { nil: undefined }),
  size: fc.oneof(fc.nat(), fc.constant(2 ** 40 + 1)),
  bytes: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 4000, maxLength: 4095 })),
  group: fc.option(fc.nat({ max: 5 }), { nil: undefined }),
});
const items = fc.uniqueArray(item, { selector: (i) => i.path.toString('latin1'), maxLength: 60 });

/** A view of `list`: its records made in the list's order, its paths put in reverse. */
function viewOf(list: Item[], view = viewInMemory()): TreeView {
  const records = list.map((i) => view.addRecord(i.type, i, i.bytes, i.size));
  list.forEach((_, n) => {
    const i = list[list.length - 1 - n];
    view.put(view.paths.add(i.path), records[list.length - 1 - n], i.group ?? NONE);
  });
  return view;
}

/** Each record as the test writes it down, as it is read: the next one read changes it. */
function readAll(tree: SortedTree): { path: string; type: EntryType; mode: number; uid: number; gid: number; mtime: number; size: number; bytes: string; names: string[] }[] {
  return Array.from(tree.records(), (r) => ({
    path: r.path.toString('latin1'),
    type: r.type,
    mode: r.mode,
    uid: r.uid,
    gid: r.gid,
    mtime: r.mtime,
    size: r.size,
    bytes: r.bytes.toString('hex'),
    names: r.group === NONE ? [] : tree.groupNamesOf(r).map((name) => name.toString('latin1')),
  }));
}

function expected(list: Item[]): ReturnType<typeof readAll> {
  const groups = new Map<number, Buffer[]>();
  for (const i of list) if (i.group !== undefined) groups.set(i.group, [...(groups.get(i.group) ?? []), i.path]);
  for (const names of groups.values()) names.sort(Buffer.compare);
  return [...list].sort((x, y) => Buffer.compare(x.path, y.path)).map((i) => {
    const names = i.group === undefined ? [] : groups.get(i.group)!;
    return {
      path: i.path.toString('latin1'),
      type: i.type,
      mode: i.mode,
      uid: i.uid,
      gid: i.gid,
      mtime: i.mtime ?? NaN,
      size: i.size,
      bytes: Buffer.from(i.bytes).toString('hex'),
      names: names.length < 2 ? [] : names.map((name) => name.toString('latin1')),
    };
  });
}

describe('SortedTree', () => {
  it('gives back every path in the order of its bytes, with its record and its group\'s names, as often as read', () => {
    fc.assert(
      fc.property(items, (list) => {
        const tree = viewOf(list).sortInto();
        const want = expected(list);
        expect(readAll(tree)).toEqual(want);
        expect(readAll(tree)).toEqual(want);
        tree.close();
      }),
      { numRuns: 300 },
    );
  });

  it('finds no difference between a tree and itself, and each path removed from one tree as removed, whatever the records', () => {
    fc.assert(
      fc.property(items, fc.nat(), (list, drop) => {
        const a = viewOf(list).sortInto();
        expect(diffTrees(a, a)).toEqual([]);
        if (list.length === 0) return;
        const gone = list[drop % list.length];
        // Without it, a group it was in has other names: those show as links that differ.
        const rest = list.filter((i) => i !== gone);
        const b = viewOf(rest).sortInto();
        const found = diffTrees(a, b).map((d) => `${d.kind} ${d.path.toString('latin1')}`);
        expect(found.filter((line) => !line.startsWith('links '))).toEqual([`removed ${gone.path.toString('latin1')}`]);
        const groupMates = gone.group === undefined ? [] : rest.filter((i) => i.group === gone.group);
        const changedLinks = groupMates.filter((i) => i.type !== 'dir').map((i) => `links ${i.path.toString('latin1')}`).sort();
        expect(found.filter((line) => line.startsWith('links ')).sort()).toEqual(changedLinks);
      }),
      { numRuns: 200 },
    );
  });

  it('gives back 10,000 paths in 5,000 groups, whose names take more than the out-buffer of 64 KiB', () => {
    const list: Item[] = Array.from({ length: 10_000 }, (_, n) => ({
      path: Buffer.from(`dir${n % 7}/name-of-some-length-${n}`),
      type: 'file',
      mode: 0o644,
      uid: n,
      gid: 0,
      mtime: n,
      size: n,
      bytes: Buffer.alloc(32, n),
      group: n % 5000,
    }));
    expect(readAll(viewOf(list).sortInto())).toEqual(expected(list));
  });

  it('copies a record\'s content (addCopy), from the file or from what is not written yet', () => {
    const view = viewInMemory();
    const first = view.addRecord('file', { mode: 0o644, uid: 1, gid: 2, mtime: 3 }, Buffer.alloc(32, 7), 1234);
    const near = view.addCopy({ mode: 0o600, uid: 4, gid: 5, mtime: 6 }, first);
    // Past 64 KiB of records, the first is in the file, not in the out-buffer.
    for (let n = 0; n < 2000; n++) view.addRecord('symlink', { mode: 0o777, uid: 0, gid: 0 }, Buffer.alloc(40, n));
    const far = view.addCopy({ mode: 0o640, uid: 7, gid: 8 }, first);
    view.put(view.paths.add(Buffer.from('near')), near, NONE);
    view.put(view.paths.add(Buffer.from('far')), far, NONE);
    const tree = view.sortInto();
    expect(readAll(tree).map(({ path, mode, uid, size, bytes }) => [path, mode, uid, size, bytes])).toEqual([
      ['far', 0o640, 7, 1234, '07'.repeat(32)],
      ['near', 0o600, 4, 1234, '07'.repeat(32)],
    ]);
  });

  it('writes a name as what it shares with the one before and the rest: 2,000 names 3,000 bytes deep take little more than their last components', () => {
    const deep = 'd'.repeat(250).concat('/').repeat(12);
    const names = Array.from({ length: 2000 }, (_, n) => Buffer.from(`${deep}name${n}`));
    const file = new ScratchFile(new MemoryPages(), 'a tree in memory');
    const view = new TreeView(file);
    for (const name of names) view.put(view.paths.add(name), view.addRecord('fifo', { mode: 0o644, uid: 0, gid: 0 }), NONE);
    const tree = view.sortInto();
    // Each: two words of name, a few bytes of it, five words of link and nine of content.
    expect(file.written).toBeLessThan(2000 * 200 + deep.length + 1000);
    expect(readAll(tree).map((r) => r.path)).toEqual(names.sort(Buffer.compare).map((name) => name.toString('latin1')));
    expect(readAll(tree).at(-1)!.path).toBe(`${deep}name999`);
  });
});

describe('a tree described into a scratch file in TMPDIR', () => {
  /** The descriptors of this process open on a deleted file in `dir`. */
  const openIn = (dir: string) =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
      } catch {
        return false;
      }
    });

  /** `run` with TMPDIR set to `dir`, and TMPDIR as it was after (unset, if it was). */
  const inTmpdir = <T>(dir: string, run: () => T): T => {
    const before = process.env.TMPDIR;
    process.env.TMPDIR = dir;
    try {
      return run();
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
  };

  it('is in a file whose name is gone, closed by close; and in memory where TMPDIR has no room for one', () => {
    const root = fresh('tree');
    for (const name of ['b', 'a']) writeFileSync(join(root, name), name);
    const tmp = fresh('tmp');
    inTmpdir(tmp, () => {
      const tree = describeDirectoryTree(root);
      const fds = openIn(tmp);
      expect(fds).toHaveLength(1);
      expect(readlinkSync(`/proc/self/fd/${fds[0]}`)).toMatch(/ \(deleted\)$/);
      expect(readdirSync(tmp)).toEqual([]);
      tree.close();
      expect(openIn(tmp)).toEqual([]);
    });
    const inMemory = inTmpdir(join(tmp, 'missing'), () => describeDirectoryTree(root));
    expect(openIn(tmp)).toEqual([]);
    expect(readAll(inMemory).map((r) => [r.path, r.type, r.size])).toEqual([['a', 'file', 1], ['b', 'file', 1]]);
    inMemory.close();
  });

  it('fails with a ScratchFileError that names the file where the file is cut short under it, and closes it', () => {
    const tmp = fresh('tmp');
    const root = fresh('tree');
    for (let n = 0; n < 20; n++) writeFileSync(join(root, `file${n}`), `${n}`);
    const tree = inTmpdir(tmp, () => describeDirectoryTree(root));
    const [fd] = openIn(tmp);
    const size = statSync(`/proc/self/fd/${fd}`).size;
    const write = openSync(`/proc/self/fd/${fd}`, 'r+');
    ftruncateSync(write, size - 8);
    closeSync(write);
    let first: unknown;
    try {
      [...tree.records()];
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(ScratchFileError);
    expect((first as Error).message).toMatch(/^reading the scratch file of the tree of .*: a run ends inside a record$/);
    expect(() => [...tree.records()]).toThrow(/scratch file of the tree of .*: it was closed after a failure/);
    expect(openIn(tmp)).toEqual([]);
  });
});
