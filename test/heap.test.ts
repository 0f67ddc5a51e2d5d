import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from './support/cli.js';
import { scratch } from './support/scratch.js';

const { fresh } = scratch('heap-');

/*
 * src/heap.ts caps V8's young generation by a flag set at run time, which V8 honours only
 * because it reads the growth factor whenever the space grows. These runs keep many objects
 * alive across scavenges, which grows the young generation of an uncapped Node 24 to 32 MiB,
 * and report its size in MiB.
 */
const GROW = `
const v8 = process.getBuiltinModule('node:v8');
const kept = [];
for (let i = 0; i < 300000; i++) kept.push({ i });
process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20));
`;

function newSpaceMiB(args: string[]): number {
  const run = spawnSync(process.execPath, args, { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return Number(run.stdout.slice(run.stdout.lastIndexOf('\n') + 1));
}

describe('the young generation', () => {
  it('grows past 2 MiB in a process that does not cap it', () => {
    expect(newSpaceMiB(['--input-type=module', '-e', GROW])).toBeGreaterThan(2);
  });

  it('stays at 2 MiB once capYoungGeneration has run', () => {
    const script = `(await import(${JSON.stringify(`${ROOT}dist/heap.js`)})).capYoungGeneration();${GROW}`;
    expect(newSpaceMiB(['--input-type=module', '-e', script])).toBeLessThanOrEqual(2);
  });

  it('stays at 2 MiB in the CLI, whose bin/ caps it before any work', () => {
    // The same objects, kept as the CLI's process ends after an unpack: its start and its work
    // ran under the cap too.
    const preload = `data:text/javascript,${encodeURIComponent(`process.on('exit', () => {${GROW}});`)}`;
    const image = `${ROOT}test-images/build/dracut-gzip.img`;
    expect(newSpaceMiB(['--import', preload, BIN, 'unpack', image, `${fresh('unpack')}/tree`])).toBeLessThanOrEqual(2);
  });
});
