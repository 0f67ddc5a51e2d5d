import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PathTable } from '../src/extract/path-table.js';
import { sortInPlace } from '../src/extract/sort.js';

describe('sortInPlace', () => {
  it('orders as a stable sort by the same comparator does, at any length, in order, against it, in runs, or not', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 300 }), fc.constantFrom('shuffled', 'ascending', 'descending', 'runs'), (keys, order) => {
        // Runs in order and against it, as natural runs are found, reversed where they descend.
        if (order === 'ascending') keys.sort((a, b) => a - b);
        if (order === 'descending') keys.sort((a, b) => b - a);
        if (order === 'runs') for (let at = 0; at < keys.length; at += 37) keys.splice(at, 37, ...keys.slice(at, at + 37).sort((a, b) => (at % 2 ? b - a : a - b)));
        // Elements are indices; the comparator sees only their keys, so that ties show stability.
        const compare = (a: number, b: number) => keys[a] - keys[b];
        const array = Uint32Array.from(keys, (_, i) => i);
        const expected = [...array].sort(compare);
        expect([...sortInPlace(array, compare)]).toEqual(expected);
      }),
    );
  });

  it('orders paths as Buffer.compare orders their bytes, past its runs and merges', () => {
    const table = new PathTable();
    const names = Array.from({ length: 5_000 }, (_, i) => Buffer.from(`d${i % 7}/${i % 3 ? 'n' : 'n-'}${(i * 7919) % 5_000}${i % 5 ? '' : '/x'}`, 'latin1'));
    const ids = Uint32Array.from(names, (name) => table.add(name));
    const sorted = sortInPlace(ids, (a, b) => table.compare(a, b));
    const bytes = [...sorted].map((id) => table.pathOf(id).toString('latin1'));
    const expected = [...new Set(names.map((name) => name.toString('latin1')))].sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')));
    expect(bytes).toEqual(expected);
  });
});
