import { hex } from '../decode/bytes.js';

/**
 * Where strict UTF-8 decoding of `bytes` fails, in the words of Python's decoder, which is what
 * the image builder (oz) ran on the guest's console log in April 2022:
 *   'utf-8' codec can't decode byte 0x85 in position 17480: invalid start byte
 * Undefined when the bytes are valid UTF-8.
 */
export interface Utf8Failure {
  position: number;
  byte: number;
  reason: 'invalid start byte' | 'invalid continuation byte' | 'unexpected end of data';
  /** Python's message, word for word. */
  message: string;
}

export function strictUtf8(bytes: Uint8Array): Utf8Failure | undefined {
  const n = bytes.length;
  for (let i = 0; i < n; ) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else {
      return failure(i, i, b, 'invalid start byte');
    }
    for (let k = 1; k <= need; k++) {
      if (i + k >= n) return failure(i, n - 1, b, 'unexpected end of data');
      const c = bytes[i + k];
      const [min, max] = k === 1 ? [lo, hi] : [0x80, 0xbf];
      if (c < min || c > max) return failure(i, i + k - 1, b, 'invalid continuation byte');
    }
    i += need + 1;
  }
  return undefined;
}

function failure(start: number, end: number, byte: number, reason: Utf8Failure['reason']): Utf8Failure {
  const where = start === end
    ? `byte 0x${hex(byte, 2)} in position ${start}`
    : `bytes in position ${start}-${end}`;
  return { position: start, byte, reason, message: `'utf-8' codec can't decode ${where}: ${reason}` };
}
