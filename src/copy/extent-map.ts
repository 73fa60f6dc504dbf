// Where a file holds data, from its extent map (FIEMAP, read through e2fsprogs' `filefrag -v -b1`,
// which prints byte offsets). The copy engine skips the reads of whole chunks that lie in holes:
// Node has no lseek(SEEK_DATA), and reading a 2 GiB image that is 75 % holes was most of the
// difference to cp (docs/PERFORMANCE.md). The parser is tested against captured real output
// in fixtures/filefrag/.
import { tool } from '../system/tools.ts';

export interface ByteRange {
  start: number;
  /** exclusive */
  end: number;
}

/** The logical byte ranges of the extents `filefrag -v -b1` lists, sorted and merged; null when the output is not understood. */
export function parseFilefrag(output: string): ByteRange[] | null {
  const lines = output.split('\n');
  if (!lines.some((line) => /^File size of .* is \d+ \(\d+ blocks? of 1 bytes?\)/.test(line))) return null;
  const ranges: ByteRange[] = [];
  for (const line of lines) {
    const match = /^\s*\d+:\s*(\d+)\.\.\s*(\d+):/.exec(line);
    if (match) ranges.push({ start: Number(match[1]), end: Number(match[2]) + 1 });
  }
  const summary = /: (\d+) extents? found\s*$/m.exec(output);
  if (!summary) return null;
  ranges.sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** The data ranges of a regular file, or null when they cannot be known (then everything is read). */
export async function dataRanges(file: string): Promise<ByteRange[] | null> {
  try {
    const result = await tool('filefrag', ['-v', '-b1', file]);
    return result.exitCode === 0 ? parseFilefrag(result.stdout) : null;
  } catch {
    return null;
  }
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
