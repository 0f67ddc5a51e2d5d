import fc from 'fast-check';
import { fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryRecords } from '../src/extract/directories.js';
import { RunFile, type RunRecord, type SortedRecords, descendingOrder } from '../src/extract/directory-runs.js';
import { ScratchFileError } from '../src/errors.js';
import { PathTable, doubledSlots, grown } from '../src/extract/path-table.js';
import { freeNow } from '../src/decode/source.js';
import { ScratchFile } from '../src/extract/scratch-file.js';

/** Relative paths as normalizeName gives them: components of any bytes but '/' and NUL, none empty. */
const paths = fc
  .array(fc.oneof(fc.constantFrom('a', 'b', 'ab', '\xe9', '\xff', '.x'), fc.uint8Array({ minLength: 1, maxLength: 6 }).map((b) => Buffer.from(b.filter((c) => c !== 0x2f && c !== 0)).toString('latin1') || 'z')), { minLength: 1, maxLength: 5 })
  .map((components) => Buffer.from(components.join('/'), 'latin1'));

describe('PathTable', () => {
  it('throws when used after its release, where a walk up its parents or a probe of its slots would never end', () => {
    const table = new PathTable();
    const id = table.add(Buffer.from('a/b/c'));
    table.release();
    for (const use of [() => table.find(Buffer.from('a/b/c')), () => table.add(Buffer.from('x')), () => table.pathOf(id), () => table.depthOf(id), () => table.parentOf(id), () => table.compare(id, 1)]) {
      expect(use).toThrow('a path table used after its release');
    }
  });

  it('names its paths by number once its index is freed, and refuses to find or add one', () => {
    const table = new PathTable();
    const a = table.add(Buffer.from('a/b'));
    const c = table.add(Buffer.from('c'));
    table.freeIndex();
    expect(table.pathOf(a).toString()).toBe('a/b');
    expect(table.parentOf(a)).toBe(table.parentOf(table.parentOf(a)) + 1);
    expect(Math.sign(table.compare(a, c))).toBe(-1);
    for (const use of [() => table.find(Buffer.from('a/b')), () => table.add(Buffer.from('d'))]) expect(use).toThrow('a path table looked in after its index was freed');
  });

  it('gives each path one number, which names its bytes and its parent, as a Map of the paths would', () => {
    fc.assert(
      fc.property(fc.array(paths, { maxLength: 60 }), fc.array(paths, { maxLength: 20 }), (added, looked) => {
        const table = new PathTable();
        const byKey = new Map<string, number>();
        for (const rel of added) {
          const id = table.add(rel);
          const key = rel.toString('latin1');
          expect(byKey.get(key) ?? id).toBe(id);
          byKey.set(key, id);
          expect(table.pathOf(id).equals(rel)).toBe(true);
          const after = Buffer.alloc(3 + rel.length, 'x');
          expect(table.writePath(id, after, 3)).toBe(after.length);
          expect(after.equals(Buffer.concat([Buffer.from('xxx'), rel]))).toBe(true);
          const slash = key.lastIndexOf('/');
          expect(table.parentOf(id)).toBe(slash < 0 ? 0 : table.find(rel.subarray(0, slash)));
          expect(table.depthOf(id)).toBe(key.split('/').length);
        }
        for (const rel of [...added, ...looked]) {
          const id = table.find(rel);
          const key = rel.toString('latin1');
          // A path's parents have numbers too; a path neither added nor a parent has none.
          const known = [...byKey.keys()].some((k) => k === key || k.startsWith(`${key}/`));
          expect(id >= 0).toBe(known);
          if (id >= 0) expect(table.pathOf(id).toString('latin1')).toBe(key);
        }
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('the root is 0, the empty path; the same name below two parents is two paths', () => {
    const table = new PathTable();
    expect(table.find(Buffer.alloc(0))).toBe(0);
    expect(table.pathOf(0).length).toBe(0);
    const one = table.add(Buffer.from('a/x'));
    const two = table.add(Buffer.from('b/x'));
    expect(one).not.toBe(two);
    expect(table.find(Buffer.from('x'))).toBe(-1);
    expect(table.find(Buffer.from('a/x/y'))).toBe(-1);
    // Enough of them that their hashes meet in the probes.
    const names = Array.from({ length: 5000 }, (_, i) => Buffer.from(`${i}/x`));
    for (const rel of names) table.add(rel);
    for (const rel of names) expect(table.pathOf(table.find(rel)).equals(rel)).toBe(true);
  });

  it('orders paths by their bytes, as Buffer.compare does', () => {
    // '-' and '.' sort below '/', so a directory's paths are not all together in byte order.
    const near = fc
      .array(fc.constantFrom('a', 'a-b', 'a.b', 'ab', 'a0', '\xe9', 'a\x01', 'b'), { minLength: 1, maxLength: 4 })
      .map((components) => Buffer.from(components.join('/'), 'latin1'));
    fc.assert(
      fc.property(fc.array(fc.oneof(near, paths), { minLength: 1, maxLength: 40 }), (added) => {
        const table = new PathTable();
        for (const rel of added) table.add(rel);
        const ids = Array.from({ length: table.size }, (_, id) => id);
        const sign = (n: number) => Math.sign(n) + 0;
        for (const a of ids) {
          for (const b of ids) expect(sign(table.compare(a, b))).toBe(Buffer.compare(table.pathOf(a), table.pathOf(b)));
        }
      }),
      { numRuns: 200, seed: 12 },
    );
  });

  it('keeps every path as its arrays and its hash grow, and finds none it was not given', () => {
    const table = new PathTable();
    const name = (i: number) => Buffer.from(`d${i % 97}/${'n'.repeat(i % 40)}${i}`);
    const ids = Array.from({ length: 50_000 }, (_, i) => table.add(name(i)));
    expect(new Set(ids).size).toBe(50_000);
    for (let i = 0; i < 50_000; i += 7) {
      expect(table.find(name(i))).toBe(ids[i]);
      expect(table.pathOf(ids[i]).equals(name(i))).toBe(true);
    }
    expect(table.size).toBe(50_000 + 97 + 1);
    // Probes through slots three quarters full, by numbers of the same parent and of others.
    for (let i = 50_000; i < 60_000; i++) expect(table.find(name(i))).toBe(-1);
    for (let i = 0; i < 97; i++) expect(table.find(Buffer.from(`d${i}/n`))).toBe(-1);
  });
});

/** What childrenFirst gives, paths latin1. */
function listed(dirs: DirectoryRecords, prefix: Buffer): unknown[] {
  const out: unknown[] = [];
  dirs.childrenFirst(prefix, (rel, meta) => out.push([rel.toString('latin1'), meta]));
  return out;
}

/** Records already in order, as a run takes them. */
function sorted(records: RunRecord[]): SortedRecords {
  return { count: records.length, at: (i) => records[i] };
}

describe('grown', () => {
  it('doubles up to 2^16 elements and adds a quarter past that, keeping what was there and filling what is new', () => {
    const lengths: number[] = [];
    let array = new Int32Array(1024).fill(7);
    for (let index = 0; index < 400_000; index++) {
      if (index >= array.length) {
        array = grown(array, index, -1);
        lengths.push(array.length);
        expect(array[index - 1]).not.toBe(-1);
        expect(array[index]).toBe(-1);
      }
      array[index] = index;
    }
    expect(lengths).toEqual([2048, 4096, 8192, 16384, 32768, 65536, 81920, 102400, 128000, 160000, 200000, 250000, 312500, 390625, 488282]);
    expect(array.subarray(0, 400_000).every((value, index) => value === index)).toBe(true);
    // An index far past the end: as many steps as it takes, at once.
    expect(grown(new Uint8Array(65_536), 100_000).length).toBe(102_400);
    expect(grown(new Uint16Array(0), 0).length).toBe(1);
  });

  it('moves an array into a reservation of its own once, then grows it in place, and freeNow gives its pages back', () => {
    const first = new Uint32Array(4).fill(9);
    const moved = grown(first, 4);
    expect(first.buffer.detached).toBe(true);
    expect(moved.buffer.resizable).toBe(true);
    expect(grown(moved, 1_000_000)).toBe(moved);
    expect(moved.length).toBeGreaterThan(1_000_000);
    expect([...moved.subarray(0, 5)]).toEqual([9, 9, 9, 9, 0]);
    freeNow(moved.buffer);
    expect(moved.buffer.detached).toBe(true);
    expect(() => freeNow(moved.buffer)).not.toThrow();
  });

  it('doubles the slots of a hash in place, every number at a free slot from its hash', () => {
    const hash = (id: number) => Math.imul(id, 0x9e3779b1) >>> 0;
    let slots = new Int32Array(1024).fill(-1);
    /** The slots once doubled: moved into a reservation, where they stay. */
    let moved: Int32Array | undefined;
    for (let id = 0; id < 300_000; id++) {
      let slot = hash(id) & (slots.length - 1);
      while (slots[slot] !== -1) slot = (slot + 1) & (slots.length - 1);
      slots[slot] = id;
      if ((id + 1) * 2 > slots.length) {
        slots = doubledSlots(slots, 0, id + 1, hash);
        moved ??= slots;
      }
    }
    expect(slots).toBe(moved);
    expect(slots.length).toBe(2 ** 20);
    expect(slots.filter((id) => id !== -1).sort()).toEqual(Int32Array.from({ length: 300_000 }, (_, i) => i));
  });
});

describe('DirectoryRecords', () => {
  const entry = (mode: number, uid = 0) => ({ mode: 0o40000 | mode, uid, gid: uid + 1, mtime: 2 ** 32 - 1 });
  const scratch = mkdtempSync(join(tmpdir(), 'irr-dirs-'));
  afterAll(() => rmSync(scratch, { recursive: true }));
  let files = 0;
  const open = () => new ScratchFile(openSync(join(scratch, `runs-${files++}`), 'w+'), 'a test file');
  const spills = { 'held in memory': undefined, 'spilled past 2 paths': { paths: 2, open } };

  it.each(Object.entries(spills))('gives the directories entries named, each before its parent, with what the last entry of each said, and none it forgot: %s', (_, spill) => {
    const dirs = new DirectoryRecords(spill);
    dirs.verify(Buffer.from('a/b'));
    dirs.record(Buffer.from('a'), entry(0o700), true);
    dirs.record(Buffer.from('a/b/c'), entry(0o755), true);
    dirs.record(Buffer.from('a-b'), entry(0o555), true);
    dirs.record(Buffer.from('a/b/c'), entry(0o750, 7), false);
    dirs.record(Buffer.from('z'), entry(0o711), true);
    dirs.forget(Buffer.from('z'));
    expect(dirs.isVerified(Buffer.from('z'))).toBe(false);
    if (!spill) {
      expect(dirs.isVerified(Buffer.from('a/b'))).toBe(true);
    }
    // In descending byte order, not by depth: "a/b/c" > "a-b" > "a", as '/' is above '-'.
    expect(listed(dirs, Buffer.alloc(0))).toEqual([
      ['a/b/c', { mode: 0o40750, uid: 7, gid: 8, mtime: 2 ** 32 - 1, made: false }],
      ['a-b', { mode: 0o40555, uid: 0, gid: 1, mtime: 2 ** 32 - 1, made: true }],
      ['a', { mode: 0o40700, uid: 0, gid: 1, mtime: 2 ** 32 - 1, made: true }],
    ]);
    expect(listed(dirs, Buffer.alloc(0))).toEqual([]);
  });

  it('closes the runs when what it applies throws', () => {
    const fds: number[] = [];
    const dirs = new DirectoryRecords({ paths: 2, open: () => {
      fds.push(openSync(join(scratch, `runs-${files++}`), 'w+'));
      return new ScratchFile(fds.at(-1)!, 'a test file');
    } });
    for (const name of ['a', 'b', 'c', 'd']) dirs.record(Buffer.from(name), entry(0o755), true);
    expect(fds).toHaveLength(1);
    expect(() => dirs.childrenFirst(Buffer.alloc(0), () => {
      throw new Error('from apply');
    })).toThrow('from apply');
    expect(() => fstatSync(fds[0])).toThrow(/EBADF/);
  });

  it('gives the same records spilled as held in memory, for any records and forgets, and any number of paths held', () => {
    // A few paths, each recorded and forgotten again and again, with others between.
    const step = fc.record({ which: fc.nat(), forget: fc.boolean(), mode: fc.integer({ min: 0, max: 0o7777 }), mtime: fc.nat() });
    fc.assert(fc.property(fc.array(paths, { minLength: 1, maxLength: 8 }), fc.array(step, { maxLength: 60, size: 'max' }), fc.integer({ min: 2, max: 6 }), (pool, steps, held) => {
      const inMemory = new DirectoryRecords();
      const spilled = new DirectoryRecords({ paths: held, open });
      for (const dirs of [inMemory, spilled]) {
        for (const { which, forget, mode, mtime } of steps) {
          const path = pool[which % pool.length];
          if (forget) dirs.forget(path);
          else dirs.record(path, { mode: 0o40000 | mode, uid: mode, gid: mtime, mtime }, (mtime & 1) === 0);
        }
      }
      expect(listed(spilled, Buffer.from('/'))).toEqual(listed(inMemory, Buffer.from('/')));
    }), { numRuns: 300 });
  });

  it('orders any paths as Buffer.compare does, descending', () => {
    fc.assert(fc.property(fc.uniqueArray(paths, { selector: (p) => p.toString('latin1'), maxLength: 200, size: 'max' }), (list) => {
      const starts = new Uint32Array(list.length + 1);
      list.forEach((p, i) => { starts[i + 1] = starts[i] + p.length; });
      const order = descendingOrder(Buffer.concat(list), starts);
      expect(Array.from(order, (i) => list[i])).toEqual([...list].sort((a, b) => Buffer.compare(b, a)));
    }), { numRuns: 300 });
  });
});

describe('RunFile', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'irr-runs-'));
  afterAll(() => rmSync(scratch, { recursive: true }));
  const record = (path: Buffer | string, flags = 2, mode = 0): RunRecord => {
    const bytes = Buffer.from(path);
    return { bytes, start: 0, end: bytes.length, flags, mode, uid: 0, gid: 0, mtime: 0 };
  };
  const pathOf = (r: RunRecord) => r.bytes.toString('latin1', r.start, r.end);

  it('merges runs of paths up to PATH_MAX, through buffers they do not fit in, the later run winning', () => {
    const runs = new RunFile(new ScratchFile(openSync(join(scratch, 'runs'), 'w+'), 'a test file'), () => false);
    // 40 paths of 4,000 bytes and more are more than a reader's buffer: it refills and moves what is left.
    const long = (c: number, n: number) => Buffer.concat([Buffer.alloc(4000 + n, c), Buffer.from(`/${n}`)]);
    const run = (c: number, mode: number) => Array.from({ length: 40 }, (_, n) => record(long(c, n), 2, mode)).sort((a, b) => Buffer.compare(b.bytes, a.bytes));
    runs.append(sorted(run(0x61, 1)));
    runs.append(sorted(run(0x62, 2)));
    runs.append(sorted(run(0x61, 3)));
    const merged: unknown[] = [];
    runs.merge((r) => merged.push([pathOf(r), r.mode]));
    expect(merged).toEqual([...run(0x62, 2), ...run(0x61, 3)].map((r) => [pathOf(r), r.mode]));
    runs.close();
  });

  it('keeps what says an older record no longer applies, until a merge holds the oldest run', () => {
    const FORGOTTEN = 8;
    const runs = new RunFile(new ScratchFile(openSync(join(scratch, 'tombstones'), 'w+'), 'a test file'), (r) => r.flags === FORGOTTEN);
    runs.append(sorted([record('x')]));
    for (let i = 1; i < 16; i++) runs.append(sorted([record(`filler${i}`)]));
    // The first 16 runs are one now, x in it. The next 16 hold what says x no longer applies.
    runs.append(sorted([record('x', FORGOTTEN)]));
    for (let i = 17; i < 32; i++) runs.append(sorted([record(`filler${i}`)]));
    const live: string[] = [];
    runs.merge((r) => {
      if (r.flags !== FORGOTTEN) live.push(pathOf(r));
    });
    expect(live).not.toContain('x');
    expect(live).toHaveLength(30);
    runs.close();
  });

  it('fails for good after a failed write, naming the file, with no code, and holds no run', () => {
    const runs = new RunFile(new ScratchFile(openSync('/dev/full', 'r+'), 'the test file'), () => false);
    const append = () => {
      try {
        runs.append(sorted([record('a')]));
      } catch (err) {
        return err as NodeJS.ErrnoException;
      }
    };
    const thrown = append();
    expect(thrown?.message).toMatch(/^writing the test file: ENOSPC/);
    expect(thrown).toBeInstanceOf(ScratchFileError);
    // The writer takes an error with a code such as ENOENT for one entry's failure, and goes on.
    expect(thrown?.code).toBeUndefined();
    expect(append()?.message).toBe('writing the test file: it was closed after a failure');
    const merged: string[] = [];
    runs.merge((r) => merged.push(pathOf(r)), undefined, sorted([record('b')]));
    expect(merged).toEqual(['b']);
  });
});
