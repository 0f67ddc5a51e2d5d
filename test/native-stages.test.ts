import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type MagicName, STAGES } from '../src/restore/orders.js';
import { sh } from './support/cli.js';
import { newcArchive } from './support/newc.js';

/**
 * What the native engine's report says about the real tools (STAGES[stage].reads) against the
 * installed tools themselves: each stage's own command on a member of every format.
 */
const work = mkdtempSync(join(tmpdir(), 'irr-native-stages-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** How each format is written by its own tool, as dracut writes it where dracut writes it. */
const WRITERS: Record<MagicName, string> = {
  gzip: 'gzip -n -9 -c',
  bzip2: 'bzip2 -9 -c',
  xz: 'xz --check=crc32 -c',
  lzma: 'xz --format=lzma -c',
  'lz4-legacy': 'lz4 -l -9 -c',
  'lz4-frame': 'lz4 -9 -c',
  lzop: 'lzop -9 -c',
  zstd: 'zstd -15 -q -c',
};

describe("the native stages' commands, as Debian's tools really are", () => {
  const archive = newcArchive([{ name: 'etc/os-release', data: 'ID=test\n'.repeat(200) }, { name: 'bin/sh', data: 'x'.repeat(5000) }]);
  const plain = join(work, 'archive.cpio');
  writeFileSync(plain, archive);
  const members = Object.entries(WRITERS).map(([format, writer]) => {
    const path = join(work, `member.${format}`);
    sh(`${writer} < ${plain} > ${path}`);
    return { format: format as MagicName, path };
  });

  for (const [stage, { command, reads }] of Object.entries(STAGES).filter(([stage]) => stage !== 'plain')) {
    it(`${command.join(' ')} (the ${stage} stage) reads ${reads.join(', ')} and nothing else`, () => {
      const read: MagicName[] = [];
      for (const { format, path } of members) {
        const run = spawnSync(command[0], command.slice(1), { input: readFileSync(path), maxBuffer: 1 << 26 });
        if (run.status === 0 && run.stdout.equals(archive)) read.push(format);
      }
      expect(read.sort()).toEqual([...reads].sort());
    });
  }
});
