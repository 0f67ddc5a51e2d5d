import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { titled } from './support/needs.js';

const HAS_CLANG = ['clang', 'wasm-ld'].every((tool) => spawnSync(tool, ['--version']).status === 0);
const WASM = new URL('../src/decode/wasm/', import.meta.url).pathname;
const SOURCES = readdirSync(WASM).filter((name) => name.endsWith('.c'));

describe.skipIf(!HAS_CLANG)(titled('the committed WebAssembly', HAS_CLANG ? undefined : 'clang and lld are not installed'), () => {
  it('has a C source for each module, bzip2, LZMA, lz4 and LZO1X among them', () => {
    expect(SOURCES).toEqual(expect.arrayContaining(['bzip2.c', 'lzma.c', 'lz4-block.c', 'lzo1x.c']));
  });

  it('is what src/decode/wasm/build.sh makes of each C source', () => {
    const out = mkdtempSync(join(tmpdir(), 'wasm-build-'));
    try {
      execFileSync('bash', [join(WASM, 'build.sh'), out]);
      for (const source of SOURCES) {
        const module = source.replace(/\.c$/, '-wasm.ts');
        expect(readFileSync(join(out, module), 'utf8'), module).toBe(readFileSync(join(WASM, module), 'utf8'));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
