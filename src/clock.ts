/**
 * Milliseconds on the monotonic clock. Not `performance.now()`: the global's first use loads
 * perf_hooks, which stays in the peak RSS (bench/startup.sh; docs/design.md, Start).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
