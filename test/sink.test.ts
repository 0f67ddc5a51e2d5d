import { createHook } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startCoprocess } from '../src/decode/coprocess.js';
import { repackImage } from '../src/create/repack.js';
import { COMPRESSION_FORMATS } from '../src/decode/formats.js';
import { ByteSource } from '../src/decode/source.js';
import { FormatError } from '../src/errors.js';
import type { Sink } from '../src/decode/types.js';
import { walkImage } from '../src/image/walk.js';
import { ROOT } from './support/cli.js';
import { realistic } from './support/data.js';
import { FIXTURES } from './support/fixtures.js';

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

  it.each(MEMBERS.filter(([, name]) => name === 'gzip' || name === 'zstd'))('%s, its engine overlapped with the sink', async (label, name, argv) => {
    const path = member(label, argv);
    const src = ByteSource.open(path);
    const { sink, output, calls } = slowSink();
    try {
      await COMPRESSION_FORMATS.find((f) => f.name === name)!.decode(src, sink, { overlap: true });
    } finally {
      src.close();
    }
    expect(calls()).toBeGreaterThan(2);
    expect(output().equals(DATA)).toBe(true);
    expect(src.offset).toBe(statSync(path).size);
  });

  it.each(MEMBERS.filter(([, name]) => name === 'gzip' || name === 'zstd'))('%s, corrupt: the same error overlapped as not, while the sink holds a chunk', async (label, name, argv) => {
    const bytes = readFileSync(member(label, argv));
    bytes.fill(0x55, bytes.length >> 1, (bytes.length >> 1) + 64);
    const path = join(work, `${label}-corrupt.bin`);
    writeFileSync(path, bytes);
    const failure = async (overlap: boolean): Promise<unknown> => {
      const src = ByteSource.open(path);
      try {
        await COMPRESSION_FORMATS.find((f) => f.name === name)!.decode(src, slowSink().sink, { overlap });
        return undefined;
      } catch (err) {
        return err;
      } finally {
        src.close();
      }
    };
    const inThread = await failure(false);
    expect(inThread).toBeInstanceOf(FormatError);
    expect(await failure(true)).toEqual(inThread);
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

/**
 * node:zlib's engine runs on libuv's threadpool only where the sink works long on each chunk: its
 * calls there come back through an asynchronous callback of the engine's handle (a ZLIB resource
 * to async_hooks), which a call in this thread never makes.
 */
describe.skipIf(availableParallelism() < 2)('the engine overlapped with the sink', () => {
  async function engineCallbacks(run: () => Promise<unknown>): Promise<number> {
    const zlibResources = new Set<number>();
    let callbacks = 0;
    const hook = createHook({
      init: (id, type) => {
        if (type === 'ZLIB') zlibResources.add(id);
      },
      before: (id) => {
        if (zlibResources.has(id)) callbacks++;
      },
    }).enable();
    try {
      await run();
    } finally {
      hook.disable();
    }
    return callbacks;
  }

  async function decode(path: string, name: string, overlap: boolean): Promise<void> {
    const src = ByteSource.open(path);
    try {
      await COMPRESSION_FORMATS.find((f) => f.name === name)!.decode(src, () => {}, { overlap });
    } finally {
      src.close();
    }
  }

  it.each([['gzip', ['gzip', '-c']], ['zstd', ['zstd', '-c', '-q']]])('%s: on the threadpool with overlap, in this thread without', async (name, argv) => {
    const path = member(name, argv);
    expect(await engineCallbacks(() => decode(path, name, true))).toBeGreaterThan(2);
    expect(await engineCallbacks(() => decode(path, name, false))).toBe(0);
  });

  it.skipIf(!existsSync(`${FIXTURES}/dracut-zstd.img`))('a walk overlaps where it takes the file data (unpack), not where it skips it (list)', async () => {
    const events = { entry() {}, data() {}, entryEnd() {}, trailer() {} };
    const image = `${FIXTURES}/dracut-zstd.img`;
    expect(await engineCallbacks(() => walkImage(image, events))).toBeGreaterThan(0);
    expect(await engineCallbacks(() => walkImage(image, events, { skipData: true }))).toBe(0);
  });

  // In a process of its own, whose cores taskset sets; the walk's library as built.
  it.skipIf(!existsSync(`${FIXTURES}/dracut-zstd.img`))('on one core, the engine stays in this thread where the walk takes the data', () => {
    const script = `
      import { createHook } from 'node:async_hooks';
      import { walkImage } from ${JSON.stringify(pathToFileURL(`${ROOT}dist/index.js`).href)};
      const zlibResources = new Set();
      let callbacks = 0;
      createHook({ init: (id, type) => type === 'ZLIB' && zlibResources.add(id), before: (id) => zlibResources.has(id) && callbacks++ }).enable();
      await walkImage(${JSON.stringify(`${FIXTURES}/dracut-zstd.img`)}, { entry() {}, data() {}, entryEnd() {}, trailer() {} });
      console.log(callbacks);
    `;
    const callbacksOn = (cores: string): number =>
      Number(execFileSync('taskset', ['-c', cores, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' }).trim());
    expect(callbacksOn('0')).toBe(0);
    expect(callbacksOn('0,1')).toBeGreaterThan(0);
  });

  // Into none, so that no compressor of node:zlib's makes callbacks of its own; its first walk skips the data.
  it.skipIf(!existsSync(`${FIXTURES}/dracut-gzip.img`))('repack overlaps a member with what takes its output', async () => {
    const image = `${FIXTURES}/dracut-gzip.img`;
    expect(await engineCallbacks(() => repackImage(image, join(work, 'repacked.img'), { compress: 'none' }))).toBeGreaterThan(0);
  });
});
