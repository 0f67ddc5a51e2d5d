import { UsageError } from '../errors.js';

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
