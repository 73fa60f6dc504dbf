// Small text helpers for the browser's fixed-width panes.

/** "2026-12-01T03:15:22.741Z" → "2026-12-01 03:15:22Z". */
export function shortTime(iso: string | null | undefined): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}

/** Cuts `text` to `width` columns, marking the cut with "…" (at the end, or at the start for paths). */
export function fit(text: string, width: number, from: 'end' | 'start' = 'end'): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 1) return chars.slice(0, width).join('');
  return from === 'end'
    ? `${chars.slice(0, width - 1).join('')}…`
    : `…${chars.slice(chars.length - width + 1).join('')}`;
}

/** Pads or cuts to exactly `width` columns. */
export function cell(text: string, width: number): string {
  const cut = fit(text, width);
  return cut + ' '.repeat(Math.max(0, width - [...cut].length));
}

/** One line of a two-column details list: "size      6 B". */
export function field(name: string, value: string, width = 15): string {
  return `${name.padEnd(width - 1)} ${value}`;
}
