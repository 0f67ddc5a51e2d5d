const { statfsSync } = process.getBuiltinModule('node:fs');
const { dirname, resolve } = process.getBuiltinModule('node:path');

/** What the filesystem holding `dir` (or the nearest existing directory above it) has free for us. */
export interface FreeSpace {
  /** Where it was asked: `dir` or the directory above it that exists. */
  path: string;
  bytes: number;
  blockSize: number;
}

export function freeSpace(dir: string): FreeSpace | undefined {
  for (let path = resolve(dir); ; path = dirname(path)) {
    try {
      const fs = statfsSync(path);
      return { path, bytes: fs.bavail * fs.bsize, blockSize: fs.bsize };
    } catch {
      if (path === dirname(path)) return undefined;
    }
  }
}
