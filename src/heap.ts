const { setFlagsFromString } = process.getBuiltinModule('node:v8');

/*
 * V8's young generation starts at 1 MiB and grows as objects survive its scavenges: a
 * command's start (its modules' records) and an unpack's per-entry records take it to 4 MiB,
 * whose pages stay in the peak RSS. With a growth factor of 1 it stays at 2 MiB through a
 * command's run (test/heap.test.ts; but 300,000 small objects made and kept as a process ends
 * grew it to 7.25 MiB in about half the runs from a shell, for a reason not found): 1.5 to 2 MB
 * less peak RSS on every unpack (bench/fallbacks.sh), for a few more scavenges of under a
 * millisecond each (7 → 11 on the lz4 image's unpack, by --trace-gc). V8 reads the factor whenever the space grows, so it takes effect when
 * set at run time, where --max-semi-space-size is read only as the heap is made.
 */

/** For the CLI, before any work, as dropOptimizingCompilers. */
export function capYoungGeneration(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
