const { setFlagsFromString } = process.getBuiltinModule('node:v8');

/*
 * V8's optimizing compilers, Maglev and TurboFan, add 7 to 11 MB to a command's peak RSS
 * (bench/tiers.sh). Where a co-process or node:zlib decodes, or nothing is compressed, this
 * process runs little hot code: the cpio parser and the writer are as fast on the baseline
 * tiers, and so are our decoders and the 070702 data sum, WebAssembly or node:zlib all of them
 * (bzip2 and LZMA, when they were TypeScript, ran several times slower, and so did the sum). V8's
 * flags are the whole process's, a worker thread's isolate included.
 */

/** For the CLI, before any work: library users keep their process as it is. */
export function dropOptimizingCompilers(): void {
  setFlagsFromString('--no-maglev');
  setFlagsFromString('--no-turbofan');
}

/**
 * For both CLIs, initramfs-restore and skipcpio, before any work. process.exit joins V8's
 * worker threads while the heap is still up: a compile job on one of them that waits for a
 * collection on the main thread then waits for ever, and so does the exit (nodejs/node#54918:
 * a baseline compile job that needs code space, by gdb here, under load, in 1 run of
 * `unpack --order` on the xz bomb in 16 to 38). Compiled on the main thread, no job is left to
 * wait.
 */
export function compileOnMainThread(): void {
  setFlagsFromString('--no-concurrent-sparkplug');
  setFlagsFromString('--no-concurrent-recompilation');
  setFlagsFromString('--no-concurrent-osr');
}
