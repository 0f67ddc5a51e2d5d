const SLASH = 0x2f;
const DOT = 0x2e;

export type NormalizedName =
  | { ok: true; rel: Buffer; depth: number; strippedAbsolute: boolean }
  | { ok: false; reason: string };

/**
 * The archive name as a path relative to the target: leading slashes are stripped, empty and
 * `.` components dropped, and any `..` component refuses the whole name. `rel` joins what is
 * left by single slashes, `depth` components of it; an empty `rel` is the target directory
 * itself. A name that is already in that form (nearly every one) is returned as a view of
 * itself: nothing is copied.
 */
export function normalizeName(name: Buffer): NormalizedName {
  let start = 0;
  while (start < name.length && name[start] === SLASH) start++;
  let depth = 0;
  let canonical = name.length === 0 || name[name.length - 1] !== SLASH;
  for (let i = start; i < name.length; ) {
    let j = name.indexOf(SLASH, i);
    if (j < 0) j = name.length;
    const length = j - i;
    if (length === 2 && name[i] === DOT && name[i + 1] === DOT) return { ok: false, reason: "the name has a '..' component" };
    if (length === 0 || (length === 1 && name[i] === DOT)) canonical = false;
    else depth++;
    i = j + 1;
  }
  if (canonical) return { ok: true, rel: name.subarray(start), depth, strippedAbsolute: start > 0 };
  const rel = Buffer.allocUnsafe(name.length - start);
  let n = 0;
  for (let i = start; i < name.length; ) {
    let j = name.indexOf(SLASH, i);
    if (j < 0) j = name.length;
    if (j - i > 1 || (j - i === 1 && name[i] !== DOT)) {
      if (n > 0) rel[n++] = SLASH;
      n += name.copy(rel, n, i, j);
    }
    i = j + 1;
  }
  return { ok: true, rel: rel.subarray(0, n), depth, strippedAbsolute: start > 0 };
}
