import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, sh } from './support/cli.js';
import type { BenchReport as Report } from '../src/bench/bench.js';
import { FIXTURES } from './support/fixtures.js';
import { WHY_NOT_NATIVE, titled } from './support/needs.js';

/** `bench` on small images made by the real tools: every field and count, never a time. */
const work = mkdtempSync(join(tmpdir(), 'irr-bench-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const haveGnuTime = existsSync('/usr/bin/time');

function bench(args: string[]): { status: number | null; report: Report; stderr: string } {
  const run = cli(['bench', '--json', '-', ...args]);
  return { status: run.status, stderr: run.stderr, report: JSON.parse(run.stdout.toString()) as Report };
}

/** What dracut-056's plain stage leaves, by the oracle itself: dracut's skipcpio into GNU cpio. */
function plainStageJunk(image: string): number {
  const dir = mkdtempSync(join(work, 'oracle-'));
  sh(`/usr/lib/dracut/skipcpio ${image} | cpio -id --no-absolute-filenames --quiet 2>/dev/null; true`, { cwd: dir });
  return Number(sh('find . -mindepth 1 | wc -l', { cwd: dir }).toString().trim());
}

describe.skipIf(WHY_NOT_NATIVE !== undefined)(titled('bench with both engines', WHY_NOT_NATIVE), () => {
  const image = join(FIXTURES, 'dracut-zstd.img');
  let status: number | null;
  let report: Report;
  beforeAll(() => {
    ({ status, report } = bench([image, '--orders', 'dracut-056,dracut-057,zstd+plain', '--runs', '2', '--warmup', '1']));
  });

  it('exits 0 and describes the machine, the tools, the settings and the image', () => {
    expect(status).toBe(0);
    expect(report.tool.name).toBe('initramfs-restore');
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.node).toMatch(/^v\d+/);
    expect(report.tools.cpio).toMatch(/GNU cpio/);
    expect(report.tools.zstd).toMatch(/v\d+\.\d+/);
    expect(report.settings).toMatchObject({ engines: ['native', 'builtin'], runs: 2, warmup: 1, console: 'journal' });
    expect(report.settings.orders.map((o) => o.name)).toEqual(['dracut-056', 'dracut-057', 'zstd+plain']);
    expect(report.settings.orders[2].stages).toEqual(['zstd', 'plain']);
    const [img] = report.images;
    expect(img.bytes).toBe(statSync(image).size);
    expect(img.sha256).toBe(createHash('sha256').update(readFileSync(image)).digest('hex'));
    expect(img.magic).toBe('zstd');
    // The early cpio is what dracut's skipcpio skips.
    expect(img.mainOffset).toBe(img.bytes - sh(`/usr/lib/dracut/skipcpio ${image}`).length);
  });

  it('has the floor and every order × engine, each with its warm-up and measured samples', () => {
    const rows = report.images[0].rows;
    expect(rows.map((r) => `${r.label}/${r.engine}`)).toEqual([
      'floor/native',
      'dracut-056/native', 'dracut-056/builtin',
      'dracut-057/native', 'dracut-057/builtin',
      'zstd+plain/native', 'zstd+plain/builtin',
    ]);
    expect(rows[0]).toMatchObject({ floor: true, stages: ['zstd'] });
    for (const row of rows) {
      expect(row.samples.map((s) => s.warmup)).toEqual([true, false, false]);
      expect(row.summary.runs).toBe(2);
      expect(row.summary.winner).toBe('zstd');
      const walls = row.samples.filter((s) => !s.warmup).map((s) => s.wallMs);
      expect(row.summary.wallMs.min).toBe(Math.min(...walls));
      expect(row.summary.wallMs.max).toBe(Math.max(...walls));
      if (haveGnuTime) expect(row.summary.peakRssKb).toBeGreaterThan(0);
      for (const s of row.samples) {
        expect(s.attempts.at(-1)).toMatchObject({ stage: 'zstd', ok: true });
        expect(s.failedAttempts).toBe(s.attempts.length - 1);
      }
    }
    expect(rows[0].summary.ratioToFloor).toBe(1);
  });

  it("counts dracut-056's failed attempts, its console spew and the junk its plain stage left", () => {
    const rows = report.images[0].rows;
    const [before, beforeBuiltin, fixed] = rows.slice(1);
    expect(before.summary).toMatchObject({ failedAttempts: 6, consoleUtf8: false, junkEntries: plainStageJunk(image) });
    // GNU cpio finds headers in zstd's bytes by chance: in root's build of the fixture (device
    // nodes, root's owners) it does; a user's build may have none.
    if (statSync(image).uid === 0) expect(before.summary.junkEntries).toBeGreaterThan(0);
    expect(before.summary.utf8Error).toMatch(/^'utf-8' codec can't decode byte 0x[0-9a-f]{2} in position \d+: invalid (start|continuation) byte$/);
    expect(before.samples.every((s) => s.attempts[0].stage === 'plain' && s.attempts[0].junkEntries === before.summary.junkEntries)).toBe(true);
    // Our readers run in process: no console, so no verdict on one.
    expect(beforeBuiltin.summary).toMatchObject({ failedAttempts: 6, consoleBytes: null, consoleUtf8: null, junkEntries: 0 });
    expect(beforeBuiltin.samples.every((s) => s.attempts.slice(0, -1).every((a) => /^not a cpio archive|^not an? \w+ (stream|member|file|frame)|lzma/.test(a.reason!)))).toBe(true);
    expect(fixed.summary).toMatchObject({ failedAttempts: 5, consoleUtf8: true, junkEntries: 0 });
    expect(rows[5].summary).toMatchObject({ failedAttempts: 0, consoleBytes: 0, junkEntries: 0 });
    // The native engine's time is its pipelines': the failed ones and the one that restored.
    for (const row of rows.filter((r) => r.engine === 'native')) {
      for (const s of row.samples) expect(s.failedMs + s.attempts.at(-1)!.wallMs).toBeCloseTo(s.wallMs, 6);
    }
  });

  it('prints the table and writes the chart', () => {
    const chart = join(work, 'chart.svg');
    const run = cli(['bench', image, '--orders', 'dracut-056', '--runs', '1', '--warmup', '0', '--chart', chart]);
    expect(run.status).toBe(0);
    const lines = run.stdout.toString().split('\n');
    // The two engines are two experiments: each has its own heading and table.
    const native = lines.findIndex((l) => l.startsWith('native engine:'));
    const builtin = lines.findIndex((l) => l.startsWith('builtin engine:'));
    expect(native).toBeGreaterThan(0);
    expect(builtin).toBeGreaterThan(native);
    expect(lines[native + 1]).toMatch(/^order\s+restored by\s+median s/);
    expect(lines.slice(native + 2, builtin).map((l) => l.split(/\s+/)[0])).toEqual(['floor', 'dracut-056']);
    expect(lines[builtin + 2]).toMatch(/^dracut-056\s+zstd\s.*\snone\s+-\s/);
    expect(lines.some((l) => /dracut-056 \(native\): the console is not UTF-8: 'utf-8' codec/.test(l))).toBe(true);
    const svg = readFileSync(chart, 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    // One bar and one whisker per row: the floor and dracut-056 with each engine.
    expect(svg.match(/<rect x="200" /g)).toHaveLength(3);
    expect(svg.match(/<path d="M/g)).toHaveLength(3);
    expect(svg).toContain('dracut-056 · native');
    expect(svg).toContain('dracut-056 · ours');
    expect(svg).toContain('console not UTF-8');
  });
});

describe('bench with the builtin engine', () => {
  it('reports a combination that restores nothing, without a ratio, and still exits 0', () => {
    const image = join(FIXTURES, 'dracut-bzip2.img');
    const { status, report } = bench([image, '--engines', 'builtin', '--orders', 'dracut-055,dracut-057', '--runs', '1', '--warmup', '0']);
    expect(status).toBe(0);
    const rows = report.images[0].rows.filter((r) => !r.floor);
    expect(rows.map((r) => [r.label, r.engine, r.summary.winner])).toEqual([['dracut-055', 'builtin', null], ['dracut-057', 'builtin', 'bzip2']]);
    expect(rows[0].summary).toMatchObject({ failedAttempts: 4, ratioToFastest: null, ratioToFloor: null });
    expect(rows[1].summary.ratioToFastest).toBeGreaterThanOrEqual(1);
  });

  it('benches several images in one run', () => {
    const images = ['dracut-gzip.img', 'dracut-lz4-legacy.img'].map((f) => join(FIXTURES, f));
    const { status, report } = bench([...images, '--engines', 'builtin', '--orders', 'dracut-057', '--runs', '1', '--warmup', '0']);
    expect(status).toBe(0);
    expect(report.images.map((i) => [i.magic, i.rows.at(-1)!.summary.winner])).toEqual([['gzip', 'gzip'], ['lz4-legacy', 'lz4']]);
  });

  it('--recompress: benches the image repacked into each compression, each named by it, and removes them', () => {
    const image = join(FIXTURES, 'dracut-gzip.img');
    const tmp = mkdtempSync(join(work, 'tmp-'));
    const { status, report } = bench([image, '--recompress', 'zstd,lz4', '--engines', 'builtin', '--orders', 'dracut-057', '--runs', '1', '--warmup', '0', '--tmp', tmp]);
    expect(status).toBe(0);
    expect(report.settings.recompress).toEqual(['zstd', 'lz4']);
    expect(report.images.map((i) => [i.repackedFrom, i.magic])).toEqual([
      [{ image, compress: 'zstd' }, 'zstd'],
      [{ image, compress: 'lz4' }, 'lz4-legacy'],
    ]);
    for (const img of report.images) {
      // The early archive is what the original has, byte for byte.
      expect(img.mainOffset).toBe(14848);
      expect(img.rows.filter((r) => !r.floor).map((r) => [r.label, r.engine, r.summary.runs, r.summary.winner])).toEqual([['dracut-057', 'builtin', 1, img.magic === 'zstd' ? 'zstd' : 'lz4']]);
      expect(existsSync(img.path)).toBe(false);
    }
    expect(readdirSync(tmp)).toEqual([]);
    expect(cli(['bench', image, '--recompress', 'zstd,rar']).status).toBe(2);
  });

  it('--recompress with --level: each image repacked at that level, as repack --level writes it', () => {
    const image = join(FIXTURES, 'dracut-gzip.img');
    const recompressed = (level: string) => {
      const { status, report } = bench([image, '--recompress', 'zstd,xz', '--level', level, '--engines', 'builtin', '--orders', 'dracut-057', '--runs', '1', '--warmup', '0']);
      expect(status).toBe(0);
      return report.images;
    };
    const [fast, best] = [recompressed('1'), recompressed('9')];
    expect(best.map((i) => i.repackedFrom)).toEqual([{ image, compress: 'zstd', level: 9 }, { image, compress: 'xz', level: 9 }]);
    for (const [i, compress] of ['zstd', 'xz'].entries()) {
      const out = join(mkdtempSync(join(work, 'repack-')), 'out.img');
      expect(cli(['repack', image, out, '--compress', compress, '--level', '9']).status).toBe(0);
      expect(best[i].sha256).toBe(createHash('sha256').update(readFileSync(out)).digest('hex'));
      expect(best[i].sha256).not.toBe(fast[i].sha256);
    }
    expect(cli(['bench', image, '--recompress', 'zstd,gzip', '--level', '12']).status).toBe(2);
    expect(cli(['bench', image, '--level', '3']).status).toBe(2);
  });

  it('rejects bad arguments as usage errors and names a missing image', () => {
    const image = join(FIXTURES, 'dracut-xz.img');
    expect(cli(['bench', '--help']).status).toBe(0);
    expect(cli(['bench']).status).toBe(2);
    expect(cli(['bench', image, '--orders', 'dracut-999']).status).toBe(2);
    expect(cli(['bench', image, '--orders', 'detect']).status).toBe(2);
    expect(cli(['bench', image, '--orders', 'zstd+rar']).status).toBe(2);
    expect(cli(['bench', image, '--engines', 'fast']).status).toBe(2);
    expect(cli(['bench', image, '--runs', '0']).status).toBe(2);
    expect(cli(['bench', image, '--warmup', '-1']).status).toBe(2);
    expect(cli(['bench', image, '--console', 'serial:fast']).status).toBe(2);
    const missing = cli(['bench', join(work, 'nope.img'), '--engines', 'builtin']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nope\.img: .*no such file/i);
  });
});
