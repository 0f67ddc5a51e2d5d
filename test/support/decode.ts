import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { ByteSource } from '../../src/decode/source.js';
import type { Decoder } from '../../src/decode/types.js';
import { FormatError } from '../../src/errors.js';

export interface Decoded {
  out: Buffer;
  /** Where the decoder left the source: just after its member. */
  offset: number;
  /** The size of each chunk the sink received. */
  chunks: number[];
}

/** Runs `decoder` on the member at `at` of the file `path`, keeping all of its output. */
export async function decodeFile(decoder: Decoder, path: string, at = 0, bufferSize?: number): Promise<Decoded> {
  const src = ByteSource.open(path, bufferSize);
  try {
    src.seek(at);
    const parts: Buffer[] = [];
    await decoder(src, (c) => {
      parts.push(Buffer.from(c));
    });
    return { out: Buffer.concat(parts), offset: src.offset, chunks: parts.map((p) => p.length) };
  } finally {
    src.close();
  }
}

/** Runs `decoder` on a large member, keeping only the hash and size of its output. */
export async function hashMember(decoder: Decoder, path: string, at: number): Promise<{ sha256: string; size: number; offset: number }> {
  const src = ByteSource.open(path);
  const hash = createHash('sha256');
  let size = 0;
  try {
    src.seek(at);
    await decoder(src, (c) => {
      hash.update(c);
      size += c.length;
    });
    return { sha256: hash.digest('hex'), size, offset: src.offset };
  } finally {
    src.close();
  }
}

/** The FormatError that `work` must fail with; any other outcome fails the test. */
export async function expectFormatError(work: Promise<unknown>): Promise<FormatError> {
  try {
    await work;
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected a FormatError');
}

/** What `decoder` hands the sink from the member at the start of the file `path` before it fails, and its error. */
export async function outputBeforeError(decoder: Decoder, path: string): Promise<{ out: Buffer; error: FormatError }> {
  const src = ByteSource.open(path);
  const parts: Buffer[] = [];
  try {
    const error = await expectFormatError(decoder(src, (c) => void parts.push(Buffer.from(c))));
    return { out: Buffer.concat(parts), error };
  } finally {
    src.close();
  }
}
