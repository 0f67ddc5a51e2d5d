import { CREATE_COMPRESSIONS, type CreateCompression } from '../create/write.js';
import { COMPRESSION_FORMATS } from '../decode/formats.js';
import { UsageError } from '../errors.js';
import { parseCount } from './args.js';

/** One of create's compressions, named by `option`. */
export function parseCompression(name: string, option: string): CreateCompression {
  if (!CREATE_COMPRESSIONS.includes(name as CreateCompression)) throw new UsageError(`${option}: "${name}" is not one of ${CREATE_COMPRESSIONS.join(', ')}`);
  return name as CreateCompression;
}

/** --level: a level every compressor in `compressions` takes, or undefined when not given. */
export function parseLevel(text: string | undefined, compressions: readonly CreateCompression[]): number | undefined {
  if (text === undefined) return undefined;
  const level = parseCount(text, '--level', 0);
  for (const format of COMPRESSION_FORMATS.filter((f) => compressions.includes(f.name))) {
    const [least, most] = format.compress.levels;
    if (level < least || level > most) throw new UsageError(`--level ${level}: ${format.name} takes ${least} to ${most}`);
  }
  return level;
}
