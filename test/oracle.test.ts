import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unescapeName } from '../src/cpio/names.js';
import { cli, cpioExtract, sh, skippedDevices, splitLines } from './support/cli.js';
import { archivesOf, fixtureImages, fixtureNames, sampleImage } from './support/fixtures.js';
import { AS_ROOT } from './support/needs.js';
import { describeTree } from './support/tree.js';

const fixtures = fixtureImages();
// The fixtures, and the committed sample image against the manifest make-sample.sh wrote.
const images = [...fixtures, sampleImage()];
const work = mkdtempSync(join(tmpdir(), 'irr-oracle-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** GNU cpio's names for one archive, as raw bytes. */
function cpioNames(archive: Buffer): Buffer[] {
  return splitLines(sh('cpio -t --quiet', { input: archive }));
}

describe('fixtures exist', () => {
  it('test-images/build-fixtures.sh produced images, each with its manifest', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(20);
    expect(fixtures.map((f) => f.manifest.image).sort()).toEqual([...fixtureNames()].sort());
  });
});

describe.each(images.map((i) => [i.manifest.image, i] as const))('%s', (_name, { path, manifest }) => {
  it('examine finds the archives an independent walk of the pieces knows', () => {
    const run = cli(['examine', '--json', path]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout.toString());
    expect(report.size).toBe(manifest.size);
    const expected = manifest.segments.flatMap((s) =>
      s.format === 'cpio' ? [{ start: s.start, end: s.end, format: 'cpio' }] : (s.inner ?? []).map(() => ({ start: s.start, end: s.end, format: s.format })),
    );
    expect(report.archives.map((a: { start: number; end: number; format: string }) => ({ start: a.start, end: a.end, format: a.format }))).toEqual(expected);
    for (const a of report.archives) expect(a.size).toBe(a.end - a.start);
  });

  it('list gives, archive by archive, the names cpio -t gives', () => {
    const archives = archivesOf(path, manifest);
    const run = cli(['list', '--json', path]);
    expect(run.status).toBe(0);
    const entries = JSON.parse(run.stdout.toString()).entries as { archive: number; name: string }[];
    archives.forEach((archive, k) => {
      const ours = entries.filter((e) => e.archive === k + 1).map((e) => unescapeName(e.name));
      expect(ours).toEqual(cpioNames(archive));
    });
    expect(new Set(entries.map((e) => e.archive)).size).toBe(archives.length);
  });

  // As a user, neither makes the device nodes, and each names the ones it did not make.
  it('unpack gives the tree GNU cpio extracts, archive after archive', () => {
    const reference = join(work, `${manifest.image}-cpio`);
    const ours = join(work, `${manifest.image}-ours`);
    mkdirSync(reference);
    const unmade = archivesOf(path, manifest).flatMap((archive) =>
      cpioExtract('cpio -idmu --no-absolute-filenames --quiet', { cwd: reference, input: archive }));
    const run = cli(['unpack', path, ours]);
    expect(skippedDevices(run.stderr)).toEqual(unmade);
    expect(run.status).toBe(0);
    expect(describeTree(ours, { owners: AS_ROOT })).toEqual(describeTree(reference, { owners: AS_ROOT }));
  });
});
