import { runInterruptActions } from '../interrupt.js';
import { printError } from './report.js';

const STOPPING: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const ignored = new Map<NodeJS.Signals, number>();

/**
 * A signal ends a run as it would have without a handler, so that a calling shell sees the
 * signal (a loop stops on Ctrl-C), but only once the staging directories and children of the
 * run are dealt with: an interrupted unpack leaves no half tree of its own beside the target.
 * Returns what takes the handler off again, as the run ends: a process that runs several
 * (a library user's, a test's) keeps none of theirs.
 */
export function stopOnSignals(): () => void {
  const remove = (): void => {
    for (const s of STOPPING) process.off(s, handler);
  };
  const handler = (signal: NodeJS.Signals): void => {
    if (ignored.get(signal)) {
      printError(`Received ${signal} signal, ignoring!`);
      return;
    }
    runInterruptActions();
    remove();
    process.kill(process.pid, signal);
  };
  for (const signal of STOPPING) process.on(signal, handler);
  return remove;
}

/** Runs `work` with `signal` ignored, as dracut-initramfs-restore ignores SIGTERM. */
export async function ignoringSignal<T>(signal: NodeJS.Signals, work: () => Promise<T>): Promise<T> {
  ignored.set(signal, (ignored.get(signal) ?? 0) + 1);
  try {
    return await work();
  } finally {
    ignored.set(signal, ignored.get(signal)! - 1);
  }
}
