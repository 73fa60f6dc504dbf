// Where a file holds data, from its extent map (FIEMAP, read through e2fsprogs' `filefrag -v -b1`,
// which prints byte offsets). The copy engine skips the reads of whole chunks that lie in holes:
// Node has no lseek(SEEK_DATA), and reading a 2 GiB image that is 75 % holes was most of the
// difference to cp (docs/PERFORMANCE.md). The parser is tested against captured real output
// in fixtures/filefrag/.
import { mergeRanges, type ByteRange } from '../core/byte-range.ts';
import { tool } from './tools.ts';

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
  // filefrag's FIBMAP fallback prints a count but no extents: unknown, not "all hole".
  if (Number(summary[1]) > 0 && ranges.length === 0) return null;
  return mergeRanges(ranges);
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

// --- Extent maps with physical offsets: what changed between two reflink clones ---------------
//
// Two FICLONE clones of one volume share the physical blocks that were not rewritten between
// them (XFS and btrfs copy a shared block on write, never overwrite it in place). So where both
// clones map a logical byte to the same physical byte, its content is the same; anywhere else it
// may differ. Measured exact on XFS (fixtures/filefrag/xfs-pair-*/).

/** One extent of `filefrag -v -b1`, in bytes. */
export interface Extent {
  logical: number;
  physical: number;
  length: number;
  /** as filefrag prints them: last, shared, unwritten, unknown_loc, delalloc, encoded, inline, eof, ... */
  flags: string[];
}

export interface ExtentMap {
  sizeBytes: number;
  /** sorted by logical offset */
  extents: Extent[];
}

// "   2:  4194304.. 4206591:  336691200.. 336703487:  12288:  339836928: last,shared,eof"
// (the expected column is blank when the extent follows the previous one; the flags may be empty)
const EXTENT_LINE = /^\s*(\d+):\s*(\d+)\.\.\s*(\d+):\s*(\d+)\.\.\s*(\d+):\s*(\d+):(?:\s*(\d+):)?\s*([\w,]*)\s*$/;
const SIZE_LINE = /^File size of .* is (\d+) \(\d+ blocks? of 1 bytes?\)/;
const HEADER_LINE = /^\s*ext:\s+logical_offset:\s+physical_offset:\s+length:\s+expected:\s+flags:\s*$/;
const SUMMARY_LINE = /: (\d+) extents? found\s*$/;

/**
 * The extents of `filefrag -v -b1` output with their physical offsets; null when the output is
 * not understood (another block size, hex output, the FIBMAP fallback, anything unexpected).
 * The length is taken from the logical range: filefrag prints length 0 for unknown_loc extents.
 */
export function parseFilefragExtents(output: string): ExtentMap | null {
  let sizeBytes: number | null = null;
  let header = false;
  let summary: number | null = null;
  const extents: Extent[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '' || line.startsWith('Filesystem type is:')) continue;
    const size = SIZE_LINE.exec(line);
    if (size) {
      if (sizeBytes !== null) return null; // more than one file
      sizeBytes = Number(size[1]);
      continue;
    }
    if (HEADER_LINE.test(line)) {
      header = true;
      continue;
    }
    const found = SUMMARY_LINE.exec(line);
    if (found && summary === null) {
      summary = Number(found[1]);
      continue;
    }
    const match = EXTENT_LINE.exec(line);
    if (!match || !header || summary !== null) return null; // "Discontinuity:" (FIBMAP), errors, a second file
    const [start, last, physical] = [Number(match[2]), Number(match[3]), Number(match[4])];
    if (![start, last, physical].every(Number.isSafeInteger) || last < start) return null;
    const previous = extents.at(-1);
    if (previous && start < previous.logical + previous.length) return null; // not sorted, or overlapping
    extents.push({
      logical: start,
      physical,
      length: last - start + 1,
      flags: (match[8] ?? '').split(',').filter(Boolean),
    });
  }
  if (sizeBytes === null || !Number.isSafeInteger(sizeBytes) || summary === null) return null;
  if (summary > 0 && extents.length === 0) return null; // extents counted but not listed (FIBMAP)
  return { sizeBytes, extents };
}

