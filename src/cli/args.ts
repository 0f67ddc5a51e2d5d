import type { ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';
import { print } from './report.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  name: string;
  usage: string;
  /** What its parser accepts besides --help, which every --help and the man page must list. */
  options: Options;
  run(argv: string[]): Promise<number>;
}

const { parseArgs } = process.getBuiltinModule('node:util');

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

/** A whole number of at least `least`, for --runs and --warmup. */
export function parseCount(text: string, option: string, least: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < least) throw new UsageError(`${option}: "${text}" is not a whole number of at least ${least}`);
  return n;
}

export function positionals(list: string[], names: string[], command: Command): string[] {
  if (list.length !== names.length) {
    throw new UsageError(`${command.name} takes ${names.join(' ')} (got ${list.length} argument${list.length === 1 ? '' : 's'})`);
  }
  return list;
}
