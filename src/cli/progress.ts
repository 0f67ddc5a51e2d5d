import { formatBytes } from '../output.js';
const { fstatSync } = process.getBuiltinModule('node:fs');

/**
 * A progress bar on stderr when it is a terminal, nothing otherwise. Returns the callback the
 * work reports its progress to (bytes, unless `format` says otherwise), and a function that
 * clears the bar.
 */
export function progressBar(label: string, format: (n: number) => string = formatBytes): { update: (done: number, total: number) => void; done: () => void } {
  if (!stderrIsTerminal()) return { update: () => {}, done: () => {} };
  const stream = process.stderr;
  const color = useColor();
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 100 || total === 0) return;
      last = now;
      shown = true;
      // A stream's size is known at its end only.
      if (!Number.isFinite(total)) {
        stream.write(`\r${label} ${format(done)}\x1b[K`);
        return;
      }
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

/**
 * Asked of fstat before process.stderr is made: on a pipe (a pipeline, a CI log) that is a
 * net.Socket, and making it loads node:net, 0.5–1 MB of peak RSS (bench/fallbacks.sh,
 * STDERR=pipe). A terminal is a character device; a closed stderr is none.
 */
function stderrIsTerminal(): boolean {
  try {
    if (!fstatSync(2).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return Boolean(process.stderr.isTTY);
}

/** On the terminal the bar is drawn on, colour unless NO_COLOR is set (https://no-color.org) or TERM is dumb. */
function useColor(): boolean {
  return !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';
}
