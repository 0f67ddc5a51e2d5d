import { hex } from '../decode/bytes.js';

/**
 * Names are raw bytes. For text output they are shown as UTF-8 where they are printable
 * UTF-8, with every other byte as \xNN and a backslash as \\, so that the text form is
 * unambiguous and `unescapeName` gives the bytes back.
 */
export function escapeName(name: Uint8Array): string {
  // Most names are printable ASCII without a backslash: one native decode and one native
  // scan instead of a string built a character at a time.
  const latin1 = (Buffer.isBuffer(name) ? name : Buffer.from(name.buffer, name.byteOffset, name.length)).toString('latin1');
  if (!NEEDS_ESCAPE.test(latin1)) return latin1;
  let out = '';
  let i = 0;
  const n = name.length;
  while (i < n) {
    const b = name[i];
    if (b >= 0x20 && b < 0x7f) {
      out += b === 0x5c ? '\\\\' : String.fromCharCode(b);
      i++;
      continue;
    }
    const len = utf8SequenceLength(name, i);
    if (len > 0) {
      const char = String.fromCodePoint(decodeCodePoint(name, i, len));
      // Controls, line separators and invisible format characters (bidi overrides among them)
      // would let a name disguise itself on a terminal: they are shown as bytes.
      if (!HIDDEN.test(char)) {
        out += char;
        i += len;
        continue;
      }
    }
    out += `\\x${hex(b, 2)}`;
    i++;
  }
  return out;
}

const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
/** Any byte (as a latin1 character) that escapeName does not show as itself. */
const NEEDS_ESCAPE = /[^\x20-\x5b\x5d-\x7e]/;

export function unescapeName(text: string): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  while (i < text.length) {
    const slash = text.indexOf('\\', i);
    const end = slash < 0 ? text.length : slash;
    if (end > i) parts.push(Buffer.from(text.slice(i, end), 'utf8'));
    if (slash < 0) break;
    if (text[slash + 1] === '\\') {
      parts.push(Buffer.from([0x5c]));
      i = slash + 2;
    } else if (text[slash + 1] === 'x' && /^[0-9a-f]{2}$/.test(text.slice(slash + 2, slash + 4))) {
      parts.push(Buffer.from([parseInt(text.slice(slash + 2, slash + 4), 16)]));
      i = slash + 4;
    } else {
      throw new Error(`bad escape in name: ${JSON.stringify(text)}`);
    }
  }
  return Buffer.concat(parts);
}

/** Length of a well-formed UTF-8 multi-byte sequence at `i` (no overlongs, no surrogates), or 0. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  const cont = (k: number): boolean => i + k < b.length && (b[i + k] & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    if (c === 0xe0 && b[i + 1] < 0xa0) return 0;
    if (c === 0xed && b[i + 1] >= 0xa0) return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c === 0xf0 && b[i + 1] < 0x90) return 0;
    if (c === 0xf4 && b[i + 1] >= 0x90) return 0;
    return 4;
  }
  return 0;
}

function decodeCodePoint(b: Uint8Array, i: number, len: number): number {
  if (len === 2) return ((b[i] & 0x1f) << 6) | (b[i + 1] & 0x3f);
  if (len === 3) return ((b[i] & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f);
  return ((b[i] & 0x07) << 18) | ((b[i + 1] & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f);
}
