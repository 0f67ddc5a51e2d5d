import type { Writable } from 'node:stream';
import { COMPRESSION_FORMATS, type CompressionName, type SegmentFormat } from '../decode/formats.js';
import { releaseOutputChunk } from '../decode/zlib-pump.js';
import { onInterrupt } from '../interrupt.js';
import { writeAllSync } from '../output.js';
const { closeSync, fstatSync, openSync, renameSync, rmSync } = process.getBuiltinModule('node:fs');
const { basename, dirname, join } = process.getBuiltinModule('node:path');
const { once } = process.getBuiltinModule('node:events');

/** How a member is written: plain cpio (none) or compressed. */
export type CreateCompression = 'none' | CompressionName;
export const CREATE_COMPRESSIONS: readonly CreateCompression[] = ['none', ...COMPRESSION_FORMATS.map((f) => f.name)];

/**
 * Writes the image file `out` through `write`, which gets the descriptor of a temporary file
 * beside it, to write front to back (writeMember); the temporary file is renamed to `out` once
 * `write` is done. A failure, or SIGINT, SIGTERM or SIGHUP, removes it: there is never a
 * partial `out`.
 */
export async function writeImageFile<T>(out: string, write: (fd: number) => Promise<T>): Promise<T> {
  // Unique to this process and moment, and opened only if new (wx): node:crypto's random
  // bytes cost 3.4 MB of peak RSS to load, OpenSSL's (`node -e` with and without it, by hand).
  const temporary = join(dirname(out), `.${basename(out)}.${process.pid}-${process.hrtime.bigint().toString(36)}.tmp`);
  // Read too: lzop's header is mended in place (zeroLzopMtime).
  let fd: number | undefined = openSync(temporary, 'wx+');
  const removeTemporary = onInterrupt(() => rmSync(temporary, { force: true }));
  try {
    const result = await write(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, out);
    return result;
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temporary, { force: true });
    throw err;
  } finally {
    removeTemporary();
  }
}

/** How our write to a compressor fails once it has stopped reading (writeMember). */
const STOPPED_READING = new Set(['EPIPE', 'ECANCELED']);

/**
 * Where the member after one of `format` that ends at `end` starts: 4-aligned, as every member
 * here starts; after an lz4 member, past a zero word, where the kernel's unlz4 ends the stream
 * (it reads any other word, another member's magic as well, as the next block's size).
 */
export function nextMemberStart(end: number, format: CreateCompression | SegmentFormat): number {
  return ((format === 'lz4' ? end + 4 : end) + 3) & ~3;
}

/**
 * Appends `source` to the file `fd`, compressed, and returns how many bytes it took. The file
 * is written front to back, through its offset, which is always at its end: a compressor
 * command writes into it directly, as its standard output.
 */
export async function writeMember(fd: number, source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, compression: CreateCompression, level: number | undefined): Promise<number> {
  const start = fstatSync(fd).size;
  if (compression === 'none') {
    for await (const chunk of source) writeAllSync(fd, chunk);
    return fstatSync(fd).size - start;
  }
  const compressor = COMPRESSION_FORMATS.find((f) => f.name === compression)!.compress;
  if ('stream' in compressor) {
    const stream = await compressor.stream(level);
    // Each chunk written as it comes, and its buffer freed once full (releaseOutputChunk), not left to V8.
    const written = (async () => {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        writeAllSync(fd, chunk);
        releaseOutputChunk(chunk);
      }
    })();
    const [input, output] = await Promise.allSettled([feed(source, stream), written]);
    // A failed write of the output destroys the stream, and the input's pending write fails
    // with it: the output's error says why.
    if (input.status === 'rejected' && (input.reason as NodeJS.ErrnoException).code !== 'ERR_STREAM_DESTROYED') throw input.reason;
    if (output.status === 'rejected') throw output.reason;
    if (input.status === 'rejected') throw input.reason;
    return fstatSync(fd).size - start;
  }
  // Its output never passes through this process: read from a pipe, it was 64 KiB buffers
  // left to V8 (by hand, GNU time, one run each: repack of the lzo image into lz4, peak RSS
  // 73.3 → 64.0 MB).
  const [command, ...args] = compressor.argv(level);
  const { spawn } = process.getBuiltinModule('node:child_process');
  const child = spawn(command, args, { stdio: ['pipe', fd, 'pipe'] });
  const stopChild = onInterrupt(() => child.kill());
  try {
    try {
      await once(child, 'spawn');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${command} is not installed (apt-get install ${compressor.debianPackage})`);
      throw err;
    }
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < 4096) stderr += text;
    });
    const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    // A failed write says so to its callback, which feed turns into the input's failure.
    child.stdin!.on('error', () => {});
    const [input, exit] = await Promise.allSettled([feed(source, child.stdin!), exited]);
    // What went wrong with our input comes first (the compressor only saw its end), unless
    // the compressor stopped reading: then its own words say why. Our write then fails with
    // EPIPE, or with ECANCELED where Node destroyed the pipe on the compressor's exit first
    // (by hand, 1 run in 40 of the command of test/repack.test.ts's failing compressor).
    if (input.status === 'rejected' && !STOPPED_READING.has((input.reason as NodeJS.ErrnoException).code ?? '')) throw input.reason;
    if (exit.status === 'rejected') throw exit.reason;
    const [status, signal] = exit.value;
    if (status !== 0) throw new Error(`${command} ${signal ? `was killed by ${signal}` : `exited with status ${status}`}${stderr ? `: ${stderr.trim()}` : ''}`);
    if (input.status === 'rejected') throw input.reason;
    const size = fstatSync(fd).size - start;
    if (compression === 'lzop') (await import('./lzop-header.js')).zeroLzopMtime(fd, start, size);
    return size;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    stopChild();
  }
}

/**
 * Writes `source` into a compressor one chunk at a time, each taken (processed by node:zlib,
 * handed to the pipe of a CLI) before the next is asked for, so that the source may reuse a
 * chunk's memory for the next one; and before the end: when end() comes while the last chunk
 * still waits, Node's zstd stream ends the frame with that chunk and then writes a second,
 * empty frame, so that the bytes would depend on timing.
 */
async function feed(source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, stream: Writable): Promise<void> {
  try {
    for await (const chunk of source) {
      await new Promise<void>((resolve, reject) => stream.write(chunk, (err) => (err ? reject(err) : resolve())));
    }
    stream.end();
  } catch (err) {
    stream.destroy(err as Error);
    throw err;
  }
}
