/*
 * Fixed-width integers read from bytes, and numbers and bytes written as hex for messages: the
 * one place for both. Readers return unsigned values; they are tiny and monomorphic so that V8
 * inlines them, but the decoders' hottest loops keep their own inline arithmetic (an LZ77
 * match offset, the range coder's next byte), which is not this job.
 */

/** The unsigned little-endian 16-bit integer at `b[i]`. */
export function readLE16(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8);
}

/** The unsigned little-endian 24-bit integer at `b[i]`. */
export function readLE24(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
}

/** The unsigned little-endian 32-bit integer at `b[i]`. */
export function readLE32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/** The unsigned big-endian 16-bit integer at `b[i]`. */
export function readBE16(b: Uint8Array, i: number): number {
  return (b[i] << 8) | b[i + 1];
}

/** The unsigned big-endian 32-bit integer at `b[i]`. */
export function readBE32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

/** `n` in lower-case hex, zero-padded to at least `digits` digits, without a 0x prefix. */
export function hex(n: number, digits = 0): string {
  return n.toString(16).padStart(digits, '0');
}

/** Bytes as two-digit hex, separated by spaces: `1f 8b 08`. */
export function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => hex(x, 2)).join(' ');
}
