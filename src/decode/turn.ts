import { monotonicMs } from '../clock.js';

/**
 * Our decoders run synchronously in the main thread. Between blocks each awaits `eventLoopTurn`:
 * without it a signal's handler (Ctrl-C ends the run and removes its staging directory) would
 * wait for the whole member, seconds of bzip2, and a run told to stop would finish instead.
 */

/** How long a decoder runs before it lets the event loop turn. */
const TURN_MS = 50;
let lastTurn = monotonicMs();

/** A turn of the event loop once TURN_MS have passed since the last one; until then, nothing. */
export function eventLoopTurn(): Promise<void> | undefined {
  if (monotonicMs() - lastTurn < TURN_MS) return undefined;
  return new Promise((resolve) =>
    setImmediate(() => {
      lastTurn = monotonicMs();
      resolve();
    }),
  );
}
