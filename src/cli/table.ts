/** How a column's cells line up: figures right, so that their digits do; words left. */
export type Align = 'left' | 'right';

export interface Column {
  heading: string;
  align: Align;
}

/** An archive's row, as examine and create print it: where it is, its format and what it holds. */
export const ARCHIVE_COLUMNS: readonly Column[] = [
  { heading: '#', align: 'right' },
  { heading: 'start', align: 'right' },
  { heading: 'end', align: 'right' },
  { heading: 'size', align: 'right' },
  { heading: 'format', align: 'left' },
  { heading: 'entries', align: 'right' },
  { heading: 'extracted', align: 'right' },
];

/**
 * The headings, then `rows`, as lines of text: each column as wide as its widest cell, two
 * spaces between columns, no blanks at the end of a line.
 */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const lines = [columns.map((c) => c.heading), ...rows];
  // Not Math.max(...cells): du's rows are one per directory, and a call's arguments live on the stack.
  const widths = columns.map((_, i) => lines.reduce((widest, cells) => Math.max(widest, cells[i].length), 0));
  return lines.map((cells) => formatRow(columns, widths, cells));
}

/** One line of a table whose columns are `widths` wide, as formatTable makes them. */
export function formatRow(columns: readonly Column[], widths: readonly number[], cells: readonly string[]): string {
  return cells
    .map((cell, i) => (columns[i].align === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
    .join('  ')
    .trimEnd();
}
