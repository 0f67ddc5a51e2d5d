import { freeNow } from '../decode/source.js';
import { pagedArray } from './path-table.js';

/** Runs this short are sorted by insertion before they are merged. */
const RUN = 12;

/**
 * Sorts `array` in place by `compare`, stably: a merge sort through one array as long, of 4
 * bytes an element, in pages of its own (pagedArray), freed at its end. V8's sort by a comparator
 * copies a typed array into two arrays of tagged values on its heap, 16 bytes an element, which
 * the heap keeps once grown: at 100,000 paths, 1.6 MB at the peak of a tree that diff describes
 * (bench/entries.sh). On the baseline tier the CLI runs on, its time is within a fifth of V8's
 * (by hand, 100,000 and 300,000 paths by PathTable.compare): the comparator takes most of both.
 */
export function sortInPlace(array: Uint32Array, compare: (a: number, b: number) => number): Uint32Array {
  const n = array.length;
  for (let lo = 0; lo < n; lo += RUN) {
    const hi = Math.min(lo + RUN, n);
    for (let i = lo + 1; i < hi; i++) {
      const value = array[i];
      let j = i - 1;
      for (; j >= lo && compare(array[j], value) > 0; j--) array[j + 1] = array[j];
      array[j + 1] = value;
    }
  }
  if (n <= RUN) return array;
  const other = pagedArray(Uint32Array, n);
  let from: Uint32Array = array;
  let to: Uint32Array = other;
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      // Already in order (as an archive often lists them): copied whole.
      if (mid === hi || compare(from[mid - 1], from[mid]) <= 0) {
        to.set(from.subarray(lo, hi), lo);
        continue;
      }
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) to[k++] = compare(from[j], from[i]) < 0 ? from[j++] : from[i++];
      while (i < mid) to[k++] = from[i++];
      while (j < hi) to[k++] = from[j++];
    }
    [from, to] = [to, from];
  }
  if (from !== array) array.set(from);
  freeNow(other.buffer);
  return array;
}
