import { UsageError } from '../errors.js';
import { freeSpace } from '../extract/free-space.js';
import { DEFAULT_MAX_OUTPUT } from '../image/walk.js';

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
  const free = dir === undefined ? undefined : freeSpace(dir);
  // Some filesystems report no free blocks at all; that says nothing, so it limits nothing.
  return free && free.bytes > 0 ? Math.min(DEFAULT_MAX_OUTPUT, free.bytes) : DEFAULT_MAX_OUTPUT;
}
