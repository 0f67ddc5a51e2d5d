import { removeStagingDirs } from '../restore/trial.js';
import { printError } from './common.js';

const STOPPING: [NodeJS.Signals, number][] = [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]];
const ignored = new Set<NodeJS.Signals>();

/**
 * A signal ends a run as it would have without a handler (exit status 128 + its number), but
 * only once the staging directories under way are removed: an interrupted unpack leaves no
 * half tree of its own beside the target.
 */
export function stopOnSignals(): void {
  for (const [signal, number] of STOPPING) {
    process.on(signal, () => {
      if (ignored.has(signal)) {
        printError(`Received ${signal} signal, ignoring!`);
        return;
      }
      removeStagingDirs();
      process.exit(128 + number);
    });
  }
}

/** Runs `work` with `signal` ignored, as dracut-initramfs-restore ignores SIGTERM. */
export async function ignoringSignal<T>(signal: NodeJS.Signals, work: () => Promise<T>): Promise<T> {
  ignored.add(signal);
  try {
    return await work();
  } finally {
    ignored.delete(signal);
  }
}
