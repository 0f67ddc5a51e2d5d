import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dataSum } from '../src/cpio/checksum.js';
import { BIN, ROOT } from './support/cli.js';
import { scratch } from './support/scratch.js';

const { fresh } = scratch('initramfs-restore-checksum-');

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

  it('goes on across the instances it takes in turn, within a chunk and from one chunk to the next', () => {
    const piece = new Uint8Array(64 << 10).map((_, i) => (i * 7919) % 251);
    const pieceSum = byteByByte(piece, 0);
    let sum = 0;
    for (let i = 0; i < 2_000; i++) sum = dataSum(piece, sum);
    expect(sum).toBe((2_000 * pieceSum) % 2 ** 32);
    const chunk = new Uint8Array(1_900 * piece.length);
    for (let at = 0; at < chunk.length; at += piece.length) chunk.set(piece, at);
    expect(dataSum(chunk, 5)).toBe((5 + 1_900 * pieceSum) % 2 ** 32);
  });

  it('sums 13 GB as the CLI runs it on the baseline tier throughout, within 64 MB', () => {
    // As the CLI starts (bin/initramfs-restore.js): the sum stays on Liftoff only there.
    const script = `
      (await import(${JSON.stringify(`${ROOT}dist/tiers.js`)})).dropOptimizingCompilers();
      const { dataSum } = await import(${JSON.stringify(`${ROOT}dist/cpio/checksum.js`)});
      const piece = new Uint8Array(64 << 10).fill(3);
      let sum = 0;
      for (let i = 0; i < 200_000; i++) sum = dataSum(piece, sum);
      const status = process.getBuiltinModule('node:fs').readFileSync('/proc/self/status', 'latin1');
      console.log('sum', sum, /VmHWM:\\s*(\\d+)/.exec(status)[1]);`;
    const log = join(fresh('log'), 'v8.log');
    const run = spawnSync(process.execPath, ['--trace-wasm-compilation-times', '--log-code', '--no-logfile-per-isolate', `--logfile=${log}`, '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const [sum, peakKb] = run.stdout.trim().split('\n').at(-1)!.split(' ').slice(1).map(Number);
    expect(sum).toBe((200_000 * (64 << 10) * 3) % 2 ** 32);
    // A module's tiering budget runs out at about 590 MiB summed, an export's wrapper at 1,000 calls.
    expect(run.stdout).toMatch(/using Liftoff/);
    expect(run.stdout).not.toMatch(/using TurboFan/);
    expect(readFileSync(log, 'latin1')).not.toMatch(/^code-creation,Stub,.*,js-to-wasm:/m);
    // One memory for all the instances: one each was 77 MB here.
    expect(peakKb * 1024).toBeLessThanOrEqual(64e6);
  });

  it('stays on the baseline tier in the CLI: no TurboFan compile of it, whose code is some 4 MB of peak RSS', () => {
    const tree = fresh('tree');
    mkdirSync(join(tree, 'data'));
    // Far past V8's tiering budget, which a few MB of data exhaust.
    writeFileSync(join(tree, 'data', 'big'), Buffer.alloc(48 << 20, 0x5a));
    const run = spawnSync(process.execPath, ['--trace-wasm-compilation-times', BIN, 'create', join(fresh('out'), 'crc.img'), '--format', 'crc', tree], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/using Liftoff/);
    expect(run.stdout).not.toMatch(/using TurboFan/);
  });
});

