import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * A model of dracut's skipcpio walk (src/skipcpio/skipcpio.c; the facts page, section 4),
 * written apart from src/restore/skipcpio.ts, so that a test can tell from an input's bytes
 * alone what dracut's skipcpio does with it, and never from how long dracut's takes.
 *
 * - Fewer than 120 bytes (a header and 10 name bytes): a read error, exit 1.
 * - A start other than "070701": the whole file is copied, exit 0.
 * - The walk: each 8-byte size field is read like strtoul(…, 16) (the byte after it is zeroed
 *   first), `pos = align4(pos + 110 + namesize)`, then `pos = align4(pos + filesize)`, all
 *   modulo 2^64 since a minus sign wraps; a position of 2^63 or more is negative for fseek,
 *   which fails. The entry with namesize 11 and the name TRAILER!!! ends the walk; otherwise
 *   the next header needs 120 readable bytes and the magic.
 * - After the trailer, zero bytes are skipped and the rest of the file is copied.
 *
 * The walk's only state is its position: a header is read afresh at each one. So it loops
 * forever exactly when it comes back to a position it has read a header at, which is what
 * `loop` reports; otherwise it ends, since positions past the end of the file fail to read.
 */
export type DracutWalk =
  /** Exit 0, stdout the file from `start` on (empty when `start` is its size). */
  | { outcome: 'copy'; start: number }
  /** Exit 1 with nothing on stdout. */
  | { outcome: 'fail'; reason: string }
  /** Never ends: the header at `revisits` is read a second time. */
  | { outcome: 'loop'; revisits: number };

const U64 = 1n << 64n;
const HEADER = 110n;
const PROBE = 120;
const NEGATIVE = 1n << 63n;

/** strtoul(field, NULL, 16) on an 8-byte field followed by a NUL. */
export function laxHex(field: Uint8Array): bigint {
  const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
  const digit = (c: number | undefined) => {
    if (c === undefined) return -1;
    const text = String.fromCharCode(c);
    return /^[0-9a-fA-F]$/.test(text) ? parseInt(text, 16) : -1;
  };
  const bytes = Array.from(field.subarray(0, 8));
  let i = 0;
  while (i < bytes.length && isSpace(bytes[i])) i++;
  const sign = bytes[i] === 0x2d ? -1n : 1n;
  if (bytes[i] === 0x2b || bytes[i] === 0x2d) i++;
  // "0x" is a prefix only when a hex digit follows it (else the value is the "0").
  if (bytes[i] === 0x30 && (bytes[i + 1] === 0x78 || bytes[i + 1] === 0x58) && digit(bytes[i + 2]) >= 0) i += 2;
  let value = 0n;
  for (; digit(bytes[i]) >= 0; i++) value = value * 16n + BigInt(digit(bytes[i]));
  return (((sign * value) % U64) + U64) % U64;
}

const align4 = (n: bigint) => ((n + 3n) % U64) & ~3n;

/** What dracut's skipcpio does with the file at `path`. */
export function dracutWalk(path: string): DracutWalk {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const headerAt = (pos: bigint): Buffer | undefined => {
      if (pos + BigInt(PROBE) > BigInt(size)) return undefined;
      const buf = Buffer.alloc(PROBE);
      let got = 0;
      for (let n = 1; got < PROBE && n > 0; got += n) n = readSync(fd, buf, got, PROBE - got, Number(pos) + got);
      return got === PROBE ? buf : undefined;
    };
    const isMagic = (h: Buffer) => h.toString('latin1', 0, 6) === '070701';

    let header = headerAt(0n);
    if (!header) return { outcome: 'fail', reason: 'Read error (fewer than 120 bytes)' };
    if (!isMagic(header)) return { outcome: 'copy', start: 0 };
    const seen = new Set<bigint>([0n]);
    let pos = 0n;
    for (;;) {
      const namesize = laxHex(header.subarray(94, 102));
      pos = align4((pos + HEADER + namesize) % U64);
      pos = align4((pos + laxHex(header.subarray(54, 62))) % U64);
      if (pos >= NEGATIVE) return { outcome: 'fail', reason: 'fseek to a negative offset' };
      if (namesize === 11n && header.toString('latin1', 110, 120) === 'TRAILER!!!') {
        return { outcome: 'copy', start: firstNonZero(fd, size, pos) };
      }
      if (seen.has(pos)) return { outcome: 'loop', revisits: Number(pos) };
      seen.add(pos);
      header = headerAt(pos);
      if (!header) return { outcome: 'fail', reason: 'fread (fewer than 120 bytes left)' };
      if (!isMagic(header)) return { outcome: 'fail', reason: 'Corrupt CPIO archive!' };
    }
  } finally {
    closeSync(fd);
  }
}

/** The first non-zero byte at or after `pos`, or the size of the file. */
function firstNonZero(fd: number, size: number, pos: bigint): number {
  if (pos >= BigInt(size)) return size;
  const buf = Buffer.alloc(1 << 16);
  for (let at = Number(pos); at < size; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, size - at), at);
    const i = buf.subarray(0, n).findIndex((b) => b !== 0);
    if (i >= 0) return at + i;
    at += n;
  }
  return size;
}
