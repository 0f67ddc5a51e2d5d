import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConsoleTally } from '../src/bench/console.js';
import { Utf8Check, strictUtf8 } from '../src/bench/utf8.js';

/**
 * The oz image builder died on `data.decode('utf-8')`: Python's strict decoder is the oracle
 * for both the verdict and the message.
 */
const PYTHON = `
import sys
for line in sys.stdin:
    data = bytes.fromhex(line.strip())
    try:
        data.decode('utf-8'); print('OK')
    except UnicodeDecodeError as e:
        print(str(e))
`;

function samples(): Buffer[] {
  const interesting = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
  let seed = 2022;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const out = [Buffer.from('plain ascii'), Buffer.from('été ✓ 😀'), Buffer.from('cpio: Malformed number \x85\x01', 'latin1')];
  for (let n = 0; n < 2000; n++) {
    const len = 1 + Math.floor(rand() * 7);
    out.push(Buffer.from(Array.from({ length: len }, () => interesting[Math.floor(rand() * interesting.length)])));
  }
  return out;
}

describe.skipIf(spawnSync('python3', ['--version']).status !== 0)('strict UTF-8, as Python decodes', () => {
  it("gives Python's verdict and Python's message on 2000 byte strings", () => {
    const inputs = samples();
    const py = spawnSync('python3', ['-c', PYTHON], { input: inputs.map((b) => b.toString('hex')).join('\n') });
    const expected = py.stdout.toString().trimEnd().split('\n');
    expect(expected).toHaveLength(inputs.length);
    inputs.forEach((bytes, n) => {
      expect({ bytes: bytes.toString('hex'), result: strictUtf8(bytes)?.message ?? 'OK' }).toEqual({ bytes: bytes.toString('hex'), result: expected[n] });
    });
  });

  it("gives Python's message on the same strings in pieces, each cut at every byte and with a long prefix", () => {
    const inputs = samples();
    const prefix = Buffer.from('x'.repeat(1000));
    const py = spawnSync('python3', ['-c', PYTHON], { input: inputs.map((b) => Buffer.concat([prefix, b]).toString('hex')).join('\n'), maxBuffer: 1 << 30 });
    const expected = py.stdout.toString().trimEnd().split('\n');
    inputs.forEach((bytes, n) => {
      const whole = Buffer.concat([prefix, bytes]);
      for (let cut = prefix.length; cut <= whole.length; cut++) {
        const check = new Utf8Check();
        check.push(whole.subarray(0, cut));
        check.push(whole.subarray(cut, cut));
        check.push(whole.subarray(cut));
        expect({ bytes: bytes.toString('hex'), cut, result: check.end()?.message ?? 'OK' }).toEqual({ bytes: bytes.toString('hex'), cut, result: expected[n] });
      }
    });
  });
});

describe('ConsoleTally', () => {
  it('keeps of output in pieces its size, its UTF-8 failure, its start and its last line not blank', () => {
    const output = Buffer.concat([Buffer.from('cpio: Malformed number \x85\x01\n', 'latin1'), Buffer.from('x'.repeat(9000)), Buffer.from('\n  last one \xe9 \n \t\n\n', 'latin1')]);
    for (const cut of [1, 30, 4096, 9020, output.length - 3]) {
      const tally = new ConsoleTally();
      tally.push(output.subarray(0, cut));
      tally.push(output.subarray(cut));
      expect(tally.end()).toEqual({
        bytes: output.length,
        utf8Error: strictUtf8(output),
        lastLine: 'last one \\xe9',
        head: output.subarray(0, 4096).toString().trim(),
      });
    }
    expect(new ConsoleTally().end()).toEqual({ bytes: 0, head: '' });
  });
});
