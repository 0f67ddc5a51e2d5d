import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { TreeView } from '../../src/diff/tree-view.js';
import { MemoryPages, ScratchFile } from '../../src/extract/scratch-file.js';
import { removeTree } from '../../src/extract/walk-tree.js';

/**
 * A test file's scratch directory, in `parent`, removed after its tests: `fresh` makes a new
 * directory in it, `writeImage` a new image of the given parts. Call it at the top of the file.
 */
export function scratch(prefix: string, parent = tmpdir()): { work: string; fresh: (what: string) => string; writeImage: (parts: Buffer[]) => string } {
  const work = mkdtempSync(join(parent, prefix));
  afterAll(() => removeTree(work));
  let counter = 0;
  const fresh = (what: string): string => {
    const dir = join(work, `${what}-${counter++}`);
    mkdirSync(dir);
    return dir;
  };
  const writeImage = (parts: Buffer[]): string => {
    const path = join(fresh('image'), 'image.img');
    writeFileSync(path, Buffer.concat(parts));
    return path;
  };
  return { work, fresh, writeImage };
}

/** The descriptors this process has open that name a deleted scratch file of a writer's (DiskTree.openScratch). */
export function openScratchFiles(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return '';
    }
  }).filter((target) => target.includes('.initramfs-restore-scratch-'));
}

/** A TreeView whose file is in memory, as where the system gives no scratch file. */
export function viewInMemory(): TreeView {
  return new TreeView(new ScratchFile(new MemoryPages(), 'a tree in memory'));
}
