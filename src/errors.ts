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
  ) {
    super(message);
    this.name = 'FormatError';
  }

  /** "at byte N" or "at byte N of the zstd stream at byte S" */
  get location(): string {
    return this.where ? `at byte ${this.offset} of ${this.where}` : `at byte ${this.offset}`;
  }
}
