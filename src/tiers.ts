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
  wasmStaysOnBaseline = true;
}

let wasmStaysOnBaseline = false;
/**
 * --wasm-tiering-budget as V8 13.6 (Node 24) has it, which compileOnBaseline sets back. Another
 * V8's may differ (Node 20's is 1,800,000): there the sum's module compiles as the others do.
 */
const WASM_TIERING_BUDGET = process.versions.v8.startsWith('13.6.') ? 13_000_000 : undefined;

/**
 * Compiles a WebAssembly module whose functions, where the CLI dropped the optimizing compilers,
 * stay on the baseline tier, Liftoff: --no-turbofan leaves WebAssembly's tier-up alone, and its
 * first TurboFan compile maps some 4 MB of the node binary into the peak RSS (bench/peaks.sh,
 * docs/performance.md). V8 reads the tiering budget as it compiles a module, so raising it for
 * one compile leaves the decoders' modules, which need TurboFan's speed, as they are.
 * --liftoff-only would do it for every module, and set at run time it changes nothing.
 */
export function compileOnBaseline(bytes: BufferSource): WebAssembly.Module {
  if (!wasmStaysOnBaseline || WASM_TIERING_BUDGET === undefined) return new WebAssembly.Module(bytes);
  setFlagsFromString(`--wasm-tiering-budget=${2 ** 31 - 1}`);
  try {
    return new WebAssembly.Module(bytes);
  } finally {
    setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
  }
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
