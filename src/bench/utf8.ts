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
  const check = new Utf8Check();
  check.push(bytes);
  return check.end();
}

/**
 * strictUtf8 over bytes that come in pieces (a console's output, which has no bound), with
 * the position counted from the first piece's first byte.
 */
export class Utf8Check {
  private failure: Utf8Failure | undefined;
  /** How many bytes came before the piece being read. */
  private position = 0;
  /** The sequence being read: where it starts, its first byte, the continuation bytes it still needs. */
  private start = 0;
  private lead = 0;
  private need = 0;
  /** What the next continuation byte may be: the first's range depends on the lead. */
  private lo = 0x80;
  private hi = 0xbf;

  push(bytes: Uint8Array): void {
    if (this.failure) return;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (this.need > 0) {
        if (b < this.lo || b > this.hi) {
          this.failure = failure(this.start, this.position + i - 1, this.lead, 'invalid continuation byte');
          return;
        }
        this.need--;
        this.lo = 0x80;
        this.hi = 0xbf;
        continue;
      }
      if (b < 0x80) continue;
      this.start = this.position + i;
      this.lead = b;
      if (b >= 0xc2 && b <= 0xdf) this.need = 1;
      else if (b >= 0xe0 && b <= 0xef) {
        this.need = 2;
        if (b === 0xe0) this.lo = 0xa0;
        if (b === 0xed) this.hi = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        this.need = 3;
        if (b === 0xf0) this.lo = 0x90;
        if (b === 0xf4) this.hi = 0x8f;
      } else {
        this.failure = failure(this.start, this.start, b, 'invalid start byte');
        return;
      }
    }
    this.position += bytes.length;
  }

  /** Where the bytes fail, once they have all come; undefined when they are valid UTF-8. */
  end(): Utf8Failure | undefined {
    if (!this.failure && this.need > 0) this.failure = failure(this.start, this.position - 1, this.lead, 'unexpected end of data');
    return this.failure;
  }
}

function failure(start: number, end: number, byte: number, reason: Utf8Failure['reason']): Utf8Failure {
  const where = start === end
    ? `byte 0x${hex(byte, 2)} in position ${start}`
    : `bytes in position ${start}-${end}`;
  return { position: start, byte, reason, message: `'utf-8' codec can't decode ${where}: ${reason}` };
}
