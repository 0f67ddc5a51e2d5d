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
});
