import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_MAX_OUTPUT } from '../image/walk.js';
import { FormatError } from '../errors.js';
import { writeAllSync } from '../output.js';

export { writeAllSync };

export const PROGRAM = 'initramfs-restore';

/** Wrong arguments: exit status 2. */
export class UsageError extends Error {}

/** A failure already reported on stderr: exit status 1. */
export class Failure extends Error {}

export interface Command {
  name: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs, strict, with --help added and errors turned into usage errors. */
export function parseCommandArgs<T extends Options>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function wantsHelp(values: { help?: unknown }, command: Command): boolean {
  if (!values.help) return false;
  print(command.usage);
  return true;
}

export function positionals(list: string[], names: string[], command: Command): string[] {
  if (list.length !== names.length) {
    throw new UsageError(`${command.name} takes ${names.join(' ')} (got ${list.length} argument${list.length === 1 ? '' : 's'})`);
  }
  return list;
}

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

/** Parses --parts: comma-separated 1-based indexes and ranges (`2`, `1-3`, `3-`, `-2`). */
export function parseParts(spec: string | undefined): ((index: number) => boolean) | undefined {
  if (spec === undefined) return undefined;
  const ranges: [number, number][] = [];
  for (const item of spec.split(',')) {
    const m = /^(\d*)-(\d*)$|^(\d+)$/.exec(item.trim());
    if (!m || item.trim() === '-') throw new UsageError(`--parts: "${item}" is not an index or a range like 1-3, 3- or -2`);
    if (m[3] !== undefined) ranges.push([Number(m[3]), Number(m[3])]);
    else ranges.push([m[1] ? Number(m[1]) : 1, m[2] ? Number(m[2]) : Infinity]);
  }
  return (index) => ranges.some(([lo, hi]) => index >= lo && index <= hi);
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Parses a byte size such as 512M or 16G. */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${option}: "${text}" is not a size like 512M or 16G`);
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()]);
}

/**
 * --max-size: what the compressed members may expand to. By default 4 GiB, and when writing
 * into `dir`, never more than its filesystem has free, so that a bomb stops with this error
 * before the disk fills.
 */
export function maxSizeOption(text: string | undefined, dir?: string): number {
  if (text !== undefined) return parseSize(text, '--max-size');
  if (dir === undefined) return DEFAULT_MAX_OUTPUT;
  let existing = resolve(dir);
  for (;;) {
    try {
      const fs = statfsSync(existing);
      // Some filesystems report no free blocks at all; that says nothing, so it limits nothing.
      return fs.bavail > 0 ? Math.min(DEFAULT_MAX_OUTPUT, fs.bavail * fs.bsize) : DEFAULT_MAX_OUTPUT;
    } catch {
      if (existing === dirname(existing)) return DEFAULT_MAX_OUTPUT;
      existing = dirname(existing);
    }
  }
}

export function useColor(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';
}

export function writeJson(value: unknown): void {
  print(`${JSON.stringify(value, null, 2)}\n`);
}

/** Text to stdout, written synchronously (see writeAllSync). */
export function print(text: string): void {
  writeAllSync(1, Buffer.from(text.endsWith('\n') ? text : `${text}\n`));
}


