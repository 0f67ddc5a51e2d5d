import { describe, expect, it } from 'vitest';
import { CpioParser, type CpioEvents } from '../src/cpio/parser.js';
import { escapeName, unescapeName } from '../src/cpio/names.js';
import { FormatError } from '../src/errors.js';
import { rng } from './support/data.js';
import { DIR, SYMLINK, newcArchive, newcEntry } from './support/newc.js';

interface Seen {
  names: string[];
  data: Map<string, Buffer>;
  trailers: number[];
}

function parse(input: Buffer, chunk = input.length): Seen & { consumed: number; parser: CpioParser } {
  const seen: Seen = { names: [], data: new Map(), trailers: [] };
  let current = '';
  const events: CpioEvents = {
    entry(e) {
      current = escapeName(e.name);
      seen.names.push(current + (e.linkTarget ? ` -> ${escapeName(e.linkTarget)}` : ''));
      seen.data.set(current, Buffer.alloc(0));
    },
    data(c) {
      seen.data.set(current, Buffer.concat([seen.data.get(current)!, c]));
    },
    entryEnd() {},
    trailer(_offset, end) {
      seen.trailers.push(end);
    },
  };
  const parser = new CpioParser(events);
  let consumed = 0;
  for (let i = 0; i < input.length; i += chunk) {
    const piece = input.subarray(i, Math.min(i + chunk, input.length));
    const used = parser.write(piece);
    consumed += used;
    if (used < piece.length) break;
  }
  return { ...seen, consumed, parser };
}

function failure(fn: () => unknown): FormatError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return err as FormatError;
  }
  throw new Error('expected a FormatError');
}

const sample = newcArchive([
  { name: '.', mode: DIR },
  { name: 'etc', mode: DIR },
  { name: 'etc/hello', data: 'hello world\n' },
  { name: 'bin', mode: SYMLINK, data: 'usr/bin' },
  { name: 'odd', data: Buffer.from([1, 2, 3]) },
]);

