import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeName } from '../src/extract/paths.js';

/** The rule, spelled out: components split at '/', empty and '.' ones dropped, any '..' refused. */
function byTheRule(name: Buffer): Buffer | undefined {
  const components = name.toString('latin1').split('/');
  if (components.includes('..')) return undefined;
  return Buffer.from(components.filter((c) => c !== '' && c !== '.').join('/'), 'latin1');
}

const names = fc
  .array(fc.constantFrom('/', '.', '..', 'a', 'bc', '\xe9', '\xff', '...'), { maxLength: 12 })
  .map((pieces) => Buffer.from(pieces.join(''), 'latin1'));

describe('normalizeName', () => {
  it('gives the name as the rule does: relative, single slashes, no . or .. components', () => {
    fc.assert(
      fc.property(names, (name) => {
        const got = normalizeName(name);
        const want = byTheRule(name);
        if (want === undefined) {
          expect(got).toEqual({ ok: false, reason: "the name has a '..' component" });
          return;
        }
        expect(got.ok).toBe(true);
        if (!got.ok) return;
        expect(got.rel.toString('latin1')).toBe(want.toString('latin1'));
        expect(got.depth).toBe(want.length === 0 ? 0 : want.toString('latin1').split('/').length);
        expect(got.strippedAbsolute).toBe(name[0] === 0x2f);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it('returns a name already in that form as a view of itself, with its leading slashes cut', () => {
    for (const [text, start] of [['usr/lib/modules/6.1.0/kernel', 0], ['//etc/fstab', 2], ['a', 0]] as const) {
      const name = Buffer.from(text);
      const got = normalizeName(name);
      if (!got.ok) throw new Error(`refused ${text}`);
      expect(got.rel.buffer).toBe(name.buffer);
      expect(got.rel.byteOffset).toBe(name.byteOffset + start);
    }
    const copied = normalizeName(Buffer.from('usr//lib/./x/'));
    expect(copied.ok && copied.rel.toString()).toBe('usr/lib/x');
  });
});
