import { describe, expect, it } from 'vitest';
import { formatTable } from '../src/cli/table.js';

describe('formatTable', () => {
  it('aligns figures right and words left, each column as wide as its widest cell or heading', () => {
    const lines = formatTable(
      [{ heading: 'name', align: 'left' }, { heading: 'n', align: 'right' }, { heading: 'why', align: 'left' }],
      [['zstd', '12345', 'not a zstd frame'], ['gzip-long', '7', '']],
    );
    expect(lines).toEqual([
      'name           n  why',
      'zstd       12345  not a zstd frame',
      'gzip-long      7',
    ]);
  });

  it('gives the headings alone for no rows', () => {
    expect(formatTable([{ heading: 'a', align: 'left' }, { heading: 'bb', align: 'right' }], [])).toEqual(['a  bb']);
  });

  it('takes more rows than a call has room for arguments (du: one a directory)', () => {
    const rows = Array.from({ length: 300_000 }, (_, i) => [String(i)]);
    const lines = formatTable([{ heading: 'n', align: 'right' }], rows);
    expect(lines).toHaveLength(300_001);
    expect(lines[1]).toBe('     0');
  });
});
