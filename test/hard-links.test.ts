import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CpioEntry, hardLinkKey } from '../src/cpio/entry.js';
import { HardLinkGroups } from '../src/extract/hard-links.js';
import { PathTable } from '../src/extract/path-table.js';

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