describe('cpio parser (the kernel grammar)', () => {
  it('reads entries, data and symlink targets', () => {
    const seen = parse(sample);
    expect(seen.names).toEqual(['.', 'etc', 'etc/hello', 'bin -> usr/bin', 'odd']);
    expect(seen.data.get('etc/hello')!.toString()).toBe('hello world\n');
    expect(seen.trailers).toEqual([sample.length]);
    expect(seen.consumed).toBe(sample.length);
  });

  it('gives the same result for every chunking, down to one byte at a time', () => {
    const whole = parse(sample);
    for (const size of [1, 3, 7, 110, 111, 512]) {
      const split = parse(sample, size);
      expect(split.names).toEqual(whole.names);
      expect(split.data).toEqual(whole.data);
      expect(split.trailers).toEqual(whole.trailers);
    }
  });

  it('skips zero padding between entries and reads several archives in one stream', () => {
    const two = Buffer.concat([sample, Buffer.alloc(512), newcArchive([{ name: 'second' }])]);
    const seen = parse(two);
    expect(seen.names.at(-1)).toBe('second');
    expect(seen.trailers).toHaveLength(2);
  });

  it('accepts a stream without trailer, as the kernel does', () => {
    const seen = parse(newcArchive([{ name: 'a', data: 'x' }], false));
    expect(seen.names).toEqual(['a']);
    seen.parser.end();
  });

  it('stops at a byte that cannot start an entry', () => {
    const junk = Buffer.concat([sample, Buffer.from([0x1f, 0x8b])]);
    expect(parse(junk).consumed).toBe(sample.length);
    const misalignedStart = Buffer.concat([Buffer.alloc(2), sample]);
    expect(parse(misalignedStart).consumed).toBe(2);
  });

  it('wants the padding after an entry to end 4-aligned (the kernel: "broken padding")', () => {
    const misaligned = Buffer.concat([sample, Buffer.alloc(2), newcArchive([{ name: 'x' }])]);
    const err = failure(() => parse(misaligned));
    expect(err.message).toMatch(/broken padding/);
    expect(err.offset).toBe(sample.length + 2);
  });

  it('keeps names as raw bytes', () => {
    const raw = Buffer.from([0x6e, 0x85, 0xff, 0x5c, 0x0a]);
    const seen = parse(newcArchive([{ name: raw }]));
    expect(seen.names).toEqual(['n\\x85\\xff\\\\\\x0a']);
    expect(unescapeName(seen.names[0])).toEqual(raw);
  });

  // A slice of Buffer's pool would keep its 8 KiB slab alive across the scavenges that some
  // hundreds of entries take, and a slab the young generation promotes stays until a full
  // collection: 4.8 MB of them by the end of an unpack of 300,150 hard links.
  it('copies each name and symlink target into slabs of 1 KiB, not into Buffer\'s pool of 8 KiB', () => {
    const kept: Buffer[] = [];
    const parser = new CpioParser({
      entry(e) {
        kept.push(e.name);
        if (e.linkTarget) kept.push(e.linkTarget);
      },
      data() {},
      entryEnd() {},
      trailer() {},
    });
    const long = 'x'.repeat(300);
    parser.write(newcArchive([{ name: 'etc', mode: DIR }, { name: 'etc/a', data: 'x' }, { name: 'bin', mode: SYMLINK, data: 'usr/bin' }, { name: long }, { name: long }, { name: long }, { name: long }]));
    expect(kept.map((b) => b.toString())).toEqual(['etc', 'etc/a', 'bin', 'usr/bin', long, long, long, long]);
    for (const b of kept) expect(b.buffer.byteLength).toBeLessThanOrEqual(1024);
    // Each in its own bytes.
    kept[0].fill(0x2e);
    expect(kept.slice(1).map((b) => b.toString())).toEqual(['etc/a', 'bin', 'usr/bin', long, long, long, long]);
  });

  it('verifies the 070702 data checksum', () => {
    expect(parse(newcArchive([{ name: 'ok', data: 'abc', magic: '070702' }])).names).toEqual(['ok']);
    const bad = newcArchive([{ name: 'bad', data: 'abc', magic: '070702', check: 1 }]);
    const err = failure(() => parse(bad));
    expect(err.message).toMatch(/bad data checksum/);
    expect(err.offset).toBe(102);
  });

  it('refuses non-hex fields with the offset of the bad digit', () => {
    const bad = Buffer.from(sample);
    bad[6 + 8 + 3] = 0x47; // 'G' in the mode field of the first header
    const err = failure(() => parse(bad));
    expect(err.message).toMatch(/mode field/);
    expect(err.offset).toBe(17);
  });

  it('refuses a name that is not NUL-terminated and out-of-range name sizes', () => {
    const noNul = newcEntry({ name: 'abc', namesize: 3 });
    expect(failure(() => parse(noNul)).message).toMatch(/NUL-terminated/);
    const huge = newcEntry({ name: 'abc', namesize: 0x10000 });
    expect(failure(() => parse(huge)).message).toMatch(/name size 65536/);
    const zero = newcEntry({ name: 'abc', namesize: 0 });
    expect(failure(() => parse(zero)).message).toMatch(/name size 0/);
  });

  it('refuses odc and other magics', () => {
    const odc = Buffer.from(sample);
    odc.write('070707', 0, 'latin1');
    expect(failure(() => parse(odc)).message).toMatch(/newc/);
  });

  it('reports truncation inside an entry at end()', () => {
    for (const cut of [50, 120, sample.length - 40]) {
      const seen = parse(sample.subarray(0, cut));
      expect(() => seen.parser.end()).toThrow(FormatError);
    }
  });

  it('handles file sizes near 4 GiB without overflow in the padding', () => {
    const claim = newcEntry({ name: 'big', filesize: 0xfffffffe });
    const seen = parse(claim);
    expect(seen.names).toEqual(['big']);
    expect(() => seen.parser.end()).toThrow(/truncated/);
  });
});

describe('name escaping', () => {
  it('round-trips every single byte and 2000 random byte strings', () => {
    for (let b = 0; b < 256; b++) expect(unescapeName(escapeName(Buffer.from([b])))).toEqual(Buffer.from([b]));
    const random = rng(2022);
    for (let round = 0; round < 2000; round++) {
      const len = Math.floor(random() * 12);
      const bytes = Buffer.from(Array.from({ length: len }, () => Math.floor(random() * 256)));
      expect(unescapeName(escapeName(bytes))).toEqual(bytes);
    }
    const utf8 = Buffer.from('usr/share/zoneinfo/Amérique/Zürich ✓');
    expect(escapeName(utf8)).toBe('usr/share/zoneinfo/Amérique/Zürich ✓');
    // A right-to-left override would make "evil\u202egpj.exe" print as "evilexe.jpg".
    expect(escapeName(Buffer.from('evil\u202egpj.exe'))).toBe('evil\\xe2\\x80\\xaegpj.exe');
  });

  it('shows a byte as itself only when it is printable ASCII and not a backslash, Buffer or not', () => {
    for (let b = 0; b < 256; b++) {
      const alone = b === 0x5c ? '\\\\' : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
      expect(escapeName(Buffer.from([0x61, b, 0x7a]))).toBe(`a${alone}z`);
      expect(escapeName(new Uint8Array([0x61, b, 0x7a]))).toBe(`a${alone}z`);
    }
  });
});
