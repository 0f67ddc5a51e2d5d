import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';
import { FIXTURES } from './support/fixtures.js';

/** `validate` on small images made by the real tools; timings are reported, never asserted. */
const haveDracut = existsSync('/usr/lib/dracut/skipcpio');

interface Verdict {
  engine: string;
  runs: number;
  fixHolds: boolean;
  bugReproduced: boolean;
  orders: { order: string; winner?: string; sameTree: boolean; consoleUtf8: boolean; utf8Error?: string; junkEntries: number; wallMs: number[] }[];
  extraMs: { median: number; percent: number; min: number; max: number };
}

describe.skipIf(!haveDracut && !process.env.CI)('validate with the native engine', () => {
  it('reproduces the oz crash with dracut-056 and passes dracut-057, with junk counted', () => {
    const run = cli(['validate', '--runs', '2', '--json', join(FIXTURES, 'dracut-zstd.img')]);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout.toString());
    expect(report).toMatchObject({ engine: 'native', runs: 2, fixHolds: true });
    const [verdict] = report.images as Verdict[];
    expect(verdict.bugReproduced).toBe(true);
    const [before, fixed, zstdFirst] = verdict.orders;
    expect(before).toMatchObject({ order: 'dracut-056', winner: 'zstd', consoleUtf8: false, sameTree: true });
    expect(before.utf8Error).toMatch(/^'utf-8' codec can't decode byte 0x[0-9a-f]{2} in position \d+: invalid (start|continuation) byte$/);
    expect(before.junkEntries).toBeGreaterThan(0);
    expect(fixed).toMatchObject({ order: 'dracut-057', winner: 'zstd', consoleUtf8: true, sameTree: true, junkEntries: 0 });
    expect(zstdFirst).toMatchObject({ order: 'zstd-first', winner: 'zstd', sameTree: true });
    for (const o of verdict.orders) expect(o.wallMs).toHaveLength(2);
    expect(Object.keys(verdict.extraMs).sort()).toEqual(['max', 'median', 'min', 'percent']);
  });

  it('prints the verdict in words, Python\'s message included', () => {
    const run = cli(['validate', '--runs', '1', join(FIXTURES, 'dracut-gzip.img')]);
    expect(run.status).toBe(0);
    const text = run.stdout.toString();
    expect(text).toMatch(/dracut-056 console: 'utf-8' codec can't decode byte/);
    expect(text).toMatch(/verdict: the fix holds/);
    expect(text).toMatch(/the fix holds on 1 image \(native engine\)/);
  });
});

describe('validate with the builtin engine', () => {
  it('says which engine it used, and that builtin decoders do not spray the console', () => {
    const run = cli(['validate', '--engine', 'builtin', '--runs', '1', '--json', join(FIXTURES, 'dracut-xz.img')]);
    expect(run.status).toBe(0);
    const [verdict] = JSON.parse(run.stdout.toString()).images as Verdict[];
    expect(verdict.engine).toBe('builtin');
    expect(verdict.bugReproduced).toBe(false);
    expect(verdict.orders.every((o) => o.sameTree && o.winner)).toBe(true);
  });

  it('fails the verdict, exit 1, when no order restores the image', () => {
    const run = cli(['validate', '--engine', 'builtin', '--runs', '1', join(FIXTURES, 'plain-newc.img')]);
    expect(run.status).toBe(1);
    expect(run.stdout.toString()).toMatch(/the fix does not hold: dracut-057 restored nothing/);
  });

  it('rejects bad arguments as usage errors', () => {
    expect(cli(['validate']).status).toBe(2);
    expect(cli(['validate', '--runs', '0', join(FIXTURES, 'dracut-xz.img')]).status).toBe(2);
    expect(cli(['validate', '--engine', 'x', join(FIXTURES, 'dracut-xz.img')]).status).toBe(2);
  });
});
