import { useColor } from './common.js';

/**
 * A progress bar on stderr when it is a terminal, nothing otherwise. Returns the callback the
 * work reports its progress to (bytes, unless `format` says otherwise), and a function that
 * clears the bar.
 */
export function progressBar(label: string, format: (n: number) => string = formatBytes): { update: (done: number, total: number) => void; done: () => void } {
  const stream = process.stderr;
  if (!stream.isTTY) return { update: () => {}, done: () => {} };
  const color = useColor(stream);
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 100 || total === 0) return;
      last = now;
      shown = true;
      const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 30));
      const filled = Math.round((done / total) * width);
      const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
      const pct = ((done / total) * 100).toFixed(0).padStart(3);
      const text = `${label} [${color ? `\x1b[36m${bar}\x1b[0m` : bar}] ${pct}% ${format(done)}/${format(total)}`;
      stream.write(`\r${text}\x1b[K`);
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
    },
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
