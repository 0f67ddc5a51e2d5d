import type { Writable } from 'node:stream';
import { COMPRESSION_FORMATS, type CompressionName } from '../decode/formats.js';
import { releaseOutputChunk } from '../decode/zlib-pump.js';
import { onInterrupt } from '../interrupt.js';
import { zeroLzopMtime } from './lzop-header.js';
const { spawn } = process.getBuiltinModule('node:child_process');
const { randomBytes } = process.getBuiltinModule('node:crypto');
const {
  closeSync, createWriteStream, openSync, renameSync, rmSync, write, writeSync, writev,
} = process.getBuiltinModule('node:fs');
const { basename, dirname, join } = process.getBuiltinModule('node:path');
const { once } = process.getBuiltinModule('node:events');
const { pipeline } = process.getBuiltinModule('node:stream/promises');

/** How a member is written: plain cpio (none) or compressed. */
export type CreateCompression = 'none' | CompressionName;
export const CREATE_COMPRESSIONS: readonly CreateCompression[] = ['none', ...COMPRESSION_FORMATS.map((f) => f.name)];

/**
 * Writes the image file `out` through `write`, which gets the descriptor of a temporary file
 * beside it; the temporary file is renamed to `out` once `write` is done. A failure, or
 * SIGINT, SIGTERM or SIGHUP, removes it: there is never a partial `out`.
 */
export async function writeImageFile<T>(out: string, write: (fd: number) => Promise<T>): Promise<T> {
  const temporary = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined = openSync(temporary, 'wx');
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

/** Writes `source` at `start` of the file `fd`, compressed, and returns how many bytes it took. */
export async function writeMember(fd: number, start: number, source: Iterable<Buffer> | AsyncIterable<Buffer>, compression: CreateCompression, level: number | undefined): Promise<number> {
  if (compression === 'none') {
    let at = start;
    for await (const chunk of source) at = writeAt(fd, chunk, at);
    return at - start;
  }
  const compressor = COMPRESSION_FORMATS.find((f) => f.name === compression)!.compress;
  if ('stream' in compressor) {
    const stream = await compressor.stream(level);
    let at = start;
    // Each chunk written as it comes, and its buffer freed once full (releaseOutputChunk), not left to V8.
    const written = (async () => {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        at = writeAt(fd, chunk, at);
        releaseOutputChunk(chunk);
      }
    })();
    await Promise.all([feed(source, stream), written]);
    return at - start;
  }
  // A numeric fd: a FileHandle's close() would wait for every stream made from it to be
  // destroyed. The fd stays writeImageFile's: a failed pipeline destroys the stream, and a
  // destroyed stream closes its fd whatever autoClose says, racing writeImageFile's close.
  const sink = createWriteStream('', { fd, start, autoClose: false, fs: { write, writev, close: (_: number, done: () => void) => done() } });
  const [command, ...args] = compressor.argv(level);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stopChild = onInterrupt(() => child.kill());
  try {
    try {
      await once(child, 'spawn');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${command} is not installed (apt-get install ${compressor.debianPackage})`);
      throw err;
    }
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < 4096) stderr += text;
    });
    const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    const written = compression === 'lzop' ? pipeline(child.stdout, zeroLzopMtime(), sink) : pipeline(child.stdout, sink);
    // A failed write says so to its callback, which feed turns into the input's failure.
    child.stdin.on('error', () => {});
    const [input, output, exit] = await Promise.allSettled([feed(source, child.stdin), written, exited]);
    // What went wrong with our input comes first (the compressor only saw its end), unless
    // the compressor stopped reading: then its own words say why.
    if (input.status === 'rejected' && (input.reason as NodeJS.ErrnoException).code !== 'EPIPE') throw input.reason;
    if (exit.status === 'rejected') throw exit.reason;
    const [status, signal] = exit.value;
    if (status !== 0) throw new Error(`${command} ${signal ? `was killed by ${signal}` : `exited with status ${status}`}${stderr ? `: ${stderr.trim()}` : ''}`);
    if (input.status === 'rejected') throw input.reason;
    if (output.status === 'rejected') throw output.reason;
    return sink.bytesWritten;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    stopChild();
  }
}

/** Writes all of `chunk` at `at` of the file `fd`; returns where it ends. */
function writeAt(fd: number, chunk: Uint8Array, at: number): number {
  for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done, at + done);
  return at + chunk.length;
}

/**
 * Writes `source` into a compressor one chunk at a time, each taken (processed by node:zlib,
 * handed to the pipe of a CLI) before the next is asked for, so that the source may reuse a
 * chunk's memory for the next one; and before the end: when end() comes while the last chunk
 * still waits, Node's zstd stream ends the frame with that chunk and then writes a second,
 * empty frame, so that the bytes would depend on timing.
 */
async function feed(source: Iterable<Buffer> | AsyncIterable<Buffer>, stream: Writable): Promise<void> {
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
