/**
 * An error in the input: it carries the byte offset where the input went wrong so that every
 * message can name the file and the place. `offset` is absolute in the image file unless
 * `where` says it is inside a decompressed stream.
 */
export class FormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly where?: string,
    /** Where `offset` is besides: in a unified kernel image, its section ("byte K of section .initrd"). */
    readonly within?: string,
  ) {
    super(message);
    this.name = 'FormatError';
  }

  /** "at byte N", "at byte N (byte K of section .initrd)" or "at byte N of the zstd stream at byte S" */
  get location(): string {
    if (this.where) return `at byte ${this.offset} of ${this.where}`;
    return this.within ? `at byte ${this.offset} (${this.within})` : `at byte ${this.offset}`;
  }
}

/**
 * A command line that asks for something impossible, or an option value that is not one: the
 * command exits with status 2. Thrown by the CLI and by the parsers of option values that live
 * with their notion (orders, engines), so that every command words the same mistake the same.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The archive held entries the writer refused: the staged tree is not moved into place. */
export class RefusedEntriesError extends Error {
  constructor(readonly refused: readonly { name: string; reason: string }[], count: number) {
    super(`${count} entr${count === 1 ? 'y was' : 'ies were'} refused, the first: "${refused[0].name}": ${refused[0].reason}`);
    this.name = 'RefusedEntriesError';
  }
}

/** The staged tree cannot be moved into the target without losing part of it. */
export class MoveConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MoveConflictError';
  }
}

/**
 * A scratch file where the writer keeps its directory records or hard-link groups past what
 * memory holds could not be written or read (a full target, most likely): the run stops. No `code`, so that the
 * writer never takes it for one entry's failure, as it takes ENOENT.
 */
export class ScratchFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ScratchFileError';
  }
}

/**
 * Whether `err` is what bad input or the system can cause (a format error, a refusal, an errno
 * error), which a command reports as a failure; anything else is a bug and must show as one.
 */
export function isExpectedFailure(err: unknown): err is Error {
  return err instanceof FormatError || err instanceof RefusedEntriesError || err instanceof MoveConflictError || err instanceof ScratchFileError ||
    (err instanceof Error && /^E[A-Z0-9]+$/.test(String((err as NodeJS.ErrnoException).code)));
}
