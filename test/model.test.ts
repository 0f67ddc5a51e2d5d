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

  it('gives the user what a node kept before when a hard link brings its content, to record the link in its place', () => {
    const calls: [string, number][] = [];
    let kept = 0;
    const model = new ModelTree((e, replaced) => {
      calls.push([e.name.toString(), replaced]);
      return replaced === -1 ? kept++ : replaced;
    });
    const writer = new TreeWriter(model, { devices: true });
    const parser = new CpioParser(writer);
    parser.write(newcArchive([
      { name: 'a', ino: 7, nlink: 3 },
      { name: 's', mode: 0o120777, data: 'a' },
      { name: 'b', ino: 7, nlink: 3, data: 'one' },
      { name: 'c', ino: 7, nlink: 3, data: 'two' },
    ]));
    parser.end();
    // a and s are new nodes; b and c bring the group's content, each in place of the one before.
    expect(calls).toEqual([['a', -1], ['s', -1], ['b', 0], ['c', 0]]);
    expect(['a', 'b', 'c', 's'].map((name) => model.get(Buffer.from(name))?.from)).toEqual([0, 0, 0, 1]);
  });

  it('refuses rmdir of a directory while it holds a name, however many it held, and names no entry of its count', () => {
    const model = new ModelTree(() => -1);
    const name = (i: number) => Buffer.from(`d/${i}`);
    const names = 2 * 65_536 + 100;
    model.mkdir(Buffer.from('d'));
    for (let i = 0; i < names; i++) model.mkdir(name(i));
    expect(model.get(Buffer.from('d'))?.from).toBe(-1);
    for (let i = 0; i < names; i++) {
      if (i % 97 === 0 || (names - i) % 65_536 === 0 || names - i < 3) expect(() => model.rmdir(Buffer.from('d'))).toThrow(expect.objectContaining({ code: 'ENOTEMPTY' }));
      model.rmdir(name(i));
      // Back over the line, and down again.
      if (i === 70_000) for (let j = 0; j <= i; j++) model.mkdir(name(j));
      if (i === 70_000) for (let j = 0; j <= i; j++) model.rmdir(name(j));
    }
    model.rmdir(Buffer.from('d'));
    expect(model.kind(Buffer.from('d'))).toBeUndefined();
  });
});
