import { createRequire } from 'node:module';
import { crc32 } from 'node:zlib';
import { FormatError } from '../errors.js';
import type { ByteSource } from './source.js';
import type { Decoder } from './types.js';

/**
 * xz through xz-decompress (xz-embedded compiled to WASM). Its public ReadableStream runs
 * xz-embedded in concatenated-streams mode, which reads to the end of its input and never says
 * where a stream ended; the kernel instead stops after one stream and goes on with the next
 * member. So the WASM context is driven directly (the layout is pinned with the package
 * version) and the input is cut at the stream footer, found by its magic, its CRC32 and the
 * index indicator its backward size points at. The decoder then verifies everything itself.
 */

interface XzExports {
  memory: WebAssembly.Memory;
  create_context(): number;
  destroy_context(ptr: number): void;
  supply_input(ptr: number, length: number): void;
  get_next_output(ptr: number): number;
}

interface XzModule {
  XzReadableStream: {
    _moduleInstance?: WebAssembly.Instance;
    _getModuleInstance(): Promise<void>;
  };
}

const XZ_OK = 0;
const XZ_STREAM_END = 1;
const XZ_MESSAGES: Record<number, string> = {
  2: 'unsupported integrity check type',
  3: 'out of memory',
  4: 'memory limit reached',
  5: 'not an xz stream (bad header)',
  6: 'unsupported xz options (filter chain or BCJ)',
  7: 'corrupt xz data (bad check or compressed data)',
  8: 'truncated xz stream',
};

const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const HEADER_SIZE = 12;
const FOOTER_SIZE = 12;

let wasm: XzExports | undefined;

async function loadWasm(): Promise<XzExports> {
  if (!wasm) {
    const { XzReadableStream } = createRequire(import.meta.url)('xz-decompress') as XzModule;
    if (!XzReadableStream._moduleInstance) await XzReadableStream._getModuleInstance();
    wasm = XzReadableStream._moduleInstance!.exports as unknown as XzExports;
  }
  return wasm;
}

export const decodeXz: Decoder = async (src, sink) => {
  const start = src.offset;
  const header = src.peek(HEADER_SIZE);
  if (header.length < HEADER_SIZE) throw new FormatError('truncated xz stream header', start);
  if (HEADER_MAGIC.some((b, i) => header[i] !== b)) throw new FormatError('not an xz stream', start);
  if (crc32(header.subarray(6, 8)) !== readLE32(header, 8)) {
    throw new FormatError('xz stream header CRC32 mismatch', start + 8);
  }
  const flags0 = header[6];
  const flags1 = header[7];

  const xz = await loadWasm();
  const ctx = xz.create_context();
  try {
    let regs = new Uint32Array(xz.memory.buffer, ctx, 6);
    const bufSize = regs[0];
    const inPtr = regs[1];
    const outPtr = regs[4];
    let fed = 0;
    let end = -1;
    let result = XZ_OK;

    const run = (): void => {
      for (;;) {
        result = xz.get_next_output(ctx);
        regs = new Uint32Array(xz.memory.buffer, ctx, 6);
        if (regs[5] > 0) sink(new Uint8Array(xz.memory.buffer, outPtr, regs[5]));
        regs[5] = 0;
        if (result !== XZ_OK) return;
        if (regs[2] === regs[3]) return;
      }
    };

    while (end < 0) {
      const view = src.peek(bufSize + FOOTER_SIZE);
      let take = Math.min(view.length, bufSize);
      if (take === 0) throw new FormatError('truncated xz stream: no stream footer before the end of the file', src.offset);
      const footer = findFooter(view, take, src.offset, start, flags0, flags1);
      if (footer >= 0) {
        take = footer + FOOTER_SIZE;
        end = src.offset + take;
      }
      new Uint8Array(xz.memory.buffer).set(view.subarray(0, take), inPtr);
      xz.supply_input(ctx, take);
      src.skip(take);
      fed += take;
      run();
      if (result !== XZ_OK) break;
    }
    if (result === XZ_OK) {
      // Zero input length tells the wrapper the input is complete, so it reports the end.
      xz.supply_input(ctx, 0);
      run();
    }
    if (result !== XZ_STREAM_END) {
      throw new FormatError(XZ_MESSAGES[result] ?? `xz decoder error ${result}`, start + fed);
    }
    regs = new Uint32Array(xz.memory.buffer, ctx, 6);
    const unused = regs[3] - regs[2];
    src.seek(start + fed - unused);
  } finally {
    xz.destroy_context(ctx);
  }
};

/**
 * Index in `view` of a stream footer starting before `limit`, or -1. A footer is the CRC32 of
 * the next 6 bytes, the backward size, the stream flags repeated from the header, then "YZ";
 * its backward size must point past the stream header at an index indicator (0x00).
 */
function findFooter(view: Uint8Array, limit: number, viewOffset: number, streamStart: number, flags0: number, flags1: number): number {
  const last = Math.min(limit, view.length - FOOTER_SIZE + 1);
  for (let i = view.indexOf(0x59, 10) - 10; i >= 0 && i < last; i = view.indexOf(0x59, i + 11) - 10) {
    if (view[i + 11] !== 0x5a || view[i + 8] !== flags0 || view[i + 9] !== flags1) continue;
    if (crc32(view.subarray(i + 4, i + 10)) !== readLE32(view, i)) continue;
    const indexSize = (readLE32(view, i + 4) + 1) * 4;
    const indexAt = viewOffset + i - indexSize;
    if (indexAt < streamStart + HEADER_SIZE) continue;
    const rel = indexAt - viewOffset;
    if (rel >= 0 && view[rel] !== 0) continue;
    return i;
  }
  return -1;
}

function readLE32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}
