import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCoprocess } from '../src/decode/coprocess.js';
import { COMPRESSION_FORMATS } from '../src/decode/formats.js';
import { ByteSource } from '../src/decode/source.js';
import type { Sink } from '../src/decode/types.js';
import { realistic } from './support/data.js';

/*
 * A sink may return a promise (repack's, which hands each chunk to a compressor): the decoder
 * pushes nothing more until it settles, and leaves the chunk as it was meanwhile, so that the
 * chunk needs no copy. Each member is made by the real compressor and is several of our chunks
 * long; the sink waits on a timer, so the event loop turns while the decoder is held.
 */
const work = mkdtempSync(join(tmpdir(), 'irr-sink-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const DATA = realistic(6 << 20, 7);

const MEMBERS: [string, string, string[]][] = [
  ['gzip', 'gzip', ['gzip', '-c']],
  ['bzip2', 'bzip2', ['bzip2', '-c', '-1']],
  ['lzma', 'lzma', ['xz', '--format=lzma', '-c', '-1']],
  ['xz', 'xz', ['xz', '--check=crc32', '--lzma2=preset=1,dict=1MiB', '-c']],
  ['xz with the x86 BCJ filter', 'xz', ['xz', '--x86', '--lzma2=preset=1', '-c']],
  ['lz4 legacy', 'lz4', ['lz4', '-l', '-c']],
  ['lz4 frame', 'lz4', ['lz4', '-c', '--content-size']],
  ['lzop', 'lzop', ['lzop', '-c']],
  ['zstd', 'zstd', ['zstd', '-c', '-q']],
];

function member(label: string, argv: string[]): string {
  const path = join(work, `${label.replaceAll(' ', '-')}.bin`);
  writeFileSync(path, execFileSync(argv[0], argv.slice(1), { input: DATA, maxBuffer: 64 << 20 }));
  return path;
}

/** A sink that holds each chunk for a few milliseconds, failing if another comes meanwhile or the chunk changes. */
function slowSink(): { sink: Sink; output: () => Buffer; calls: () => number } {
  const parts: Buffer[] = [];
  let held = false;
  const sink: Sink = async (chunk) => {
    if (held) throw new Error('a chunk came while the last one was held');
    held = true;
    const copy = Buffer.from(chunk);
    await new Promise((resolve) => setTimeout(resolve, 2));
    if (!copy.equals(chunk)) throw new Error('the chunk changed while held');
    parts.push(copy);
    held = false;
  };
  return { sink, output: () => Buffer.concat(parts), calls: () => parts.length };
}

describe('a sink that returns a promise holds the decoder', () => {
  it.each(MEMBERS)('%s', async (label, name, argv) => {
    const path = member(label, argv);
    const src = ByteSource.open(path);
    const { sink, output, calls } = slowSink();
    try {
      await COMPRESSION_FORMATS.find((f) => f.name === name)!.decode(src, sink);
    } finally {
      src.close();
    }
    expect(calls()).toBeGreaterThan(2);
    expect(output().equals(DATA)).toBe(true);
  });

  it('zstd -d as a co-process: its output is read no further until the sink is done', async () => {
    const path = member('zstd', ['zstd', '-c', '-q']);
    const { sink, output, calls } = slowSink();
    const run = await startCoprocess(path, 0, undefined, ['zstd', '-d', '-c', '-q']).drain(sink);
    expect(run.failure).toBeUndefined();
    expect(calls()).toBeGreaterThan(2);
    expect(output().equals(DATA)).toBe(true);
  });
});
