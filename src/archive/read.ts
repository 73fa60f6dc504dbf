// Reading a generation's segment back: its blob (one ranged get), then its chunks, those that lie
// one after another in a pack fetched together (a segment written whole by one send is one
// request), each opened and checked against its name. Restore and the deep check both read this way.
import type { ArchiveStore } from '../stores/store.ts';
import { corrupt, openChunk } from './codec.ts';
import type { ArchiveKey } from './key.ts';
import { segmentLocation, segmentShape, type Manifest } from './manifest.ts';
import { fetchRange } from './pack.ts';
import { chunkLocation, fetchSegment, type SegmentBlob } from './segment.ts';

/** A run fetched with one request is at most this long. */
const RUN = 8 * 1024 * 1024;

export interface SegmentRead {
  /** each chunk's content, null for a chunk of zeros (or one that is damaged or missing, when tolerated) */
  chunks: (Buffer | null)[];
  bytesFetched: number;
}

export interface ReadOptions {
  store: ArchiveStore;
  key: ArchiveKey | null;
  manifest: Manifest;
  /** packs known to be missing: what is in them is not asked for, and is reported */
  missing?: Set<string>;
  /** when given, a damaged or missing chunk is reported here and read as zeros instead of ending the read */
  onDamaged?: (what: string) => void;
}

/** Runs of refs (by their positions in the segment) that lie one after another in one pack. */
function runs(blob: SegmentBlob): number[][] {
  const out: number[][] = [];
  let run: number[] = [];
  let end = -1;
  let pack = -1;
  let bytes = 0;
  blob.chunks.forEach((ref, j) => {
    if (!ref) return;
    if (run.length && (ref[1] !== pack || ref[2] !== end || bytes + ref[3] > RUN)) {
      out.push(run);
      run = [];
      bytes = 0;
    }
    run.push(j);
    pack = ref[1];
    end = ref[2] + ref[3];
    bytes += ref[3];
  });
  if (run.length) out.push(run);
  return out;
}

async function readRun(options: ReadOptions, blob: SegmentBlob, run: number[], out: SegmentRead): Promise<void> {
  const refs = run.map((j) => blob.chunks[j]!);
  const first = chunkLocation(blob, refs[0]!);
  const length = refs.reduce((sum, ref) => sum + ref[3], 0);
  if (options.onDamaged && options.missing?.has(first.pack)) {
    for (const ref of refs) options.onDamaged(`chunk ${ref[0]} (in the missing ${first.pack})`);
    return;
  }
  const bytes = await fetchRange(options.store, { ...first, length }, `chunk ${refs[0]![0].slice(0, 16)}…`);
  out.bytesFetched += bytes.length;
  for (const [k, ref] of refs.entries()) {
    const at = ref[2] - first.offset;
    try {
      out.chunks[run[k]!] = await openChunk(ref[0], bytes.subarray(at, at + ref[3]), options.key);
    } catch (error) {
      if (!options.onDamaged || (error as { code?: string }).code !== 'archive-corrupt') throw error;
      options.onDamaged(`chunk ${ref[0]}`);
    }
  }
}

/** Reads segment `i`: every chunk of it, checked. */
export async function readSegment(options: ReadOptions, i: number): Promise<SegmentRead> {
  const { manifest } = options;
  const shape = segmentShape(manifest, i);
  const out: SegmentRead = { chunks: Array.from({ length: shape.chunks }, () => null), bytesFetched: 0 };
  const location = segmentLocation(manifest, i);
  if (!location) return out;
  const name = manifest.segments[i]![0];
  if (options.missing?.has(location.pack) && options.onDamaged) {
    options.onDamaged(`segment ${name} (in the missing ${location.pack})`);
    return out;
  }
  let blob: SegmentBlob;
  try {
    blob = await fetchSegment(options.store, location, name, { key: options.key, chunks: shape.chunks });
  } catch (error) {
    if (!options.onDamaged || (error as { code?: string }).code !== 'archive-corrupt') throw error;
    options.onDamaged(`segment ${name}`);
    return out;
  }
  out.bytesFetched += location.length;
  for (const run of runs(blob)) await readRun(options, blob, run, out);
  out.chunks.forEach((data, j) => {
    const expected = Math.min(manifest.chunkSize, shape.length - j * manifest.chunkSize);
    if (data && data.length !== expected)
      throw corrupt(`chunk ${j} of segment ${i} of ${manifest.id}`, `it holds ${data.length} bytes, not ${expected}`);
  });
  return out;
}
