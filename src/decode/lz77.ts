/*
 * The two copies LZO1X's block decoder does, tuned: literals from the input, and
 * back-references within the output, overlapping ones included. The
 * callers have checked the bounds; `limit` is where the output must stop, which decides
 * whether the 8-byte word copies may scribble past the run (on output not produced yet,
 * overwritten by what follows).
 *
 * A word is a little-endian BigInt64 through a DataView: the largest unaligned access that
 * is exact (a Float64's NaN bits may be changed by the engine) and that TurboFan keeps in a
 * register, measured faster than two Int32 accesses or byte loops.
 */

/** Copies `len` literal bytes from `src[ip]` to `dst[op]`. */
export function copyLiterals(src: Uint8Array, sv: DataView, ip: number, srcEnd: number, dst: Uint8Array, dv: DataView, op: number, len: number, limit: number): void {
  if (len <= 16 && srcEnd - ip >= 16 && limit - op >= 16) {
    dv.setBigInt64(op, sv.getBigInt64(ip, true), true);
    if (len > 8) dv.setBigInt64(op + 8, sv.getBigInt64(ip + 8, true), true);
  } else if (len < 64) {
    for (const e = ip + len; ip < e; ) dst[op++] = src[ip++];
  } else {
    dst.set(src.subarray(ip, ip + len), op);
  }
}

/** Copies `len` bytes from `dist` bytes back in `dst` to `dst[op]`. */
export function copyMatch(dst: Uint8Array, dv: DataView, op: number, dist: number, len: number, limit: number): void {
  let m = op - dist;
  if (dist >= 8 && len <= 64 && limit - op >= len + 8) {
    for (const e = op + len; op < e; op += 8, m += 8) dv.setBigInt64(op, dv.getBigInt64(m, true), true);
  } else if (len <= 16) {
    for (const e = op + len; op < e; ) dst[op++] = dst[m++];
  } else if (dist >= len) {
    dst.copyWithin(op, m, m + len);
  } else if (dist === 1) {
    dst.fill(dst[m], op, op + len);
  } else {
    // Overlapping: the output repeats with period `dist`. Copy ever longer runs, each a
    // multiple of the period until the last, from bytes already written.
    for (let done = 0; done < len; ) {
      const k = Math.min(len - done, dist + done);
      dst.copyWithin(op + done, m, m + k);
      done += k;
    }
  }
}
