// Byte ranges as the copy engine reads and writes them: widened to whole blocks, and merged as
// they are written.
import type { ByteRange } from '../core/byte-range.ts';

/** Byte ranges widened to whole blocks, merged, clipped to [from, sizeBytes). */
export function blockAligned(ranges: ByteRange[], blockSize: number, from: number, sizeBytes: number): ByteRange[] {
  const out: ByteRange[] = [];
  for (const range of [...ranges].sort((a, b) => a.start - b.start)) {
    const start = Math.max(from, Math.floor(range.start / blockSize) * blockSize);
    const end = Math.min(sizeBytes, Math.ceil(range.end / blockSize) * blockSize);
    if (start >= end) continue;
    const last = out.at(-1);
    if (last && start <= last.end) last.end = Math.max(last.end, end);
    else out.push({ start, end });
  }
  return out;
}

/** Merges [start, end) onto the end of a sorted list. */
export function extend(ranges: ByteRange[], start: number, end: number): void {
  const last = ranges.at(-1);
  if (last && last.end === start) last.end = end;
  else ranges.push({ start, end });
}
