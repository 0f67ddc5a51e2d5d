/*
 * Instances of the WebAssembly modules that build.sh makes, each with an input and an output
 * area in its memory, and the instances no stream is using.
 */

const PAGE = 64 << 10;
/** An idle instance whose memory grew past this, for a hostile block's size, is let go. */
const KEEP_MEMORY = 16 << 20;

export interface AreaExports {
  __heap_base: WebAssembly.Global;
}

/** The module of `base64`, compiled at its first use. */
export function lazyModule(base64: string): () => WebAssembly.Module {
  let compiled: WebAssembly.Module | undefined;
  return () => (compiled ??= new WebAssembly.Module(Buffer.from(base64, 'base64')));
}

/**
 * An instance whose memory holds, after the module's own data, an input area and then an
 * output area. Pages are committed only as they are written.
 */
export class WasmAreas<E extends AreaExports> {
  /** Where the caller puts what is to be decoded or summed. */
  input = new Uint8Array(0);
  /** Where it decodes to. */
  output = new Uint8Array(0);
  protected readonly wasm: E;
  private readonly memory: WebAssembly.Memory;

  /**
   * `memory`: for a module that imports its memory (build.sh), shared by its instances. Growing
   * it (layout) detaches the areas of every other instance on it.
   */
  constructor(module: WebAssembly.Module, memory?: WebAssembly.Memory) {
    const exports = new WebAssembly.Instance(module, memory && { env: { memory } }).exports;
    this.wasm = exports as unknown as E;
    this.memory = memory ?? (exports.memory as WebAssembly.Memory);
  }

  /** Sizes the two areas, growing the memory where they need more; their bytes are not kept. */
  layout(inputSize: number, outputSize: number): this {
    const { memory } = this;
    const inputAt = (this.wasm.__heap_base.value + 15) & ~15;
    const end = inputAt + inputSize + outputSize;
    if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
    this.input = new Uint8Array(memory.buffer, inputAt, inputSize);
    this.output = new Uint8Array(memory.buffer, inputAt + inputSize, outputSize);
    return this;
  }

  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }
}

/** Instances no stream is using: an image of many members reuses one instead of a memory each. */
export class IdleInstances<T extends WasmAreas<AreaExports>> {
  private readonly idle: T[] = [];

  constructor(private readonly make: () => T) {}

  /** An idle instance, or a new one, laid out as asked: to be given back after use. */
  borrow(inputSize: number, outputSize: number): T {
    return (this.idle.pop() ?? this.make()).layout(inputSize, outputSize);
  }

  giveBack(instance: T): void {
    if (instance.memoryBytes <= KEEP_MEMORY) this.idle.push(instance);
  }

  /** Runs `use` with an instance of its own, laid out as asked, for one stream. */
  async with<R>(inputSize: number, outputSize: number, use: (instance: T) => Promise<R>): Promise<R> {
    const instance = this.borrow(inputSize, outputSize);
    try {
      return await use(instance);
    } finally {
      this.giveBack(instance);
    }
  }
}
