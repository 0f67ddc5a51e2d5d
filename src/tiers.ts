import { setFlagsFromString } from 'node:v8';

/*
 * V8's optimizing compilers, Maglev and TurboFan, add about 12 MB to a command's peak RSS
 * (bench/tiers.sh). Where a co-process decodes, or nothing is compressed, this process runs
 * little hot code: the cpio parser and the writer are as fast on the baseline tiers. Our own
 * decoders are not (bzip2 runs seven times slower), so the decoder thread brings the compilers
 * back before it starts. V8's flags are the whole process's, the thread's isolate included.
 */
let dropped = false;

/** For the CLI, before any work: library users keep their process as it is. */
export function dropOptimizingCompilers(): void {
  setFlagsFromString('--no-maglev');
  setFlagsFromString('--no-turbofan');
  dropped = true;
}

export function restoreOptimizingCompilers(): void {
  if (!dropped) return;
  setFlagsFromString('--maglev');
  setFlagsFromString('--turbofan');
  dropped = false;
}
