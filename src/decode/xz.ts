import { FormatError } from '../errors.js';
import { readLE32 } from './bytes.js';
import type { ByteSource } from './source.js';
import { eventLoopTurn } from './turn.js';
import type { Decoder } from './types.js';
const { createRequire } = process.getBuiltinModule('node:module');
const { crc32 } = process.getBuiltinModule('node:zlib');

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
const XZ_BUF_ERROR = 8;
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
  const [flags0, flags1] = readStreamFlags(src);

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
      const footer = findFooter(src, view, take, start, flags0, flags1);
      if (footer >= 0 && footer + FOOTER_SIZE <= bufSize) {
        take = footer + FOOTER_SIZE;
        end = src.offset + take;
      } else if (footer >= 0) {
        // The footer would not fit in the decoder's input buffer: it starts the next window.
        take = footer;
      }
      new Uint8Array(xz.memory.buffer).set(view.subarray(0, take), inPtr);
      xz.supply_input(ctx, take);
      src.skip(take);
      fed += take;
      run();
      if (result !== XZ_OK) break;
      await eventLoopTurn();
    }
    if (result === XZ_OK) {
      // Zero input length tells the wrapper the input is complete, so it reports the end.
      xz.supply_input(ctx, 0);
      run();
      if (result === XZ_OK) result = XZ_BUF_ERROR;
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

/** The stream flags of the header at `src.offset`, checked as the kernel's decoder checks them. */
function readStreamFlags(src: ByteSource): [number, number] {
  const start = src.offset;
  const header = src.peek(HEADER_SIZE);
  if (header.length < HEADER_SIZE) throw new FormatError('truncated xz stream header', start);
  if (HEADER_MAGIC.some((b, i) => header[i] !== b)) throw new FormatError('not an xz stream', start);
  if (crc32(header.subarray(6, 8)) !== readLE32(header, 8)) {
    throw new FormatError('xz stream header CRC32 mismatch', start + 8);
  }
  const flags0 = header[6];
  const flags1 = header[7];
  // The decoder (xz-embedded, as in the kernel) would call this an unsupported option: name it.
  const check = flags1 & 0x0f;
  if (flags0 === 0 && check !== 0 && check !== 1 && check !== 4) {
    throw new FormatError(`xz check type ${check === 10 ? 'SHA-256' : check} is not supported (the kernel's decoder reads none, CRC32 and CRC64)`, start + 7);
  }
  return [flags0, flags1];
}

const LZMA2_FILTER = 0x21;

/**
 * Where the xz stream at `src.offset` ends: at the first footer whose Index fits the stream,
 * found as our decoder finds it. Only a stream whose every block is LZMA2 alone is handed to
 * \`xz -d\` (undefined otherwise): xz reads filters the kernel's decoder does not (delta), so
 * any other chain stays with ours, which reads what the kernel reads.
 */
export function xzMemberEnd(src: ByteSource): number | undefined {
  const start = src.offset;
  const [flags0, flags1] = readStreamFlags(src);
  src.skip(HEADER_SIZE);
  for (;;) {
    const view = src.peek(FOOTER_SIZE);
    if (view.length < FOOTER_SIZE) throw new FormatError('truncated xz stream: no stream footer before the end of the file', src.offset);
    const limit = view.length - FOOTER_SIZE + 1;
    const footer = findFooter(src, view, limit, start, flags0, flags1);
    if (footer >= 0) {
      const footerAt = src.offset + footer;
      const indexSize = (readLE32(view, footer + 4) + 1) * 4;
      let at = start + HEADER_SIZE;
      let lzma2 = true;
      forEachIndexRecord(src, footerAt - indexSize, indexSize, (unpadded) => {
        lzma2 &&= lzma2Only(src.readAt(at, 2 + 2 * 10 + 10));
        at += unpadded + ((4 - (unpadded % 4)) % 4);
      });
      return lzma2 ? footerAt + FOOTER_SIZE : undefined;
    }
    src.skip(limit);
  }
}

/** Whether a block header (its first bytes) names one filter, LZMA2. */
function lzma2Only(head: Uint8Array): boolean {
  const flags = head[1];
  if ((flags & 0x03) !== 0 || (flags & 0x3c) !== 0) return false;
  let pos = 2;
  const skipVli = (): boolean => {
    for (let n = 0; n < 9 && pos < head.length; n++) if ((head[pos++] & 0x80) === 0) return true;
    return false;
  };
  if (flags & 0x40 && !skipVli()) return false;
  if (flags & 0x80 && !skipVli()) return false;
  return head[pos] === LZMA2_FILTER;
}

/**
 * Index in `view` of this stream's footer, starting before `limit`, or -1. A footer is the
 * CRC32 of the next 6 bytes, the backward size, the stream flags repeated from the header,
 * then "YZ". The backward size must point at an Index whose CRC32 holds and whose blocks fill
 * exactly the space from the stream header: an xz file stored inside the data (a compressed
 * module kept verbatim) has a valid footer of its own, but not one that fits this stream.
 */
function findFooter(src: ByteSource, view: Uint8Array, limit: number, streamStart: number, flags0: number, flags1: number): number {
  const last = Math.min(limit, view.length - FOOTER_SIZE + 1);
  for (let i = view.indexOf(0x59, 10) - 10; i >= 0 && i < last; i = view.indexOf(0x59, i + 11) - 10) {
    if (view[i + 11] !== 0x5a || view[i + 8] !== flags0 || view[i + 9] !== flags1) continue;
    if (crc32(view.subarray(i + 4, i + 10)) !== readLE32(view, i)) continue;
    const indexSize = (readLE32(view, i + 4) + 1) * 4;
    const footerAt = src.offset + i;
    if (indexMatches(src, footerAt - indexSize, indexSize, streamStart + HEADER_SIZE)) return i;
  }
  return -1;
}

/** Largest Index read to check a footer candidate; a real one is a few bytes per block. */
const MAX_INDEX = 1 << 24;

function indexMatches(src: ByteSource, indexAt: number, indexSize: number, blocksStart: number): boolean {
  if (indexAt < blocksStart) return false;
  let blocks = 0;
  const valid = forEachIndexRecord(src, indexAt, indexSize, (unpadded) => {
    blocks += unpadded + ((4 - (unpadded % 4)) % 4);
  });
  return valid && blocksStart + blocks === indexAt;
}

/**
 * Calls `visit` with the unpadded size of each block an Index lists, in order; false when it
 * is no Index (its CRC32 or a record does not hold).
 */
function forEachIndexRecord(src: ByteSource, indexAt: number, indexSize: number, visit: (unpadded: number) => void): boolean {
  if (indexSize > MAX_INDEX) return false;
  const index = src.readAt(indexAt, indexSize);
  if (index.length !== indexSize || index[0] !== 0) return false;
  if (crc32(index.subarray(0, indexSize - 4)) !== readLE32(index, indexSize - 4)) return false;
  let pos = 1;
  const vli = (): number => {
    let value = 0;
    for (let shift = 1; pos < indexSize - 4 && shift < 2 ** 63; shift *= 128) {
      const b = index[pos++];
      value += (b & 0x7f) * shift;
      if ((b & 0x80) === 0) return value;
    }
    return -1;
  };
  const count = vli();
  if (count < 0) return false;
  for (let r = 0; r < count; r++) {
    const unpadded = vli();
    if (unpadded < 0 || vli() < 0) return false;
    visit(unpadded);
  }
  return true;
}
