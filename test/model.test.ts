import { describe, expect, it } from 'vitest';
import { CpioParser } from '../src/cpio/parser.js';
import { ModelTree } from '../src/extract/model.js';
import { TreeWriter } from '../src/extract/writer.js';
import { DIR, newcArchive } from './support/newc.js';

describe('ModelTree', () => {
  it('makes a node, and keeps its entry, only for a create that succeeds: the writer tries a taken name twice', () => {
    let kept = 0;
    const model = new ModelTree(() => kept++);
    const writer = new TreeWriter(model, { devices: true });
    const entries = [{ name: 'd', mode: DIR }, ...Array.from({ length: 5 }, () => ({ name: 'd/x', data: 'x' }))];
    const parser = new CpioParser(writer);
    parser.write(newcArchive(entries));
    parser.end();
    expect(writer.refusedCount).toBe(0);
    // d, then one file per entry named d/x, each replacing the last: none for the failed tries.
    expect(model.nodeCount).toBe(6);
    expect([...model.paths()].map(([path, node]) => [model.pathOf(path).toString(), node.type])).toEqual([['d', 'dir'], ['d/x', 'file']]);
    // An entry is kept once, by the create that succeeds; the last one's is at d/x.
    expect(kept).toBe(5);
    expect(model.get(Buffer.from('d/x'))?.from).toBe(4);
  });
});
