/*
 * node:zlib gives every output chunk a buffer of its own. V8 frees a dead one only when it
 * collects garbage, and it collects by what JavaScript allocates, not by buffer bytes: a member
 * decoded at hundreds of MB/s piles them up by the dozen (a walk of the gzip image in
 * test-images/real peaked at 117 MB of RSS). A young-generation collection every
 * OUTPUT_BETWEEN bytes of them, about a millisecond each, keeps that walk under 64 MB. V8
 * gives the call only through its --expose-gc flag, set for the moment of taking it.
 */
const OUTPUT_BETWEEN = 2 << 20;

let armed = false;
let collect: (() => void) | undefined;
let dropped = 0;

/** For the CLI, before any work; a library user who wants the same calls it too. */
export function collectOutputBuffers(): void {
  armed = true;
}

/** `bytes` more of output buffers are done with. */
export function outputDropped(bytes: number): void {
  if (!armed) return;
  dropped += bytes;
  if (dropped < OUTPUT_BETWEEN) return;
  dropped = 0;
  (collect ??= youngCollector())();
}

function youngCollector(): () => void {
  const { setFlagsFromString } = process.getBuiltinModule('node:v8');
  setFlagsFromString('--expose-gc');
  const gc = process.getBuiltinModule('node:vm').runInNewContext('gc') as (options: { type: 'minor' }) => void;
  setFlagsFromString('--no-expose-gc');
  return () => gc({ type: 'minor' });
}
