import { FormatError, UsageError } from '../errors.js';
import { type LineWriter, writeAllSync } from '../output.js';

export const PROGRAM = 'initramfs-restore';

/** A failure already reported on stderr: exit status 1. */
export class Failure extends Error {}

/** The one-line message for an error while reading `image`. */
export function describeError(err: unknown, image?: string): string {
  const prefix = image ? `${image}: ` : '';
  if (err instanceof FormatError) return `${prefix}${err.message} ${err.location}`;
  const e = err as NodeJS.ErrnoException;
  // Node's system errors name their syscall and path ("ENOENT: no such file or directory,
  // open 'x'"): the path is dropped when it is the image, named first anyway.
  if (e?.syscall && e.path !== undefined && String(e.path) !== image) return e.message;
  return `${prefix}${(e?.message ?? String(err)).replace(/, \w+ '[^']*'$/, '')}`;
}

/**
 * Runs the work of a command on `image`, so that any failure is reported with the image's
 * name: usage errors and already-worded failures pass through.
 */
export async function onImage<T>(image: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof UsageError || err instanceof Failure || (err as NodeJS.ErrnoException).code === 'EPIPE') throw err;
    throw new Failure(describeError(err, image), { cause: err });
  }
}

export function printError(message: string): void {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
}

export function writeJson(value: unknown): void {
  print(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * `{ ...head, [key]: items, ...tail }` as writeJson writes it, the items written to `out` one
 * by one as they come, none kept: a report of every path of an image may be long. A key of
 * `tail` whose value is undefined is left out, as JSON.stringify leaves it.
 */
export function writeJsonWithArray(out: LineWriter, head: object, key: string, items: Iterable<unknown>, tail: object = {}): void {
  out.write(`${JSON.stringify(head, null, 2).slice(0, -2)},\n  ${JSON.stringify(key)}: [`);
  let first = true;
  for (const item of items) {
    out.write(`${first ? '' : ','}\n    ${JSON.stringify(item, null, 2).replaceAll('\n', '\n    ')}`);
    first = false;
  }
  out.write(first ? ']' : '\n  ]');
  for (const [name, value] of Object.entries(tail)) {
    if (value !== undefined) out.write(`,\n  ${JSON.stringify(name)}: ${JSON.stringify(value, null, 2).replaceAll('\n', '\n  ')}`);
  }
  out.write('\n}\n');
}

/** Text to stdout, written synchronously (see writeAllSync). */
export function print(text: string): void {
  writeAllSync(1, Buffer.from(text.endsWith('\n') ? text : `${text}\n`));
}
