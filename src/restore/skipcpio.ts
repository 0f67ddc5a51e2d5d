import { ByteSource } from '../decode/source.js';
import { FormatError } from '../errors.js';
import { writeAllSync } from '../output.js';
const { closeSync, openSync, readSync } = process.getBuiltinModule('node:fs');

/**
 * dracut's skipcpio, byte for byte: the same stdout and the same exit status for every input,
 * quirks included, since dracut-initramfs-restore pipes it into the decompressors.
 *
 * - The first 120 bytes (a header and 10 name bytes) must be there, cpio or not.
 * - Only "070701" is walked; anything else (070702 too) is copied through whole.
 * - Sizes are read like strtoul(…, 16) on the 8-character field: leading white space, a sign,
 *   a 0x prefix, then hex digits up to the first other character; a minus wraps modulo 2^64.
 * - Positions are 64-bit: `pos = align4(pos + 110 + namesize)`, then `align4(pos + filesize)`;
 *   a position that wraps negative fails, as fseek does.
 * - Each next header needs 120 readable bytes and the magic; the walk ends at the first entry
 *   whose namesize is 11 and whose name starts "TRAILER!!!". Only that first archive is
 *   skipped: zero bytes after it are skipped one by one and the rest is copied.
 *
 * One divergence: where dracut's walk revisits a header it loops forever; this one stops with
 * exit status 1 and says so.
 */
export interface SkipcpioResult {
  status: 0 | 1;
  /** Why it failed, in dracut's words where dracut has some. */
  message?: string;
}

const HEADER = 110;
const PROBE = 120;
const MAGIC = Buffer.from('070701');
const TRAILER = Buffer.from('TRAILER!!!');
const U64 = 1n << 64n;
const COPY_CHUNK = 1 << 20;
/**
 * What the scan for the first byte after the archive's padding reads at a time. The padding is
 * a few hundred bytes: a MiB, read twice over by a ByteSource, was 2 MB of a trial's peak RSS.
 */
const ZERO_SCAN = 64 << 10;

export function skipcpio(path: string, outFd: number): SkipcpioResult {
  return withFile(path, (fd) => {
    const found = findStart((buf, pos) => readAt(fd, buf, pos), path);
    return 'start' in found ? copyFrom(fd, found.start, outFd) : found;
  });
}

/**
 * Where skipcpio's output would start in the image `path`, without copying anything, and the
 * image's size: for a unified kernel image, in the initrd its sections make (see ByteSource),
 * where dracut's skipcpio, which reads the file, sees no cpio at all.
 */
export function skipcpioStart(path: string): { start: number; imageSize: number } | SkipcpioResult {
  let src: ByteSource;
  try {
    src = ByteSource.open(path);
  } catch (err) {
    if (err instanceof FormatError) return { status: 1, message: `${err.message} ${err.location}` };
    // What is no regular file fails as dracut's skipcpio fails on it, or has no size to end it.
    const found = withFile(path, (fd) => findStart((buf, pos) => readAt(fd, buf, pos), path));
    return 'start' in found ? { ...found, imageSize: Infinity } : found;
  }
  try {
    const found = findStart((buf, pos) => src.readAt(pos, buf.length).copy(buf), path);
    return 'start' in found ? { ...found, imageSize: src.size } : found;
  } finally {
    src.close();
  }
}

/** Reads up to `buf.length` bytes at `pos` into `buf`; fewer at the end. */
type Reader = (buf: Buffer, pos: number) => number;

function withFile<T>(path: string, work: (fd: number) => T | SkipcpioResult): T | SkipcpioResult {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { status: 1, message: `Cannot open file '${path}'` };
  }
  try {
    return work(fd);
  } catch (err) {
    // Like skipcpio's fwrite failure when the reader of the pipe is gone: no message.
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return { status: 1 };
    return { status: 1, message: (err as Error).message };
  } finally {
    closeSync(fd);
  }
}

function findStart(read: Reader, path: string): { start: number } | SkipcpioResult {
  const header = Buffer.alloc(PROBE);
  if (read(header, 0) < PROBE) return { status: 1, message: `Read error from file '${path}'` };
  if (!header.subarray(0, 6).equals(MAGIC)) return { start: 0 };

  let pos = 0n;
  let visited: Set<bigint> | undefined;
  for (let headerAt = 0n; ; headerAt = pos) {
    const namesize = strtoul16(header, 94);
    pos = align4((pos + BigInt(HEADER) + namesize) % U64);
    pos = align4((pos + strtoul16(header, 54)) % U64);
    // fseek takes a signed long.
    if (pos >= 1n << 63n) return { status: 1, message: 'fseek' };
    if (namesize === 11n && header.subarray(HEADER, PROBE).equals(TRAILER)) break;
    // Sizes only move forward unless a minus sign wrapped one: from then on, revisits are tracked.
    if (pos <= headerAt) visited ??= new Set();
    if (visited?.has(pos)) return { status: 1, message: `the walk returns to byte ${pos}: dracut's skipcpio would loop forever here` };
    if (pos > Number.MAX_SAFE_INTEGER || read(header, Number(pos)) < PROBE) return { status: 1, message: 'fread' };
    if (!header.subarray(0, 6).equals(MAGIC)) return { status: 1, message: 'Corrupt CPIO archive!' };
    visited?.add(pos);
  }
  return { start: firstNonZero(read, pos) };
}

/** strtoul(field, NULL, 16) on the 8-byte field at `at`, which ends where the field ends. */
export function strtoul16(buf: Uint8Array, at: number): bigint {
  let i = at;
  const end = at + 8;
  while (i < end && (buf[i] === 0x20 || (buf[i] >= 0x09 && buf[i] <= 0x0d))) i++;
  let negative = false;
  if (i < end && (buf[i] === 0x2b || buf[i] === 0x2d)) negative = buf[i++] === 0x2d;
  if (i + 2 < end && buf[i] === 0x30 && (buf[i + 1] | 0x20) === 0x78 && hexDigit(buf[i + 2]) >= 0) i += 2;
  let value = 0n;
  for (let d: number; i < end && (d = hexDigit(buf[i])) >= 0; i++) value = value * 16n + BigInt(d);
  return negative ? (U64 - value) % U64 : value;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x57;
  return -1;
}

function align4(n: bigint): bigint {
  return ((n + 3n) % U64) & ~3n;
}

/** Reads up to `buf.length` bytes at `pos` of the file; fewer at its end. */
function readAt(fd: number, buf: Buffer, pos: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** The offset of the first non-zero byte from `pos`, or the end of the file. */
function firstNonZero(read: Reader, pos: bigint): number {
  if (pos > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  const buf = Buffer.allocUnsafe(ZERO_SCAN);
  for (let at = Number(pos); ; ) {
    const n = read(buf, at);
    if (n === 0) return at;
    let i = 0;
    while (i < n && buf[i] === 0) i++;
    if (i < n) return at + i;
    at += n;
  }
}

function copyFrom(fd: number, pos: number, outFd: number): SkipcpioResult {
  const buf = Buffer.allocUnsafe(COPY_CHUNK);
  for (let at = pos; ; ) {
    const n = readSync(fd, buf, 0, buf.length, at);
    if (n === 0) return { status: 0 };
    writeAllSync(outFd, buf.subarray(0, n));
    at += n;
  }
}
