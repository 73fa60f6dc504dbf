// Byte ranges [start, end) of a volume or a file: what a provider reports as changed, where a file
// holds data, what a copy reads. Pure; shared by providers, the copy engine and the extent maps.

export interface ByteRange {
  start: number;
  /** exclusive */
  end: number;
}

/** The ranges sorted by start, with touching and overlapping ones merged (new objects; empty ones dropped). */
export function mergeRanges(ranges: ByteRange[]): ByteRange[] {
  const merged: ByteRange[] = [];
  for (const range of [...ranges].sort((a, b) => a.start - b.start)) {
    if (range.end <= range.start) continue;
    const last = merged.at(-1);
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** Whether [start, end) overlaps no data range (ranges sorted). */
export function isHole(ranges: ByteRange[], start: number, end: number): boolean {
  let low = 0;
  let high = ranges.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((ranges[mid] as ByteRange).end <= start) low = mid + 1;
    else high = mid;
  }
  const next = ranges[low];
  return next === undefined || next.start >= end;
}
