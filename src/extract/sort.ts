import { freeNow } from '../decode/source.js';
import { pagedArray } from './path-table.js';

/** A run shorter than this is made this long by insertion before the runs are merged. */
const MIN_RUN = 16;

/**
 * Sorts `array` in place by `compare`, stably: a natural merge sort, as V8's own TimSort is (the
 * runs already in order, as an archive lists many of its paths, cost a comparison an element),
 * through one array as long, of 4 bytes an element, in pages of its own (pagedArray), freed at
 * its end. V8's sort by a comparator copies a typed array into two arrays of tagged values on its
 * heap, 16 bytes an element, which the heap keeps once grown: at 100,000 paths, 1.6 MB at the
 * peak of a tree that diff describes (bench/entries.sh).
 */
export function sortInPlace(array: Uint32Array, compare: (a: number, b: number) => number): Uint32Array {
  const n = array.length;
  if (n < 2) return array;
  // Where each run starts, and n after the last.
  let bounds = pagedArray(Uint32Array, Math.ceil(n / MIN_RUN) + 2);
  let runs = 0;
  for (let lo = 0; lo < n; runs++) {
    let hi = lo + 1;
    if (hi < n && compare(array[hi], array[lo]) < 0) {
      // Strictly descending, so that reversing it keeps equal elements in their order.
      while (hi + 1 < n && compare(array[hi + 1], array[hi]) < 0) hi++;
      array.subarray(lo, ++hi).reverse();
    } else {
      while (hi < n && compare(array[hi], array[hi - 1]) >= 0) hi++;
    }
    const end = Math.min(n, Math.max(hi, lo + MIN_RUN));
    for (let i = hi; i < end; i++) {
      const value = array[i];
      let j = i - 1;
      for (; j >= lo && compare(array[j], value) > 0; j--) array[j + 1] = array[j];
      array[j + 1] = value;
    }
    bounds[runs] = lo;
    lo = end;
  }
  bounds[runs] = n;
  if (runs === 1) {
    freeNow(bounds.buffer);
    return array;
  }
  const other = pagedArray(Uint32Array, n);
  let from: Uint32Array = array;
  let to: Uint32Array = other;
  for (; runs > 1; runs = Math.ceil(runs / 2)) {
    for (let r = 0; r < runs; r += 2) {
      const lo = bounds[r];
      const mid = bounds[Math.min(r + 1, runs)];
      const hi = bounds[Math.min(r + 2, runs)];
      bounds[r >> 1] = lo;
      // Already in order: copied whole.
      if (mid === hi || compare(from[mid], from[mid - 1]) >= 0) {
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
    bounds[Math.ceil(runs / 2)] = n;
    [from, to] = [to, from];
  }
  if (from !== array) array.set(from);
  freeNow(other.buffer);
  freeNow(bounds.buffer);
  return array;
}
