import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, sh } from './support/cli.js';
import { FIXTURES } from './support/fixtures.js';
import { AS_ROOT, WHY_NOT_NATIVE, titled } from './support/needs.js';

/** `validate` on small images made by the real tools; timings are reported, never asserted. */

interface Verdict {
  engine: string;
  runs: number;
  verdict: string;
  reasons: string[];
  bugReproduced: boolean | null;
  orders: { order: string; winner?: string; sameTree: boolean; consoleBytes: number | null; consoleUtf8: boolean | null; utf8Error?: string; utf8Stage?: string; junkEntries: number; wallMs: number[] }[];
  extraMs: { median: number; percent: number; min: number; max: number };
}

const work = mkdtempSync(join(tmpdir(), 'irr-validate-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A PATH of links to the real tools, some left out, some replaced by scripts. */
function toolPath(name: string, omit: string[], scripts: Record<string, string> = {}): string {
  const bin = join(work, name);
  mkdirSync(bin);
  for (const tool of ['bash', 'cpio', 'zcat', 'gzip', 'bzcat', 'xzcat', 'lz4', 'lzop', 'zstd', 'python3', 'cat', 'mknod']) {
    if (omit.includes(tool) || tool in scripts) continue;
    const path = sh(`command -v ${tool}`).toString().trim();
    symlinkSync(path, join(bin, tool));
  }
  for (const [tool, body] of Object.entries(scripts)) writeFileSync(join(bin, tool), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  return bin;
}

describe.skipIf(WHY_NOT_NATIVE !== undefined)(titled('validate with the native engine', WHY_NOT_NATIVE), () => {
  it('holds: dracut-056 reproduces the oz crash and dracut-057 restores the same tree with a clean console', () => {
    const image = join(FIXTURES, 'dracut-zstd.img');
    const run = cli(['validate', '--runs', '2', '--json', image]);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout.toString());
    expect(report).toMatchObject({ engine: 'native', runs: 2, status: 0 });
    const [verdict] = report.images as Verdict[];
    expect(verdict).toMatchObject({ verdict: 'holds', bugReproduced: true, reasons: [] });
    const [before, fixed, zstdFirst] = verdict.orders;
    expect(before).toMatchObject({ order: 'dracut-056', winner: 'zstd', consoleUtf8: false, utf8Stage: 'plain', sameTree: true });
    expect(before.utf8Error).toMatch(/^'utf-8' codec can't decode byte 0x[0-9a-f]{2} in position \d+: invalid (start|continuation) byte$/);
    // GNU cpio finds headers in zstd's bytes by chance: in root's build of the fixture it does (test/bench.test.ts).
    if (statSync(image).uid === 0) expect(before.junkEntries).toBeGreaterThan(0);
    expect(fixed).toMatchObject({ order: 'dracut-057', winner: 'zstd', consoleUtf8: true, sameTree: true, junkEntries: 0 });
    expect(zstdFirst).toMatchObject({ order: 'zstd-first', winner: 'zstd', sameTree: true });
    for (const o of verdict.orders) expect(o.wallMs).toHaveLength(2);
  });

  it("prints the verdict in words, Python's message included", () => {
    const run = cli(['validate', '--runs', '1', join(FIXTURES, 'dracut-gzip.img')]);
    expect(run.status).toBe(0);
    const text = run.stdout.toString();
    expect(text).toMatch(/dracut-056 console: 'utf-8' codec can't decode byte/);
    expect(text).toMatch(/verdict: the fix holds\n/);
    expect(text).toMatch(/the fix holds on 1 image \(native engine\)/);
  });

  it('does not hold, exit 1, when a stage of dracut-057 sprays the console: the stage is named', () => {
    // A zcat that fails as a broken decompressor would, writing bytes that are not UTF-8.
    const path = toolPath('spraying-zcat', [], { zcat: "printf 'zcat: \\xff\\xfe broken\\n' >&2; exit 1" });
    const run = cli(['validate', '--runs', '1', '--json', join(FIXTURES, 'dracut-zstd.img')], { env: { PATH: path } });
    expect(run.status).toBe(1);
    const [verdict] = JSON.parse(run.stdout.toString()).images as Verdict[];
    expect(verdict.verdict).toBe('does-not-hold');
    expect(verdict.orders[1]).toMatchObject({ order: 'dracut-057', winner: 'zstd', consoleUtf8: false, utf8Stage: 'gzip' });
    expect(verdict.reasons.join('\n')).toMatch(/dracut-057's gzip stage wrote console output that is not UTF-8: 'utf-8' codec can't decode byte 0xff in position 6/);
    const text = cli(['validate', '--runs', '1', join(FIXTURES, 'dracut-zstd.img')], { env: { PATH: path } });
    expect(text.status).toBe(1);
    expect(text.stdout.toString()).not.toMatch(/the fix holds/);
    expect(text.stdout.toString()).toMatch(/the fix does NOT hold/);
  });

  it('does not hold, exit 1, when the restores leave another tree: a mode changed; owners and times are not compared', () => {
    const [cpio, touch, chown, chmod] = ['cpio', 'touch', 'chown', 'chmod'].map((tool) => sh(`command -v ${tool}`).toString().trim());
    const leaf = 'deep/a/b/c/d/e/leaf.txt';
    // The script's `cpio -id` keeps no times, and run by another user than root it owns every file.
    const retimed = toolPath('retiming-cpio', [], { cpio: `${cpio} "$@" || exit; [ ! -e ${leaf} ] || { ${touch} -d @1 ${leaf}; ${chown} 1:1 ${leaf}; }` });
    const same = cli(['validate', '--runs', '1', '--json', join(FIXTURES, 'dracut-zstd.img')], { env: { PATH: retimed } });
    expect(same.status).toBe(0);
    const [held] = JSON.parse(same.stdout.toString()).images as Verdict[];
    expect(held.orders.map((o) => o.sameTree)).toEqual([true, true, true]);

    const chmodded = toolPath('chmodding-cpio', [], { cpio: `${cpio} "$@" || exit; [ ! -e ${leaf} ] || ${chmod} 0600 ${leaf}` });
    const run = cli(['validate', '--runs', '1', '--json', join(FIXTURES, 'dracut-zstd.img')], { env: { PATH: chmodded } });
    expect(run.status).toBe(1);
    const [verdict] = JSON.parse(run.stdout.toString()).images as Verdict[];
    expect(verdict.verdict).toBe('does-not-hold');
    expect(verdict.orders.map((o) => [o.winner, o.sameTree])).toEqual([['zstd', false], ['zstd', false], ['zstd', false]]);
    expect(verdict.reasons).toContain('dracut-057 restored a different tree than detect');
  });

  it('does not hold, exit 1, when dracut-057 restores nothing (a lone uncompressed archive, dracut-ng #2255)', () => {
    const run = cli(['validate', '--runs', '1', join(FIXTURES, 'plain-newc.img')]);
    expect(run.status).toBe(1);
    expect(run.stdout.toString()).toMatch(/verdict: the fix does NOT hold: dracut-057 restored nothing/);
  });

  it('says "not reproduced", exit 3, where dracut-056 does not spray: an uncompressed main archive', () => {
    const run = cli(['validate', '--runs', '1', '--json', join(FIXTURES, 'dracut-none.img')]);
    expect(run.status).toBe(3);
    const [verdict] = JSON.parse(run.stdout.toString()).images as Verdict[];
    expect(verdict).toMatchObject({ verdict: 'not-reproduced', bugReproduced: false });
    expect(verdict.orders[0]).toMatchObject({ order: 'dracut-056', winner: 'plain', consoleUtf8: true });
    expect(verdict.reasons[0]).toMatch(/dracut-056's console output is valid UTF-8/);
  });

  it('cannot judge, exit 3, without GNU cpio: it says so and runs nothing', () => {
    const path = toolPath('no-cpio', ['cpio']);
    for (const args of [['--engine', 'native'], []]) {
      const run = cli(['validate', ...args, '--runs', '1', join(FIXTURES, 'dracut-zstd.img')], { env: { PATH: path } });
      expect(run.status).toBe(3);
      expect(`${run.stdout}${run.stderr}`).toMatch(/GNU cpio is not installed|no console output to judge/);
      expect(run.stdout.toString()).not.toMatch(/the fix holds/);
    }
  });
});

describe('validate with the builtin engine', () => {
  it('cannot judge the console, exit 3, and never says the fix holds; trees are still compared', () => {
    const run = cli(['validate', '--engine', 'builtin', '--runs', '1', '--json', join(FIXTURES, 'dracut-xz.img')]);
    expect(run.status).toBe(3);
    const [verdict] = JSON.parse(run.stdout.toString()).images as Verdict[];
    expect(verdict).toMatchObject({ engine: 'builtin', verdict: 'cannot-judge', bugReproduced: null });
    expect(verdict.reasons[0]).toMatch(/no console output to judge/);
    expect(verdict.orders.every((o) => o.sameTree && o.winner === 'xz' && o.consoleBytes === null)).toBe(true);
    const text = cli(['validate', '--engine', 'builtin', '--runs', '1', join(FIXTURES, 'dracut-xz.img')]).stdout.toString();
    expect(text).not.toMatch(/the fix holds/);
    expect(text).toMatch(/verdict: cannot judge/);
  });

  it.skipIf(!AS_ROOT)('compares as the user who runs it: as nobody, the device nodes its unpack skips are not missed', () => {
    const image = join(FIXTURES, 'dracut-xz.img');
    expect(cli(['list', '-v', image]).stdout.toString()).toMatch(/^c/m);
    const run = cli(['validate', '--engine', 'builtin', '--runs', '1', '--json', image], { uid: 65534, env: { TMPDIR: tmpdir() } });
    const [verdict] = JSON.parse(run.stdout.toString()).images as Verdict[];
    expect(verdict.orders.map((o) => [o.winner, o.sameTree])).toEqual([['xz', true], ['xz', true], ['xz', true]]);
  });

  it('rejects bad arguments as usage errors', () => {
    expect(cli(['validate']).status).toBe(2);
    expect(cli(['validate', '--runs', '0', join(FIXTURES, 'dracut-xz.img')]).status).toBe(2);
    expect(cli(['validate', '--engine', 'x', join(FIXTURES, 'dracut-xz.img')]).status).toBe(2);
  });
});
