/**
 * Lays out rows in aligned columns separated by two spaces: text columns
 * padded on the right, number columns (`right`) on the left. No trailing
 * spaces.
 */
export function formatTable(header: string[], rows: string[][], right: ReadonlySet<number> = new Set()): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => right.has(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))
      .join("  ").trimEnd() + "\n";
  return line(header) + rows.map(line).join("");
}
