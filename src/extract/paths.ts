const SLASH = 0x2f;
const DOT_DOT = Buffer.from('..');
const DOT = Buffer.from('.');

export type NormalizedName =
  | { ok: true; parts: Buffer[]; strippedAbsolute: boolean }
  | { ok: false; reason: string };

/**
 * The archive name as a path relative to the target: leading slashes are stripped, empty and
 * `.` components dropped, and any `..` component refuses the whole name. An empty result is
 * the target directory itself.
 */
export function normalizeName(name: Buffer): NormalizedName {
  let start = 0;
  while (start < name.length && name[start] === SLASH) start++;
  const parts: Buffer[] = [];
  let i = start;
  while (i <= name.length) {
    let j = name.indexOf(SLASH, i);
    if (j < 0) j = name.length;
    const part = name.subarray(i, j);
    if (part.equals(DOT_DOT)) return { ok: false, reason: "the name has a '..' component" };
    if (part.length > 0 && !part.equals(DOT)) parts.push(part);
    i = j + 1;
  }
  return { ok: true, parts, strippedAbsolute: start > 0 };
}

export function joinParts(parts: readonly Buffer[], count = parts.length): Buffer {
  const pieces: Buffer[] = [];
  for (let k = 0; k < count; k++) {
    if (k > 0) pieces.push(Buffer.from('/'));
    pieces.push(parts[k]);
  }
  return Buffer.concat(pieces);
}
