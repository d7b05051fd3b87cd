import { Palette, Style, stripAnsi } from './ansi';
import { truncate } from './text';

export interface Column<T> {
  header: string;
  /** The cell's plain text. */
  value(row: T): string;
  /** Styles for the cell (applied after padding so alignment ignores escapes). */
  style?(row: T): Style[];
  align?: 'left' | 'right';
  /** Cut longer cells to this many characters. */
  max?: number;
}

/**
 * Renders rows as aligned columns separated by two spaces, with a dim header line. Widths
 * are measured on the plain text, so colours never break the alignment. The last column is
 * not padded (no trailing spaces).
 */
export function renderTable<T>(columns: Column<T>[], rows: T[], p: Palette): string[] {
  const cells = rows.map((r) => columns.map((c) => truncate(stripAnsi(c.value(r)), c.max ?? Infinity)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => width(row[i]))));
  const line = (texts: string[], styles: (Style[] | undefined)[]) =>
    texts
      .map((t, i) => {
        const last = i === texts.length - 1;
        const pad = ' '.repeat(Math.max(0, widths[i] - width(t)));
        const padded = columns[i].align === 'right' ? pad + t : last ? t : t + pad;
        const s = styles[i];
        return s?.length ? (columns[i].align === 'right' ? pad + p.style(t, ...s) : p.style(t, ...s) + (last ? '' : pad)) : padded;
      })
      .join('  ');
  return [
    line(columns.map((c) => c.header), columns.map(() => ['bold', 'dim'] as Style[])),
    ...rows.map((r, ri) => line(cells[ri], columns.map((c) => c.style?.(r)))),
  ];
}

/** Columns a string takes in a terminal (code points; wide CJK characters are rare here). */
function width(s: string): number {
  return [...s].length;
}
