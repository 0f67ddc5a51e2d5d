import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, cli } from './support/cli.js';

/**
 * Progress bars: drawn on stderr when it is a terminal (util-linux `script` gives the command
 * one), in colour unless NO_COLOR is set; never when stderr is a pipe.
 */
const work = mkdtempSync(join(tmpdir(), 'irr-progress-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const IMAGE = `${ROOT}test-images/build/dracut-gzip.img`;
const TREE = `${ROOT}test-images/build/early`;
const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

const COMMANDS: { label: string; args: (n: number) => string[] }[] = [
  { label: 'examine', args: () => ['examine', IMAGE] },
  { label: 'list', args: () => ['list', IMAGE] },
  { label: 'unpack', args: (n) => ['unpack', IMAGE, join(work, `unpacked-${n}`)] },
  { label: 'create', args: (n) => ['create', join(work, `created-${n}.img`), TREE] },
  { label: 'repack: check', args: (n) => ['repack', IMAGE, join(work, `repacked-${n}.img`), '--compress', 'zstd'] },
  { label: 'repack: write', args: (n) => ['repack', IMAGE, join(work, `repacked-w${n}.img`), '--compress', 'zstd'] },
];

let counter = 0;

/** What the command printed on a terminal, both streams together, as `script` saw them. */
function onTerminal(args: string[], env: Record<string, string | undefined>): string {
  const command = [process.execPath, BIN, ...args].map(shellQuote).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { env: { ...process.env, TERM: 'xterm', ...env }, timeout: 120_000 });
  expect(r.status, r.stderr.toString()).toBe(0);
  return r.stdout.toString('latin1');
}

describe.skipIf(!existsSync('/usr/bin/script'))('progress bars', () => {
  it.each(COMMANDS)('$label: a bar on a terminal, in colour', ({ label, args }) => {
    const out = onTerminal(args(counter++), { NO_COLOR: undefined });
    expect(out).toContain(`\r${label} [\x1b[36m`);
    expect(out).toMatch(/\d+%/);
  });

  it.each(COMMANDS)('$label: without colour when NO_COLOR is set', ({ label, args }) => {
    const out = onTerminal(args(counter++), { NO_COLOR: '1' });
    expect(out).toContain(`\r${label} [`);
    expect(out).not.toContain('\x1b[36m');
  });

  // Not root, unpack still says on stderr which device nodes it skipped: only the bar must go.
  it.each(COMMANDS)('$label: no bar when stderr is a pipe', ({ label, args }) => {
    const r = cli(args(counter++));
    expect(r.status).toBe(0);
    expect(r.stderr).not.toContain('\r');
    expect(r.stderr).not.toContain(`${label} [`);
  });
});
