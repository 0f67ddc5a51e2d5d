import fc from 'fast-check';
import { fstatSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { type CpioEntry, hardLinkKey } from '../src/cpio/entry.js';
import { ScratchFileError } from '../src/errors.js';
import { HardLinkGroups } from '../src/extract/hard-links.js';
import { PathTable } from '../src/extract/path-table.js';
import { ScratchFile } from '../src/extract/scratch-file.js';
import { rng } from './support/data.js';

const entry = (devMajor: number, devMinor: number, ino: number, mode: number) => ({ devMajor, devMinor, ino, mode, nlink: 2 }) as CpioEntry;

describe('HardLinkGroups', () => {
  it('gives each group the first name added for its key, as a Map by hardLinkKey does', () => {
    // Few values of each field, so that keys differ in one field only; enough of them to grow.
    const entries = fc.tuple(fc.nat(2), fc.nat(2), fc.oneof(fc.nat(3), fc.nat(0xffffffff)), fc.constantFrom(0o100644, 0o020644, 0o010644, 0o140644));
    fc.assert(
      fc.property(fc.array(fc.tuple(entries, fc.uint8Array({ minLength: 1, maxLength: 4 })), { maxLength: 600 }), (added) => {
        const groups = new HardLinkGroups();
        const byKey = new Map<string, Buffer>();
        for (const [[major, minor, ino, mode], bytes] of added) {
          const e = entry(major, minor, ino, mode);
          const rel = Buffer.from(bytes.map((b) => (b === 0x2f || b === 0 ? 0x61 : b)));
          expect(groups.firstName(e)?.toString('latin1')).toBe(byKey.get(hardLinkKey(e)!)?.toString('latin1'));
          if (!byKey.has(hardLinkKey(e)!)) byKey.set(hardLinkKey(e)!, rel);
          groups.add(e, rel);
        }
        for (const [[major, minor, ino, mode]] of added) {
          const e = entry(major, minor, ino, mode);
          expect(groups.firstName(e)!.equals(byKey.get(hardLinkKey(e)!)!)).toBe(true);
        }
      }),
      { numRuns: 200, seed: 45 },
    );
  });

  it('numbers its names in the tree\'s table when given one, which its release leaves to the tree', () => {
    const table = new PathTable();
    const dir = table.add(Buffer.from('d'));
    const groups = new HardLinkGroups(table);
    groups.add(entry(0, 0, 7, 0o100644), Buffer.from('d/first'));
    expect(table.find(Buffer.from('d/first'))).toBeGreaterThan(dir);
    expect(groups.firstName(entry(0, 0, 7, 0o100644))?.toString()).toBe('d/first');
    groups.release();
    expect(table.pathOf(table.add(Buffer.from('d/next'))).toString()).toBe('d/next');
  });

  it('keeps 20,000 groups apart as it grows, keys that differ in one field each', () => {
    const groups = new HardLinkGroups();
    const keys = Array.from({ length: 5000 }, (_, i) => [
      entry(0, 0, i, 0o100644), entry(1, 0, i, 0o100644), entry(0, 1, i, 0o100644), entry(0, 0, i, 0o020644),
    ]).flat();
    keys.forEach((e, n) => groups.add(e, Buffer.from(`d${n % 7}/n${n}`)));
    keys.forEach((e, n) => expect(groups.firstName(e)?.toString()).toBe(`d${n % 7}/n${n}`));
    expect(groups.firstName(entry(0, 0, 5000, 0o100644))).toBeUndefined();
  });
});

/*
 * Past `groups` in memory the groups go to runs in a scratch file, sorted by key, with a Bloom
 * filter and an index of blocks in memory (src/extract/hard-link-runs.ts). A group is added only
 * where firstName did not find it, as the writer does.
 */
describe('HardLinkGroups past memory', () => {
  const work = mkdtempSync(join(tmpdir(), 'hard-links-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  let files = 0;
  const opened: number[] = [];
  const spill = (groups: number) => ({
    groups,
    open: () => {
      opened.push(openSync(join(work, `runs-${files++}`), 'w+'));
      return new ScratchFile(opened.at(-1)!, 'a test file');
    },
  });
  afterEach(() => vi.restoreAllMocks());

  it('gives each group the first name added for its key, for any keys and names, and any number held', () => {
    // Keys that differ in one field only, and inos at both ends of 32 bits (the runs order them unsigned).
    const keys = fc.tuple(fc.nat(2), fc.nat(2), fc.oneof(fc.nat(3), fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff), fc.nat(0xffffffff)), fc.constantFrom(0o100644, 0o020644, 0o010644, 0o140644));
    const names = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.uint8Array({ minLength: 1, maxLength: 300 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(keys, names), { maxLength: 400, size: 'max' }), fc.integer({ min: 1, max: 8 }), (added, held) => {
        const groups = new HardLinkGroups(undefined, spill(held));
        const byKey = new Map<string, Buffer>();
        try {
          for (const [[major, minor, ino, mode], bytes] of added) {
            const e = entry(major, minor, ino, mode);
            const key = hardLinkKey(e)!;
            expect(groups.firstName(e)?.toString('latin1')).toBe(byKey.get(key)?.toString('latin1'));
            if (byKey.has(key)) continue;
            const rel = Buffer.from(bytes.map((b) => (b === 0x2f || b === 0 ? 0x61 : b)));
            byKey.set(key, rel);
            groups.add(e, rel);
          }
          for (const [[major, minor, ino, mode]] of added) {
            const e = entry(major, minor, ino, mode);
            expect(groups.firstName(e)!.equals(byKey.get(hardLinkKey(e)!)!)).toBe(true);
          }
        } finally {
          groups.release();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('finds 20,000 groups, 19,000 of them in 19 runs of many blocks, reading one block for each, and looks on disk for a key it never added only as often as its filters err', () => {
    const groups = new HardLinkGroups(undefined, spill(1000));
    const keys = Array.from({ length: 5000 }, (_, i) => [
      entry(0, 0, i, 0o100644), entry(1, 0, i, 0o100644), entry(0, 1, i, 0o100644), entry(0, 0, i, 0o020644),
    ]).flat();
    // In no order of their keys, so that a key is inside the range of every run.
    const random = rng(50);
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [keys[i], keys[j]] = [keys[j], keys[i]];
    }
    keys.forEach((e, n) => groups.add(e, Buffer.from(`d${n % 7}/n${n}`)));
    const reads = vi.spyOn(ScratchFile.prototype, 'read');
    keys.forEach((e, n) => expect(groups.firstName(e)?.toString()).toBe(`d${n % 7}/n${n}`));
    // 19,000 on disk, each read once, and a few more where another run's filter errs; asking
    // every run newest first, half of them each.
    expect(reads.mock.calls.length).toBeGreaterThanOrEqual(19_000);
    expect(reads.mock.calls.length).toBeLessThan(19_500);
    reads.mockClear();
    for (let i = 5000; i < 25_000; i++) expect(groups.firstName(entry(0, 0, i, 0o100644))).toBeUndefined();
    // A false positive in about 1,700 keys a run: without the filters, 19 reads a key.
    expect(reads.mock.calls.length).toBeLessThan(1000);
    groups.release();
  });

  it('finds its groups past 20,480 blocks of runs, where the index of blocks grows by quarters', () => {
    const groups = new HardLinkGroups(undefined, spill(16_384));
    const count = 1_400_000;
    const name = Buffer.from('d/n');
    for (let ino = 1; ino <= count; ino++) groups.add(entry(0, 0, ino, 0o100644), name);
    for (let ino = 1; ino <= count; ino += 997) expect(groups.firstName(entry(0, 0, ino, 0o100644))?.toString(), `ino ${ino}`).toBe('d/n');
    expect(groups.firstName(entry(0, 0, count + 1, 0o100644))).toBeUndefined();
    groups.release();
  });

  it('closes its file when released', () => {
    const groups = new HardLinkGroups(undefined, spill(1));
    groups.add(entry(0, 0, 1, 0o100644), Buffer.from('a'));
    groups.add(entry(0, 0, 2, 0o100644), Buffer.from('b'));
    const fd = opened.at(-1)!;
    expect(fstatSync(fd).isFile()).toBe(true);
    groups.release();
    expect(() => fstatSync(fd)).toThrow(/EBADF/);
  });

  it('stay in memory where no scratch file can be made', () => {
    const groups = new HardLinkGroups(undefined, { groups: 1, open: () => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    } });
    for (let i = 0; i < 100; i++) groups.add(entry(0, 0, i, 0o100644), Buffer.from(`n${i}`));
    for (let i = 0; i < 100; i++) expect(groups.firstName(entry(0, 0, i, 0o100644))?.toString()).toBe(`n${i}`);
  });

  it('fail as their file does, with its name: one that cannot be written, one cut short', () => {
    const full = new HardLinkGroups(undefined, { groups: 1, open: () => new ScratchFile(openSync('/dev/full', 'r+'), 'the test file') });
    full.add(entry(0, 0, 1, 0o100644), Buffer.from('a'));
    expect(() => full.add(entry(0, 0, 2, 0o100644), Buffer.from('b'))).toThrow(ScratchFileError);
    expect(() => full.add(entry(0, 0, 3, 0o100644), Buffer.from('c'))).toThrow(/^writing the test file: it was closed after a failure/);

    const short = new HardLinkGroups(undefined, spill(1));
    short.add(entry(0, 0, 1, 0o100644), Buffer.from('a'));
    short.add(entry(0, 0, 2, 0o100644), Buffer.from('b'));
    ftruncateSync(opened.at(-1)!, 8);
    expect(() => short.firstName(entry(0, 0, 1, 0o100644))).toThrow(/^reading a test file: a run ends inside a record/);
    short.release();
  });
});
