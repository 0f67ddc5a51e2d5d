import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unescapeName } from '../src/cpio/names.js';
import { cli, sh, splitLines } from './support/cli.js';
import { NATIVE_DECOMPRESS } from './support/fixtures.js';
import { REAL_EXPECTED, REAL_IMAGES, realImage, realImagesFound } from './support/real.js';
import { describeTree } from './support/tree.js';

/**
 * Images built by Debian's own dracut (test-images/build-real-images.sh, run by npm run setup):
 * early microcode as plain cpio, then the main archive. The oracle is what dracut's users run:
 * GNU cpio on the image (it stops after the early archive) and skipcpio | DECOMPRESSOR | cpio.
 */
const SKIPCPIO = '/usr/lib/dracut/skipcpio';
const work = mkdtempSync(join(tmpdir(), 'irr-real-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;


// Skipped, visibly, where test-images/real does not exist and CI is not set. The tests run over
// the names CI builds, not over what the directory holds, so a missing image fails its tests.
// (The bench also keeps the Debian installer's initrd there, which has no early archive.)
describe.skipIf(!REAL_EXPECTED)('real dracut images', () => {
  it(`are all there: ${REAL_IMAGES.join(', ')} (CI builds them with build-real-images.sh --extra)`, () => {
    expect(realImagesFound()).toEqual(REAL_IMAGES);
  });

  describe.each(REAL_IMAGES)('%s', (name) => {
    const image = realImage(name);
    const examine = () => JSON.parse(cli(['examine', '--json', image]).stdout.toString());
    const mainFormat = () => examine().archives[1].format as string;
    const mainPipeline = () => {
      const format = mainFormat();
      return `${SKIPCPIO} ${image}${format === 'cpio' ? '' : ` | ${NATIVE_DECOMPRESS[format]}`}`;
    };

    it('has the early microcode archive, then the main archive', () => {
      const report = examine();
      expect(report.archives).toHaveLength(2);
      const [early, main] = report.archives;
      expect(early).toMatchObject({ index: 1, start: 0, format: 'cpio' });
      expect(early.end % 4).toBe(0);
      expect(main.start % 512).toBe(0);
      expect(main.entries).toBeGreaterThan(1000);
      const expected = /-(\w+)\.img$/.exec(name)![1];
      expect(main.format).toBe({ none: 'cpio', lzo: 'lzop' }[expected] ?? expected);
    });

    it('lists what cpio -t lists, archive by archive', () => {
      const entries = JSON.parse(cli(['list', '--json', image]).stdout.toString()).entries as { archive: number; name: string }[];
      const early = splitLines(sh(`cpio -t --quiet < ${image}`));
      const main = splitLines(sh(`${mainPipeline()} | cpio -t --quiet`));
      expect(early.length).toBeGreaterThan(0);
      expect(main.length).toBeGreaterThan(1000);
      expect(entries.filter((e) => e.archive === 1).map((e) => unescapeName(e.name))).toEqual(early);
      expect(entries.filter((e) => e.archive === 2).map((e) => unescapeName(e.name))).toEqual(main);
    });

    it('unpacks the tree GNU cpio extracts', () => {
      const reference = join(work, `${name}-cpio`);
      const ours = join(work, `${name}-ours`);
      mkdirSync(reference);
      sh(`cpio -idmu --no-absolute-filenames --quiet < ${image}`, { cwd: reference });
      sh(`${mainPipeline()} | cpio -idmu --no-absolute-filenames --quiet`, { cwd: reference });
      const run = cli(['unpack', image, ours]);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const tree = describeTree(ours, { owners: isRoot });
      expect(Object.keys(tree).length).toBeGreaterThan(1000);
      expect(tree).toEqual(describeTree(reference, { owners: isRoot }));
      rmSync(reference, { recursive: true, force: true });
      rmSync(ours, { recursive: true, force: true });
    });

    it('cat gives a file as cpio extracts it', () => {
      const wanted = 'usr/lib/initrd-release';
      const reference = sh(`${mainPipeline()} | cpio -i --to-stdout --quiet ${wanted}`);
      const run = cli(['cat', image, `/${wanted}`]);
      expect(run.status).toBe(0);
      expect(run.stdout.length).toBeGreaterThan(0);
      expect(run.stdout.equals(reference)).toBe(true);
    });
  });

  it('fedora-like-zstd.img reproduces the April 2022 failure with dracut-056 and shows it gone with dracut-057 (native engine)', () => {
    const name = 'fedora-like-zstd.img';
    const image = realImage(name);
    const run = (order: string) => {
      const target = join(work, `${name}-${order}`);
      const r = cli(['unpack', image, target, '--order', order, '--engine', 'native', '--json']);
      rmSync(target, { recursive: true, force: true });
      expect(r.status).toBe(0);
      return JSON.parse(r.stdout.toString()) as { winner: string; attempts: { stage: string; consoleBytes: number; consoleUtf8: boolean }[] };
    };
    const old = run('dracut-056');
    const plain = old.attempts.find((a) => a.stage === 'plain')!;
    expect(plain.consoleBytes).toBeGreaterThanOrEqual(10_000);
    expect(plain.consoleUtf8).toBe(false);
    expect(old.winner).toBe('zstd');
    const fixed = run('dracut-057');
    expect(fixed.attempts.every((a) => a.consoleUtf8)).toBe(true);
    expect(fixed.winner).toBe('zstd');
  });
});
