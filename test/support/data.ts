/** Deterministic test data, the same on every run. */

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Text-like data: compressible, but with variety. */
export function textData(size: number, seed = 1): Buffer {
  const words = ['initramfs', 'kernel', 'module', 'dracut', 'cpio', 'the', 'a', 'of', 'systemd', '/usr/lib/', 'firmware', '\n', 'x86_64', 'lz4', 'zstd', '0x1f'];
  const r = rng(seed);
  const parts: string[] = [];
  let n = 0;
  while (n < size) {
    const w = r() < 0.05 ? Math.floor(r() * 1e9).toString(36) : words[Math.floor(r() * words.length)];
    parts.push(w, ' ');
    n += w.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

/** Deterministic data that looks like real files: text, binary, zero runs, repeats. */
export function realistic(size: number, seed = 1): Buffer {
  let x = seed >>> 0 || 1;
  const rnd = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const words = ['initramfs', 'kernel', ' ', 'lib', '/usr/', 'module', '\n', 'systemd', '.so', 'dracut', '=', '0x'];
  const out = Buffer.alloc(size);
  let p = 0;
  while (p < size) {
    const kind = rnd() % 10;
    const len = Math.min(size - p, 1 + (rnd() % 2000));
    if (kind < 4) {
      for (let q = p; q < p + len; ) q += out.write(words[rnd() % words.length], q, 'latin1');
    } else if (kind < 6) {
      for (let q = p; q < p + len; q++) out[q] = rnd() & 0xff;
    } else if (kind < 7) {
      out.fill(0, p, p + len);
    } else if (p > 0) {
      const from = rnd() % p;
      for (let q = 0; q < len; q++) out[p + q] = out[from + q];
    }
    p += len;
  }
  return out;
}
