import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dataSum } from '../src/cpio/checksum.js';

/** The 070702 check field as the newc spec gives it: each data byte added, modulo 2^32. */
function byteByByte(bytes: Uint8Array, sum: number): number {
  let s = sum;
  for (const b of bytes) s = (s + b) >>> 0;
  return s;
}

describe('the 070702 data sum', () => {
  it('is the bytes added one by one, modulo 2^32, at any offset and length, from any sum', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 150_000 }), fc.nat(31), fc.nat(0xffffffff), (bytes, skip, sum) => {
        const view = bytes.subarray(Math.min(skip, bytes.length));
        expect(dataSum(view, sum)).toBe(byteByByte(view, sum));
      }),
      { numRuns: 100 },
    );
  });

  it('wraps at 2^32 within a run of bytes and across runs', () => {
    const ff = new Uint8Array((1 << 20) + 7).fill(0xff);
    expect(dataSum(ff, 0xffff_ff00)).toBe(byteByByte(ff, 0xffff_ff00));
    let sum = 0;
    for (let i = 0; i < 17; i++) sum = dataSum(ff, sum);
    expect(sum).toBe((17 * ff.length * 0xff) % 2 ** 32);
  });
});