/** The extent map of a regular file, or null when it cannot be known. */
export async function fileExtents(file: string): Promise<ExtentMap | null> {
  try {
    const result = await tool('filefrag', ['-v', '-b1', file]);
    return result.exitCode === 0 ? parseFilefragExtents(result.stdout) : null;
  } catch {
    return null;
  }
}

/**
 * Flags that say nothing about where the data is. Any other flag (unknown_loc, delalloc, inline,
 * encoded, not_aligned, tail_packed, encrypted, a hex value filefrag has no name for) makes the
 * extent's physical offset unusable for comparison: it counts as changed. `unwritten` is compared.
 */
const PLAIN_FLAGS = new Set(['last', 'shared', 'merged', 'eof', 'unwritten']);

function comparable(extent: Extent): boolean {
  return extent.flags.every((flag) => PLAIN_FLAGS.has(flag));
}

function sameData(a: Extent, b: Extent): boolean {
  return (
    comparable(a) &&
    comparable(b) &&
    a.physical - a.logical === b.physical - b.logical &&
    a.flags.includes('unwritten') === b.flags.includes('unwritten')
  );
}

/**
 * The byte ranges of [0, b.sizeBytes) whose content in B may differ from A, sorted and merged.
 * A byte counts as unchanged only when both maps have a hole there, or both map it to the same
 * physical byte with usable extents (see PLAIN_FLAGS) and both or neither unwritten. Bytes past
 * the end of A are changed. An over-approximation, never an under-approximation, as long as the
 * two maps describe files on one filesystem, read while neither file was being written.
 *
 * A sweep over the sorted boundaries of both maps: O((nA + nB) log(nA + nB)).
 */
export function changedRanges(a: ExtentMap, b: ExtentMap): ByteRange[] {
  const common = Math.min(a.sizeBytes, b.sizeBytes);
  interface Boundary {
    at: number;
    side: 0 | 1;
    extent: Extent;
    open: boolean;
  }
  const boundaries: Boundary[] = [];
  for (const [side, map] of [[0, a] as const, [1, b] as const]) {
    for (const extent of map.extents) {
      if (extent.length <= 0 || extent.logical >= common) continue;
      boundaries.push({ at: extent.logical, side, extent, open: true });
      boundaries.push({ at: Math.min(extent.logical + extent.length, common), side, extent, open: false });
    }
  }
  boundaries.sort((x, y) => x.at - y.at);

  const ranges: ByteRange[] = [];
  const add = (start: number, end: number): void => {
    if (end <= start) return;
    const last = ranges.at(-1);
    if (last && start <= last.end) last.end = Math.max(last.end, end);
    else ranges.push({ start, end });
  };

  // The extents covering the current position, per side: usually none or one; more than one
  // (overlapping extents, which filefrag does not print) counts as changed.
  const active: [Set<Extent>, Set<Extent>] = [new Set(), new Set()];
  let i = 0;
  while (i < boundaries.length) {
    const at = (boundaries[i] as Boundary).at;
    for (; i < boundaries.length && (boundaries[i] as Boundary).at === at; i++) {
      const boundary = boundaries[i] as Boundary;
      if (boundary.open) active[boundary.side].add(boundary.extent);
      else active[boundary.side].delete(boundary.extent);
    }
    const next = i < boundaries.length ? (boundaries[i] as Boundary).at : common;
    const [inA, inB] = active;
    if (inA.size === 0 && inB.size === 0) continue; // a hole in both
    if (inA.size === 1 && inB.size === 1) {
      const [ea] = inA;
      const [eb] = inB;
      if (sameData(ea as Extent, eb as Extent)) continue;
    }
    add(at, next);
  }
  add(a.sizeBytes, b.sizeBytes); // growth
  return ranges;
}
